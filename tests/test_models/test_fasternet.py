import copy

import pytest
import torch
from fasternet_reference import official_keys, reference_forward
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_fasternet import ARCH_SETTINGS, FasterNet
from mmdet_fasternet.errors import ConfigError
from mmdet_fasternet.models.fasternet import FasterNetBlock

# Parameters with all four output norms, from the issue (millions, 2 d.p.).
PUBLISHED_PARAMS_M = dict(
    t0=2.22, t1=5.66, t2=12.72, s=28.59, m=50.77, l=90.22)


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


def projected_loss(outs):
    """A loss whose gradient does not vanish through train-mode BN."""
    g = torch.Generator().manual_seed(0)
    return sum((o * torch.randn(o.shape, generator=g)).sum() for o in outs)


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
@pytest.mark.parametrize('hw', [(32, 32), (67, 45)])
def test_output_shapes_every_variant(arch, hw):
    model = FasterNet(arch=arch).eval()
    c = ARCH_SETTINGS[arch]['embed_dim']
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    assert len(outs) == 4
    for i, out in enumerate(outs):
        stride = 4 * 2**i
        assert out.shape == (1, c * 2**i, hw[0] // stride, hw[1] // stride)
    assert model.out_channels == [c, 2 * c, 4 * c, 8 * c]


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_state_dict_keys_follow_official_layout(arch):
    model = FasterNet(arch=arch)
    depths = ARCH_SETTINGS[arch]['depths']
    assert list(model.state_dict()) == official_keys(depths)


def test_state_dict_shapes_follow_official_layout():
    c = 40
    sd = FasterNet(arch='t0').state_dict()
    assert sd['patch_embed.proj.weight'].shape == (c, 3, 4, 4)
    assert sd['stages.0.blocks.0.spatial_mixing.partial_conv3.weight'].shape \
        == (c // 4, c // 4, 3, 3)
    assert sd['stages.0.blocks.0.mlp.0.weight'].shape == (2 * c, c, 1, 1)
    assert sd['stages.0.blocks.0.mlp.3.weight'].shape == (c, 2 * c, 1, 1)
    assert sd['stages.1.reduction.weight'].shape == (2 * c, c, 2, 2)
    assert sd['stages.5.reduction.weight'].shape == (8 * c, 4 * c, 2, 2)
    assert sd['norm6.weight'].shape == (8 * c, )


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_parameter_counts(arch):
    n = sum(p.numel() for p in FasterNet(arch=arch).parameters())
    assert round(n / 1e6, 2) == PUBLISHED_PARAMS_M[arch]


@pytest.mark.parametrize('arch,out_indices', [('t0', (0, 1, 2, 3)),
                                              ('t1', (1, 2, 3)),
                                              ('t2', (0, 2))])
def test_outputs_match_functional_reference(arch, out_indices):
    torch.manual_seed(0)
    model = FasterNet(arch=arch, out_indices=out_indices)
    model.init_weights()
    randomize_bn(model)
    model.eval()
    x = torch.randn(2, 3, 70, 97)
    settings = ARCH_SETTINGS[arch]
    with torch.no_grad():
        outs = model(x)
        expected = reference_forward(model.state_dict(), x, settings['depths'],
                                     settings['act_cfg']['type'], out_indices)
    assert len(outs) == len(expected) == len(out_indices)
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_custom_arch_dict_matches_reference():
    arch = dict(
        embed_dim=16, depths=[1, 1, 2, 1], act_cfg=dict(type='ReLU'), n_div=2)
    model = FasterNet(arch=arch)
    randomize_bn(model)
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        outs = model(x)
        expected = reference_forward(
            model.state_dict(),
            x,
            arch['depths'],
            'ReLU', (0, 1, 2, 3),
            n_div=2)
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    pconv = model.stages[0].blocks[0].spatial_mixing.partial_conv3
    assert pconv.weight.shape == (8, 8, 3, 3)


def test_training_does_not_change_the_shortcut_input():
    """PConv writes none of its block's input, which is also the block's
    shortcut (nor the image)."""
    model = FasterNet(arch='t0', drop_path_rate=0.0).train()
    blocks = [m for m in model.modules() if isinstance(m, FasterNetBlock)]
    inputs, changed = {}, []

    def keep_input(block, args):
        inputs[block] = args[0].clone()

    def compare_input(block, args, output):
        changed.append(not torch.equal(args[0], inputs[block]))

    for block in blocks:
        block.register_forward_pre_hook(keep_input)
        block.register_forward_hook(compare_input)
    x = torch.randn(2, 3, 64, 64)
    x_before = x.clone()
    model(x)
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    assert len(changed) == len(blocks) == sum(ARCH_SETTINGS['t0']['depths'])
    assert not any(changed)


def test_registered_in_mmdet_models():
    model = MODELS.build(dict(type='FasterNet', arch='s'))
    assert isinstance(model, FasterNet)
    assert model.arch_settings['embed_dim'] == 128


@pytest.mark.parametrize('arch,rate', [('t0', 0.0), ('t1', 0.02), ('t2', 0.05),
                                       ('s', 0.15), ('m', 0.2), ('l', 0.3)])
def test_default_drop_path_follows_published_recipe(arch, rate):
    model = FasterNet(arch=arch)
    drops = [m.drop_prob for m in model.modules() if hasattr(m, 'drop_prob')]
    depth = sum(ARCH_SETTINGS[arch]['depths'])
    if rate == 0:
        assert drops == []
    else:
        assert len(drops) == depth - 1  # the first block has rate 0
        assert drops[-1] == pytest.approx(rate)


def test_subset_of_outputs_builds_only_what_is_used():
    model = FasterNet(arch='t0', out_indices=(1, 2, 3))
    keys = model.state_dict().keys()
    assert not any(k.startswith('norm0.') for k in keys)
    assert list(keys) == official_keys((1, 2, 8, 2), (1, 2, 3))
    outs = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [80, 160, 320]
    projected_loss(outs).backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == []

    shallow = FasterNet(arch='t0', out_indices=(0, 1)).eval()
    assert len(shallow.stages) == 3
    assert shallow.min_input_size == 8
    assert [o.shape
            for o in shallow(torch.randn(1, 3, 8, 8))] == [(1, 40, 2, 2),
                                                           (1, 80, 1, 1)]


def test_int_out_index_and_stage_order():
    assert FasterNet(arch='t0', out_indices=2).out_indices == (2, )
    assert FasterNet(arch='t0', out_indices=[3, 1]).out_indices == (1, 3)


def _bn_modes(module):
    return [m.training for m in module.modules() if isinstance(m, _BatchNorm)]


def _requires_grad(module):
    return [p.requires_grad for p in module.parameters()]


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3, 4])
def test_frozen_stages(frozen_stages):
    model = FasterNet(arch='t0', frozen_stages=frozen_stages)
    model.train()
    frozen = [model.patch_embed] if frozen_stages >= 0 else []
    for i in range(max(frozen_stages, 0)):
        frozen.append(model.stages[2 * i])
        frozen.append(getattr(model, f'norm{2 * i}'))
        if i > 0:
            frozen.append(model.stages[2 * i - 1])
    frozen_ids = {id(p) for m in frozen for p in m.parameters()}
    for m in frozen:
        assert not any(_requires_grad(m))
        assert not any(_bn_modes(m))
    for name, p in model.named_parameters():
        assert p.requires_grad == (id(p) not in frozen_ids), name
    trainable_bns = [
        m for name, m in model.named_modules()
        if isinstance(m, _BatchNorm) and not any(
            m is f or any(m is s for s in f.modules()) for f in frozen)
    ]
    assert all(m.training for m in trainable_bns)
    assert len(trainable_bns) + sum(len(_bn_modes(m)) for m in frozen) == \
        len(_bn_modes(model))


def test_frozen_stage_weights_do_not_change_in_training():
    model = FasterNet(arch='t0', frozen_stages=2)
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.1)
    model.train()
    projected_loss(model(torch.randn(2, 3, 64, 64))).backward()
    opt.step()
    after = model.state_dict()
    for key in before:
        frozen = key.startswith(('patch_embed.', 'stages.0.', 'stages.1.',
                                 'stages.2.', 'norm0.', 'norm2.'))
        assert torch.equal(before[key], after[key]) == frozen, key


def test_norm_eval_keeps_every_bn_in_eval_mode():
    model = FasterNet(arch='t0', norm_eval=True)
    model.train()
    assert not any(_bn_modes(model))
    assert all(_requires_grad(model))
    before = model.norm6.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(model.norm6.running_mean, before)
    model.eval()
    model.train(False)
    assert not any(_bn_modes(model))


@pytest.mark.parametrize('drop_path_rate', [0.0, 0.2])
def test_with_cp_gives_same_gradients_and_bn_statistics(drop_path_rate):
    torch.manual_seed(0)
    plain = FasterNet(arch='t0', drop_path_rate=drop_path_rate)
    ckpt = FasterNet(arch='t0', drop_path_rate=drop_path_rate, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    grads = []
    for model in (plain, ckpt):
        model.train()
        x.grad = None
        torch.manual_seed(1)
        projected_loss(model(x)).backward()
        grads.append((x.grad.clone(), {
            n: p.grad.clone()
            for n, p in model.named_parameters()
        }))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    assert grads[0][1].keys() == grads[1][1].keys()
    for name in grads[0][1]:
        torch.testing.assert_close(
            grads[0][1][name], grads[1][1][name], msg=name)
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(value, ckpt.state_dict()[key], msg=key)


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='x1'), r"unknown arch 'x1'.*'t0'"),
    (dict(arch=42), 'arch must be a variant name or a dict'),
    (dict(arch=dict(embed_dim=32, act_cfg=dict(type='ReLU'))),
     r"missing key\(s\) \['depths'\]"),
    (dict(
        arch=dict(
            embed_dim=32,
            depths=(1, 1, 1, 1),
            act_cfg=dict(type='ReLU'),
            width=3)), r"unknown key\(s\) \['width'\]"),
    (dict(
        arch=dict(embed_dim=32, depths=(1, 1, 1), act_cfg=dict(type='ReLU'))),
     'depths must be 4 positive ints'),
    (dict(
        arch=dict(embed_dim=2, depths=(1, 1, 1, 1), act_cfg=dict(
            type='ReLU'))), r'embed_dim must be an int >= n_div \(4\), got 2'),
    (dict(out_indices=()), 'out_indices must be a non-empty sequence'),
    (dict(out_indices=(1, 1)), 'has duplicates'),
    (dict(out_indices=(0, 4)), '4 in'),
    (dict(out_indices=(-1, )), '-1 in'),
    (dict(out_indices='0123'), "got '0123'"),
    (dict(frozen_stages=5), r'frozen_stages must be an int in -1..4, got 5'),
    (dict(frozen_stages=-2), 'got -2'),
    (dict(in_channels=0), 'in_channels must be an int >= 1, got 0'),
    (dict(drop_path_rate=1.5), 'drop_path_rate must be in'),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FasterNet(**{'arch': 't0', **kwargs})


def test_wrong_input_channels_says_expected_and_got():
    model = FasterNet(arch='t0')
    with pytest.raises(
            ValueError, match=r'3 channels, got shape '
            r'\(1, 1, 64, 64\)'):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='got shape'):
        model(torch.randn(3, 64, 64))


def test_in_channels_is_honoured():
    model = FasterNet(arch='t0', in_channels=1).eval()
    assert model(torch.randn(1, 1, 32, 40))[0].shape == (1, 40, 8, 10)


def test_too_small_input_is_a_clear_error():
    with pytest.raises(
            ValueError, match=r'height and width >= 32.*\(31, 64\)'):
        FasterNet(arch='t0')(torch.randn(1, 3, 31, 64))


def test_default_init_is_kaiming_and_reproducible():
    torch.manual_seed(0)
    a = FasterNet(arch='t0')
    a.init_weights()
    torch.manual_seed(0)
    b = FasterNet(arch='t0')
    b.init_weights()
    w = a.stages[4].blocks[0].mlp[0].weight  # 1x1, 160 -> 320 channels
    assert torch.equal(w, b.stages[4].blocks[0].mlp[0].weight)
    assert w.std().item() == pytest.approx((2 / 320)**0.5, rel=0.1)


def test_unknown_argument_lists_the_accepted_ones():
    with pytest.raises(ConfigError) as info:
        MODELS.build(dict(type='FasterNet', arch='t0', foo=1, style='caffe'))
    message = str(info.value)
    assert "unknown argument(s) ['foo', 'style']" in message
    accepted = ("['arch', 'in_channels', 'out_indices', 'frozen_stages', "
                "'norm_eval', 'with_cp', 'drop_path_rate', 'norm_cfg', "
                "'init_cfg']")
    assert accepted in message
    assert "['style'] belong to ResNet" in message


@pytest.fixture
def one_rank_group(tmp_path):
    """Sync batch norms need a process group even on one rank."""
    import torch.distributed as dist
    dist.init_process_group(
        'gloo',
        init_method=f'file://{tmp_path / "store"}',
        rank=0,
        world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize('norm', ['BN', 'SyncBN', 'MMSyncBN'])
def test_every_batch_norm_type_is_frozen_kept_in_eval_and_guarded(
        norm, one_rank_group):
    from mmcv.ops import SyncBatchNorm as MMSyncBN

    from mmdet_fasternet.models.fasternet import frozen_bn_statistics
    BATCH_NORMS = (torch.nn.BatchNorm2d, torch.nn.SyncBatchNorm, MMSyncBN)
    tiny = dict(embed_dim=8, depths=(1, 1, 1, 1), act_cfg=dict(type='ReLU'))
    model = FasterNet(arch=tiny, norm_cfg=dict(type=norm), frozen_stages=1)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    assert len(norms) == 1 + 4 + 3 + 4  # stem, blocks, merging, outputs
    assert all(type(m) is type(norms[0]) for m in norms)
    frozen = [model.patch_embed.norm, model.norm0] + [
        m for m in model.stages[0].modules() if isinstance(m, BATCH_NORMS)
    ]
    assert [m.training for m in frozen] == [False] * len(frozen)
    assert sum(m.training for m in norms) == len(norms) - len(frozen)
    with frozen_bn_statistics(model):  # the with_cp guard
        assert all(m.momentum == 0.0 for m in norms)
    assert all(m.momentum == 0.1 for m in norms)
    model = FasterNet(arch=tiny, norm_cfg=dict(type=norm), norm_eval=True)
    model.train()
    assert not any(m.training
                   for m in model.modules() if isinstance(m, BATCH_NORMS))
