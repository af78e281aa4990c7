"""Deploy mode: exactly the eval-mode numbers, on every execution path."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from same_detections import assert_same_detections
from test_fasternet import randomize_bn
from tool_runner import MASK_DEMO

from mmdet_fasternet import FasterNet
from mmdet_fasternet.deploy.numerics import max_relative_error
from mmdet_fasternet.errors import ConfigError
from mmdet_fasternet.models import bn_folding
from mmdet_fasternet.models.bn_folding import FusedBlock, deploy_model
from mmdet_fasternet.patches.torch_numpy import onednn_bf16_supported

RTOL = 1e-4


def eval_and_deployed(arch: str, **kwargs):
    torch.manual_seed(0)
    model = FasterNet(arch=arch, **kwargs)
    model.init_weights()
    randomize_bn(model)
    model.eval()
    x = torch.randn(2, 3, 96, 72)
    with torch.no_grad():
        ref = model(x)
    model.switch_to_deploy()
    return model, x, ref


@pytest.fixture
def onednn_calls(monkeypatch):
    """Records, per block call, whether the fused oneDNN kernels ran."""
    calls = []
    applies = bn_folding._onednn_applies

    def spy(x, weight):
        calls.append(applies(x, weight))
        return calls[-1]

    monkeypatch.setattr(bn_folding, '_onednn_applies', spy)
    return calls


@pytest.mark.parametrize('arch', ['t0', 't2'])  # GELU and ReLU
def test_deploy_equals_eval_on_the_fused_cpu_path(arch, onednn_calls):
    model, x, ref = eval_and_deployed(arch)
    with torch.no_grad():
        outs = model(x)
    assert bn_folding.ONEDNN_FUSION and onednn_calls and all(onednn_calls)
    for out, r in zip(outs, ref):
        assert out.shape == r.shape
        assert out.is_contiguous()  # the input's layout, not oneDNN's
        assert max_relative_error(out, r) < RTOL


def test_deploy_equals_eval_on_the_standard_op_path(monkeypatch):
    monkeypatch.setattr(bn_folding, 'ONEDNN_FUSION', False)
    model, x, ref = eval_and_deployed('t1', out_indices=(1, 3))
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == 2
    for out, r in zip(outs, ref):
        assert max_relative_error(out, r) < RTOL


def test_deploy_with_gradients_takes_the_differentiable_path(onednn_calls):
    model, x, ref = eval_and_deployed('t0')
    x.requires_grad_(True)
    outs = model(x)
    assert onednn_calls and not any(onednn_calls)
    sum(o.sum() for o in outs).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for out, r in zip(outs, ref):
        assert max_relative_error(out.detach(), r) < RTOL


def test_deploy_keeps_the_callers_tensor_and_layout():
    model, x, _ = eval_and_deployed('t0')
    x = x.contiguous(memory_format=torch.channels_last)
    before = x.clone()
    with torch.no_grad():
        outs = model(x)
    assert torch.equal(x, before)
    assert all(
        o.is_contiguous(memory_format=torch.channels_last) for o in outs)


def test_blocks_write_only_into_what_no_one_else_holds(monkeypatch):
    model, x, ref = eval_and_deployed('t0')
    stage = model.stages[4]  # 8 blocks of 160 channels
    t = torch.randn(2, 160, 6, 5).contiguous(memory_format=torch.channels_last)
    before = t.clone()
    with torch.no_grad():
        stage[0](t)
        stage(t)
    assert torch.equal(t, before)

    flags = []
    forward = FusedBlock.forward

    def spy(self, x, inplace=False):
        flags.append(inplace)
        return forward(self, x, inplace)

    monkeypatch.setattr(FusedBlock, 'forward', spy)
    with torch.no_grad():
        model(x)
    assert flags == [False] + [False, True] + [False
                                               ] + [True] * 7 + [False, True]

    seen = []
    stage[2].register_forward_hook(lambda m, i, o: seen.append((o, o.clone())))
    flags.clear()
    with torch.no_grad():
        outs = model(x)
    assert flags[6] is False  # the block after the hooked one
    assert torch.equal(*seen[0])
    for out, r in zip(outs, ref):
        assert max_relative_error(out, r) < RTOL


def test_deploy_refuses_norms_it_cannot_fold():
    model = FasterNet(arch='t0', norm_cfg=dict(type='GN', num_groups=4)).eval()
    with pytest.raises(ConfigError, match='deploy mode folds BatchNorm'):
        model.switch_to_deploy()
    assert not model.deploy


def test_switch_folds_every_bn_but_the_output_norms():
    model, _, _ = eval_and_deployed('t0')
    bns = [
        name for name, m in model.named_modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    ]
    assert bns == ['norm0', 'norm2', 'norm4', 'norm6']
    assert sum(isinstance(m, FusedBlock) for m in model.modules()) == 13
    assert not any(p.requires_grad for p in model.parameters())


def test_switch_is_idempotent_and_deployed_model_refuses_training():
    model, x, ref = eval_and_deployed('t0')
    model.switch_to_deploy()
    model.eval()
    with torch.no_grad():
        assert max_relative_error(model(x)[0], ref[0]) < RTOL
    with pytest.raises(RuntimeError, match='deploy mode.*build a new model'):
        model.train()


def test_bf16_weights_run_close_to_fp32(onednn_calls):
    """The fused kernels where torch says oneDNN runs bf16 on this CPU,
    the standard ops elsewhere; close to fp32 either way."""
    model, x, ref = eval_and_deployed('t0')
    model.to(torch.bfloat16)
    with torch.no_grad():
        outs = model(x.to(torch.bfloat16))
    assert onednn_calls
    assert all(onednn_calls) == onednn_bf16_supported()
    assert any(onednn_calls) == onednn_bf16_supported()
    assert all(o.dtype == torch.bfloat16 for o in outs)
    assert max(max_relative_error(o, r) for o, r in zip(outs, ref)) < 0.05


def test_bf16_autocast_uses_standard_ops(onednn_calls):
    model, x, ref = eval_and_deployed('t0')
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
    assert onednn_calls and not any(onednn_calls)
    assert max(max_relative_error(o, r) for o, r in zip(outs, ref)) < 0.05


def demo_detector(x: torch.Tensor):
    """The demo detector with BN statistics measured on ``x``: features of
    unit scale give a spread of scores, so the comparison means something.
    """
    cfg = Config.fromfile(str(MASK_DEMO))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    randomize_bn(model)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # running statistics = those of this batch
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        model.extract_feat(x)
    model.test_cfg.rcnn.score_thr = 0.0  # every RoI reaches the mask head
    return model.eval()


def predict(model, x):
    sample = DetDataSample(
        metainfo=dict(
            img_shape=x.shape[-2:],
            ori_shape=x.shape[-2:],
            pad_shape=x.shape[-2:],
            batch_input_shape=x.shape[-2:],
            scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        return model.predict(x, [sample], rescale=False)[0].pred_instances


@pytest.mark.parametrize('channels_last', [False, True])
def test_deployed_detector_predicts_what_eval_predicts(channels_last):
    x = torch.randn(1, 3, 128, 160)
    model = demo_detector(x)
    with torch.no_grad():
        ref_feats = model.extract_feat(x)
    ref = predict(model, x)
    deploy_model(model, channels_last=channels_last)
    assert model.backbone.deploy
    with torch.no_grad():
        feats = model.extract_feat(x)
    for f, r in zip(feats, ref_feats):
        assert max_relative_error(f, r) < RTOL
    out = predict(model, x)
    assert len(ref) > 10  # unpaired ones: assert_same_detections
    assert_same_detections(out, ref, box_atol=1e-3, score_atol=1e-4)


def test_resnet_detector_gets_its_bn_folded():
    cfg = Config.fromfile(str(MASK_DEMO))
    cfg.model.backbone = dict(
        type='ResNet', depth=18, out_indices=(0, 1, 2, 3), norm_eval=True)
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    model = MODELS.build(cfg.model).eval()
    randomize_bn(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model.extract_feat(x)
    deploy_model(model)
    assert not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        for f, r in zip(model.extract_feat(x), ref):
            assert max_relative_error(f, r) < RTOL
