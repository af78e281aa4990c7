"""Pretrained weights: every published layout loads, loudly and safely.

Checkpoints are built here from a freshly made model, in each layout the
authors, Lightning, timm and mmdet write.
"""
from pathlib import Path

import pytest
import torch
from malicious import CreatesFile
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from safetensors.torch import save_file
from tool_runner import (MASK_DEMO, ROOT, TOOLS, describe, run_tool,
                         tiny_shapes_options)

import mmdet_fasternet  # noqa: F401
from mmdet_fasternet import FasterNet
from mmdet_fasternet.errors import CheckpointError
from mmdet_fasternet.models.pretrained import load_pretrained, official_to_timm

HEAD = ('avgpool_pre_head.1.weight', 'head.weight', 'head.bias')


def imagenet_state_dict(arch='t0', seed=0):
    """What the authors' ImageNet .pth holds: no output norms, a cls head."""
    torch.manual_seed(seed)
    model = FasterNet(arch=arch)
    sd = {
        k: (torch.randn_like(v) if v.is_floating_point() else v + 7)
        for k, v in model.state_dict().items() if not k.startswith('norm')
    }
    c8 = model.out_channels[-1]
    sd[HEAD[0]] = torch.randn(1280, c8, 1, 1)
    sd[HEAD[1]] = torch.randn(1000, 1280)
    sd[HEAD[2]] = torch.randn(1000)
    return sd


def assert_backbone_equals(model, sd):
    own = model.state_dict()
    shared = [k for k in sd if k in own]
    assert len(shared) == len(own) - 20  # all but the 4 output norms
    for key in shared:
        assert torch.equal(own[key], sd[key]), key


def pretrained(path, **kwargs):
    model = FasterNet(
        arch='t0',
        init_cfg=dict(type='Pretrained', checkpoint=str(path)),
        **kwargs)
    model.init_weights()
    return model


def test_official_imagenet_pth(tmp_path):
    sd = imagenet_state_dict()
    torch.save(sd, tmp_path / 'official.pth')
    model = FasterNet(arch='t0')
    report = load_pretrained(model, str(tmp_path / 'official.pth'))
    assert_backbone_equals(model, sd)
    assert report.loaded == len(sd) - 3
    assert sorted({k.split('.')[0]
                   for k in report.missing
                   }) == ['norm0', 'norm2', 'norm4', 'norm6']
    assert sorted(report.ignored) == sorted(HEAD)
    text = str(report)
    assert 'FasterNet-T0' in text and 'norm0.* (5)' in text
    assert 'head.* (2)' in text


def test_init_cfg_pretrained_goes_through_the_loader(tmp_path):
    sd = imagenet_state_dict()
    torch.save(sd, tmp_path / 'official.pth')
    assert_backbone_equals(pretrained(tmp_path / 'official.pth'), sd)


def test_lightning_ckpt(tmp_path):
    sd = imagenet_state_dict()
    torch.save(
        {
            'epoch': 3,
            'state_dict': {
                f'model.{k}': v
                for k, v in sd.items()
            }
        }, tmp_path / 'last.ckpt')
    assert_backbone_equals(pretrained(tmp_path / 'last.ckpt'), sd)


@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
def test_timm_layout(tmp_path, fmt):
    sd = imagenet_state_dict()
    timm_sd = official_to_timm(sd)
    assert 'stages.1.downsample.reduction.weight' in timm_sd
    assert 'stages.3.blocks.1.mlp.0.weight' in timm_sd
    assert 'conv_head.weight' in timm_sd and 'classifier.bias' in timm_sd
    path = tmp_path / f'timm.{fmt}'
    if fmt == 'pth':
        torch.save(timm_sd, path)
    else:
        save_file({k: v.contiguous() for k, v in timm_sd.items()}, path)
    report = load_pretrained(FasterNet(arch='t0'), str(path))
    assert 'timm' in report.kind
    assert_backbone_equals(pretrained(path), sd)


@pytest.mark.parametrize('mmdet_version', ['2.25.0', '3.3.0'])
def test_whole_detector_checkpoint(tmp_path, mmdet_version):
    sd = imagenet_state_dict()
    detector = {f'backbone.{k}': v for k, v in sd.items() if k not in HEAD}
    detector['neck.lateral_convs.0.conv.weight'] = torch.randn(256, 40, 1, 1)
    detector['rpn_head.rpn_conv.weight'] = torch.randn(256, 256, 3, 3)
    ckpt = dict(
        meta=dict(mmdet_version=mmdet_version, epoch=12), state_dict=detector)
    if mmdet_version.startswith('3'):  # mmengine also saves its message hub
        hub = MessageHub.get_instance('detector_ckpt')
        hub.update_scalar('train/loss', 0.5)
        ckpt['message_hub'] = hub.state_dict()
    torch.save(ckpt, tmp_path / 'detector.pth')
    model = FasterNet(arch='t0', out_indices=(1, 2, 3))
    report = load_pretrained(model, str(tmp_path / 'detector.pth'))
    assert 'whole detector' in report.kind
    for key, value in model.state_dict().items():
        if not key.startswith('norm'):
            assert torch.equal(value, sd[key]), key


@pytest.mark.parametrize('to,fmt', [('official', 'pth'),
                                    ('timm', 'safetensors'),
                                    ('official', 'safetensors')])
def test_converter_output_loads(tmp_path, to, fmt):
    sd = imagenet_state_dict()
    torch.save({'state_dict': {
        f'model.{k}': v
        for k, v in sd.items()
    }}, tmp_path / 'a.ckpt')
    dst = tmp_path / f'out.{fmt}'
    result = run_tool([
        TOOLS / 'convert_checkpoint.py', tmp_path / 'a.ckpt', dst, '--to', to
    ], tmp_path)
    assert result.returncode == 0, describe(result)
    assert f'{len(sd)} tensors, {to} layout, {fmt}' in result.stdout
    assert "FasterNet-T0 (arch='t0')" in result.stdout
    assert_backbone_equals(pretrained(dst), sd)


def test_converter_round_trip_is_identical(tmp_path):
    sd = imagenet_state_dict()
    torch.save(sd, tmp_path / 'official.pth')
    steps = [('official.pth', 'timm.safetensors', 'timm'),
             ('timm.safetensors', 'back.pth', 'official')]
    for src, dst, to in steps:
        result = run_tool([
            TOOLS / 'convert_checkpoint.py', tmp_path / src, tmp_path / dst,
            '--to', to
        ], tmp_path)
        assert result.returncode == 0, describe(result)
    back = torch.load(tmp_path / 'back.pth', weights_only=True)
    assert sorted(back) == sorted(sd)  # safetensors keeps no key order
    for key in sd:
        assert back[key].dtype == sd[key].dtype, key
        assert torch.equal(back[key], sd[key]), key


def test_converter_refuses_to_overwrite(tmp_path):
    torch.save(imagenet_state_dict(), tmp_path / 'official.pth')
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'precious')
    cmd = [TOOLS / 'convert_checkpoint.py', tmp_path / 'official.pth', dst]
    result = run_tool(cmd, tmp_path)
    assert result.returncode == 1 and '--force' in result.stderr
    assert dst.read_bytes() == b'precious'
    result = run_tool(cmd + ['--force'], tmp_path)
    assert result.returncode == 0, describe(result)
    assert len(torch.load(dst, weights_only=True)) == 131


def test_wrong_variant_names_key_shapes_and_variant(tmp_path):
    torch.save(imagenet_state_dict('t1'), tmp_path / 't1.pth')
    with pytest.raises(CheckpointError) as info:
        pretrained(tmp_path / 't1.pth')
    message = str(info.value)
    assert 'patch_embed.proj.weight is [64, 3, 4, 4] in the checkpoint but ' \
        '[40, 3, 4, 4] in the model' in message
    assert "looks like FasterNet-T1 (arch='t1')" in message


def test_same_width_other_depth_is_an_error(tmp_path):
    deeper = FasterNet(
        arch=dict(
            embed_dim=40, depths=(1, 2, 9, 2), act_cfg=dict(type='GELU')))
    torch.save(deeper.state_dict(), tmp_path / 'deeper.pth')
    with pytest.raises(
            CheckpointError,
            match=r"unexpected \['stages.4"
            r".blocks.8.*depths=\[1, 2, 9, 2\]"):
        pretrained(tmp_path / 'deeper.pth')


def test_missing_block_is_an_error(tmp_path):
    sd = imagenet_state_dict()
    del sd['stages.4.blocks.3.mlp.0.weight']
    torch.save(sd, tmp_path / 'partial.pth')
    with pytest.raises(
            CheckpointError,
            match=r"missing \['stages.4.blocks.3.mlp.0.weight'\]"):
        pretrained(tmp_path / 'partial.pth')


def test_distillation_teacher_does_not_hide_the_student(tmp_path):
    """The authors' Lightning module may also store a teacher model."""
    sd = imagenet_state_dict()
    ckpt = {f'model.{k}': v for k, v in sd.items()}
    ckpt['criterion.teacher_model.fc.weight'] = torch.randn(10, 10)
    torch.save({'state_dict': ckpt}, tmp_path / 'distilled.ckpt')
    assert_backbone_equals(pretrained(tmp_path / 'distilled.ckpt'), sd)


def test_file_without_fasternet_weights(tmp_path):
    torch.save({'fc.weight': torch.randn(3, 3)}, tmp_path / 'other.pth')
    with pytest.raises(
            CheckpointError, match='no FasterNet weights.*fc.weight'):
        pretrained(tmp_path / 'other.pth')


def test_missing_or_unreadable_file_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match='does not exist'):
        pretrained(tmp_path / 'nope.pth')
    (tmp_path / 'bad.pth').write_bytes(b'not a checkpoint at all')
    with pytest.raises(CheckpointError, match='it is a text file'):
        pretrained(tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match='needs a checkpoint'):
        FasterNet(arch='t0', init_cfg=dict(type='Pretrained')).init_weights()
    mixed = [
        dict(type='Pretrained', checkpoint=str(tmp_path / 'x.pth')),
        dict(type='Kaiming', layer='Conv2d')
    ]
    with pytest.raises(CheckpointError, match='give the Pretrained dict'):
        FasterNet(arch='t0', init_cfg=mixed).init_weights()


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / 'pwned'
    sd = imagenet_state_dict()
    torch.save({
        'state_dict': sd,
        'extra': CreatesFile(target)
    }, tmp_path / 'evil.pth')
    with pytest.raises(CheckpointError, match='refusing to load'):
        pretrained(tmp_path / 'evil.pth')
    assert not target.exists()


def test_url_is_downloaded_once_then_cached(http_root, tmp_path):
    root, base, requests = http_root
    sd = imagenet_state_dict()
    torch.save(sd, root / 'fasternet_t0.pth')
    url = f'{base}/fasternet_t0.pth'
    assert_backbone_equals(pretrained(url), sd)
    assert requests == ['/fasternet_t0.pth']
    cached = Path(tmp_path / 'torch_home' / 'hub' / 'checkpoints' /
                  'fasternet_t0.pth')
    assert cached.is_file()
    assert_backbone_equals(pretrained(url), sd)
    assert requests == ['/fasternet_t0.pth']  # no second GET


def test_url_404_is_a_clear_error(http_root):
    _, base, _ = http_root
    with pytest.raises(
            CheckpointError,
            match=r'cannot fetch checkpoint .*missing.pth.*404'):
        pretrained(f'{base}/missing.pth')


MASK_HEAD_KEYS = [
    'neck.lateral_convs.{i}.conv.weight', 'neck.lateral_convs.{i}.conv.bias',
    'neck.fpn_convs.{i}.conv.weight', 'neck.fpn_convs.{i}.conv.bias'
]
MMDET2_MASK_RCNN_KEYS = [
    'rpn_head.rpn_conv.weight', 'rpn_head.rpn_conv.bias',
    'rpn_head.rpn_cls.weight', 'rpn_head.rpn_cls.bias',
    'rpn_head.rpn_reg.weight', 'rpn_head.rpn_reg.bias',
    'roi_head.bbox_head.fc_cls.weight', 'roi_head.bbox_head.fc_cls.bias',
    'roi_head.bbox_head.fc_reg.weight', 'roi_head.bbox_head.fc_reg.bias',
    'roi_head.bbox_head.shared_fcs.0.weight',
    'roi_head.bbox_head.shared_fcs.0.bias',
    'roi_head.bbox_head.shared_fcs.1.weight',
    'roi_head.bbox_head.shared_fcs.1.bias',
    'roi_head.mask_head.convs.0.conv.weight',
    'roi_head.mask_head.convs.0.conv.bias',
    'roi_head.mask_head.convs.1.conv.weight',
    'roi_head.mask_head.convs.1.conv.bias',
    'roi_head.mask_head.convs.2.conv.weight',
    'roi_head.mask_head.convs.2.conv.bias',
    'roi_head.mask_head.convs.3.conv.weight',
    'roi_head.mask_head.convs.3.conv.bias',
    'roi_head.mask_head.upsample.weight', 'roi_head.mask_head.upsample.bias',
    'roi_head.mask_head.conv_logits.weight',
    'roi_head.mask_head.conv_logits.bias'
]


@pytest.mark.parametrize('arch', ['s', 'm', 'l'])
def test_authors_mmdet2_mask_rcnn_checkpoint_loads(tmp_path, arch):
    """load_from= the authors' COCO release layout: no missing or
    unexpected keys (mmdet 2.25 key names, written out here)."""
    from fasternet_reference import official_keys
    cfg = Config.fromfile(
        str(ROOT / 'configs' / f'mask_rcnn_fasternet_{arch}.py'))
    model = MODELS.build(cfg.model)
    depths = model.backbone.arch_settings['depths']
    expected = {f'backbone.{k}' for k in official_keys(depths)}
    expected |= {k.format(i=i) for k in MASK_HEAD_KEYS for i in range(4)}
    expected |= set(MMDET2_MASK_RCNN_KEYS)
    assert set(model.state_dict()) == expected
    torch.manual_seed(1)
    authors = {
        k: torch.randn_like(v) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    path = tmp_path / f'mask_rcnn_fasternet_{arch}_fpn_1x_coco.pth'
    torch.save(
        dict(
            meta=dict(mmdet_version='2.25.0', CLASSES=('person', ) * 80),
            state_dict=authors), path)
    fresh = MODELS.build(cfg.model)
    load_checkpoint(fresh, str(path), map_location='cpu', strict=True)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, authors[key]), key


def test_configured_checkpoint_that_cannot_be_read_stops_training(tmp_path):
    """Never a silent start from scratch."""
    result = run_tool([
        TOOLS / 'train.py', MASK_DEMO, '--work-dir', tmp_path / 'work',
        '--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
        f'model.backbone.init_cfg.checkpoint={tmp_path / "nope.pth"}'
    ] + tiny_shapes_options(tmp_path / 'data'), tmp_path)
    assert result.returncode == 1, describe(result)
    assert f"error: checkpoint '{tmp_path / 'nope.pth'}' does not exist" \
        in result.stderr
    assert not (tmp_path / 'work' / 'epoch_1.pth').exists()


def test_mmengine_url_loading_is_weights_only(http_root, tmp_path):
    """load_from=URL and tools/test.py URL go through mmengine's loader."""
    from mmengine.runner.checkpoint import CheckpointLoader
    root, base, _ = http_root
    sd = imagenet_state_dict()
    torch.save({'state_dict': sd}, root / 'good.pth')
    loaded = CheckpointLoader.load_checkpoint(f'{base}/good.pth')
    assert torch.equal(loaded['state_dict']['head.bias'], sd['head.bias'])
    target = tmp_path / 'pwned'
    torch.save({'x': CreatesFile(target)}, root / 'evil.pth')
    with pytest.raises(CheckpointError, match='refusing to load'):
        CheckpointLoader.load_checkpoint(f'{base}/evil.pth')
    assert not target.exists()


def test_mmengine_model_zoo_schemes_use_the_safe_loader():
    """open-mmlab://, torchvision:// ... call mmengine's load_from_http."""
    import mmengine.runner.checkpoint as mmengine_checkpoint

    from mmdet_fasternet.safe_loading import load_from_http_weights_only
    assert mmengine_checkpoint.load_from_http is load_from_http_weights_only
