"""tools/get_flops.py, tools/benchmark.py and tools/export_onnx.py, run as a
user runs them. Timings are printed by the tools, never asserted here."""
import json
import re

import numpy as np
import onnx
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.structures import InstanceData
from same_detections import assert_same_detections
from tool_runner import CONFIGS, TOOLS, call, describe, one_line, run_tool
from torch._inductor import config as inductor_config

from mmdet_fasternet import cpu
from mmdet_fasternet.apis.benchmark import benchmark, training_peak_memory
from mmdet_fasternet.apis.export_tools import export_onnx_from_args
from mmdet_fasternet.apis.flops import complexity
from mmdet_fasternet.config_files import load_model_config
from mmdet_fasternet.deploy.numerics import (detection_error,
                                             max_relative_error,
                                             pair_detections)
from mmdet_fasternet.deploy.onnx_export import check_dynamic_input
from mmdet_fasternet.deploy.onnxruntime_runtime import OnnxSession
from mmdet_fasternet.deploy.time_breakdown import TIME_PARTS, with_rest
from mmdet_fasternet.errors import ToolError
from mmdet_fasternet.models.bn_folding import deploy_model
from mmdet_fasternet.models.build import build_detector
from mmdet_fasternet.patches.torch_numpy import cxx_compiler_problem


@pytest.mark.e2e
def test_get_flops_reproduces_the_published_figures(tmp_path):
    result = run_tool([
        TOOLS / 'get_flops.py', CONFIGS / 'mask_rcnn_fasternet_s.py',
        'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
    ], tmp_path)
    assert result.returncode == 0, describe(result)
    rows = [line.split(' | ') for line in result.stdout.splitlines()]
    cells = {
        (r[0].lstrip('| ').rsplit('/', 1)[-1], r[1]): r[2:]
        for r in rows if len(r) == 5
    }
    # FASTERNET.md: S backbone 93.0G at 800x1280; Mask R-CNN S 258G and
    # ResNet-50 253G as the authors counted; 49.0M / 44.2M parameters.
    assert cells[('mask_rcnn_fasternet_s.py',
                  'backbone')][:2] == ['28.59M', '93.0G']
    s = cells[('mask_rcnn_fasternet_s.py', 'detector')]
    assert s[0] == '48.99M' and s[2].startswith('258.')
    r50 = cells[('mask-rcnn_r50_fpn_1x_coco.py', 'detector')]
    assert r50[2].startswith('253.')


def test_flops_of_a_small_variant_match_a_hand_count():
    cfg = Config.fromfile(str(CONFIGS / 'mask_rcnn_fasternet_t0.py'))
    backbone = MODELS.build(cfg.model.backbone)
    c, (h, w) = 40, (64, 96)
    expected = 3 * 16 * c * (h // 4) * (w // 4)  # stem
    for i, depth in enumerate((1, 2, 8, 2)):
        ci, px = c * 2**i, (h // 4 // 2**i) * (w // 4 // 2**i)
        block = 9 * (ci // 4)**2 + 2 * ci * 2 * ci
        expected += depth * block * px
        if i > 0:
            expected += 4 * ci // 2 * ci * px  # 2x2 merging conv
    flops = complexity(backbone, (h, w)).flops
    bn = sum(2 * c * 2**i * (h // 4 // 2**i) * (w // 4 // 2**i)
             for i in range(4))  # mmengine counts the output norms too
    assert expected <= flops <= expected + bn + 2 * expected // 100


def test_config_errors_are_clear():
    with pytest.raises(ToolError, match='not a config shipped with mmdet'):
        load_model_config('mmdet::nope/nope.py')
    with pytest.raises(ToolError, match='does not exist'):
        load_model_config('configs/nope.py')


def test_max_relative_error_scales_by_the_largest_expected_value():
    expected = torch.tensor([[1.0, -4.0], [2.0, 0.0]])
    got = expected + torch.tensor([[0.0, 0.0], [0.04, 0.0]])
    assert max_relative_error(got, expected) == pytest.approx(0.01)
    assert max_relative_error(got.numpy(), expected) == pytest.approx(0.01)
    assert max_relative_error([expected, got],
                              [expected, expected]) == pytest.approx(0.01)
    assert max_relative_error(expected.bfloat16(), expected) == 0
    assert max_relative_error(np.zeros(3), np.zeros(3)) == 0
    # An untrained detector may keep no box: empty outputs agree.
    assert max_relative_error(np.zeros((0, 4)), np.zeros((0, 4))) == 0
    assert max_relative_error(np.zeros((1, 4)), np.zeros((0, 4))) == np.inf
    with pytest.raises(ValueError, match='2 outputs against 1'):
        max_relative_error([got, got], [expected])


def some_detections(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    corners = torch.rand(n, 2, generator=g) * 200
    boxes = torch.cat(
        [corners, corners + 5 + 50 * torch.rand(n, 2, generator=g)], 1)
    scores = 0.5 + 1e-7 * torch.rand(n, generator=g)  # near-tied
    labels = torch.randint(0, 4, (n, ), generator=g)
    masks = torch.rand(n, 28, 28, generator=g)
    return boxes, scores, labels, masks


def test_detections_are_compared_as_sets():
    """Near-tied scores ranked the other way pair up and agree exactly; a
    wrong box, label or score pairs with nothing."""
    outputs = some_detections(100)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(1))
    shuffled = [t[order] for t in outputs]
    pairs = pair_detections(shuffled, outputs)
    assert pairs.unpaired == 0 and pairs.allowed()
    assert torch.equal(order[pairs.got], torch.from_numpy(pairs.expected))
    assert detection_error(shuffled, outputs) == (0.0, 0, 100)
    # Slightly off: paired, and the error says by how much.
    scores = shuffled[1] + 1e-3
    error, unpaired, _ = detection_error([shuffled[0], scores, *shuffled[2:]],
                                         outputs)
    assert unpaired == 0 and error == pytest.approx(1e-3 / 0.5, rel=1e-3)
    # x and y swapped, another label, a score off by far more than the
    # pairing tolerance: nothing pairs.
    for wrong in ([shuffled[0][:, [1, 0, 3, 2]], *shuffled[1:]], [
            shuffled[0], shuffled[1], (shuffled[2] + 1) % 4, shuffled[3]
    ], [shuffled[0], shuffled[1] * 0.9, *shuffled[2:]]):
        pairs = pair_detections(wrong, outputs)
        assert pairs.unpaired == 200 and not pairs.allowed()
        assert detection_error(wrong, outputs)[0] == np.inf
    # A near-tie that changed which detection made the cut: allowed, up
    # to 5% of the detections on each side.
    for changed, allowed in ((5, True), (6, False)):
        other = [
            torch.cat([t[changed:], n[:changed]])
            for t, n in zip(outputs, some_detections(changed, seed=2))
        ]
        pairs = pair_detections(other, outputs)
        assert pairs.unpaired == 2 * changed and pairs.allowed() == allowed
    empty = [t[:0] for t in outputs]
    assert detection_error(empty, empty) == (0.0, 0, 0)
    assert pair_detections(outputs[:3], [t[:0] for t in outputs]).unpaired \
        == 100


def test_pasted_masks_are_compared_within_each_box():
    """A small object's mask wholly wrong fails, though it is far less
    than 0.1% of the image; ten pixels at the edge of a large one pass."""
    boxes = torch.tensor([[10., 10., 410., 310.], [500., 400., 510., 410.]])
    masks = torch.zeros(2, 600, 800, dtype=torch.bool)
    masks[0, 10:310, 10:410] = True
    masks[1, 400:410, 500:510] = True
    want = InstanceData(
        bboxes=boxes,
        scores=torch.tensor([0.9, 0.8]),
        labels=torch.tensor([0, 1]),
        masks=masks)
    edge = want.clone()
    edge.masks = masks.clone()
    edge.masks[0, 309, 10:20] = False
    assert_same_detections(edge, want, box_atol=0, score_atol=0)
    wrong = want.clone()
    wrong.masks = masks.clone()
    wrong.masks[1] = False
    assert wrong.masks.ne(masks).float().mean() < 1e-3 / 2
    with pytest.raises(
            AssertionError,
            match='detection 1: the masks differ '
            'in 100.0% of the pixels of its box'):
        assert_same_detections(wrong, want, box_atol=0, score_atol=0)


def test_only_near_ties_go_unpaired():
    """Ten detections of spread scores: one missing or one extra is a
    difference, unless its score ties with the one that took its place or
    with the other list's lowest."""
    boxes, _, labels, _ = some_detections(10)
    scores = torch.linspace(0.9, 0.1, 10)
    ten = [boxes, scores, labels]
    for dropped in (0, 4, 9):  # the most confident, one between, the least
        keep = torch.arange(10) != dropped
        nine = [t[keep] for t in ten]
        for got, want in ((nine, ten), (ten, nine)):
            pairs = pair_detections(got, want)
            assert pairs.unpaired == 1 and not pairs.allowed(), dropped
            assert detection_error(got, want)[0] == np.inf
    # The least confident one just below the other list's cut: a near-tie.
    tied = [t.clone() for t in ten]
    tied[1][9] = tied[1][8] - 1e-3
    nine = [t[:9] for t in tied]
    assert pair_detections(nine, tied).allowed()
    # Two detections of near-equal score, each kept by one run only.
    swapped = [t.clone() for t in ten]
    swapped[0][4] += 30  # another box
    swapped[1][4] -= 1e-3
    pairs = pair_detections(swapped, ten)
    assert pairs.unpaired == 2 and pairs.allowed()
    swapped[1][4] -= 0.05  # no longer near
    assert not pair_detections(swapped, ten).allowed()


@pytest.mark.e2e
def test_benchmark_tiny_run_writes_json_and_chart(tmp_path):
    settings = ('eval', 'deploy', 'deploy-bf16', 'deploy-compile',
                'onnxruntime', 'openvino', 'openvino-bf16', 'openvino-int8')
    args = [
        TOOLS / 'benchmark.py', '--arch', 't0', '--parts', 'backbone',
        'retinanet', '--settings', *settings, '--shape', '64', '160', '--runs',
        '2', '--warmup', '1', '--breakdown', '--breakdown-runs', '1', '--json',
        'bench.json', '--plot', 'bench.png'
    ]
    result = run_tool(args, tmp_path)
    assert result.returncode == 0, describe(result)
    # Where inductor finds no C++ compiler, the project says so and the
    # other rows go on (test_a_setting_that_cannot_run_here_is_named).
    no_compiler = cxx_compiler_problem()
    ran = [s for s in settings if not (no_compiler and s == 'deploy-compile')]
    assert ('deploy-compile: not run' in result.stdout) == bool(no_compiler)
    assert '| backbone | deploy |' in result.stdout
    assert 'deploy is ' in result.stdout and 'as fast as eval' in result.stdout
    assert '| retinanet | onnxruntime | FasterNet-T0 |' in result.stdout
    assert '| retinanet | openvino-int8 | FasterNet-T0 |' in result.stdout
    data = json.loads((tmp_path / 'bench.json').read_text())
    rows = {(r['part'], r['setting']): r for r in data['inference']}
    assert set(rows) == {(p, s)
                         for p in ('backbone', 'retinanet')
                         for s in ran}
    # What OpenVINO ran each model in, as its execution graph says: its
    # choice per CPU for bf16 and INT8, fp32 throughout where asked for.
    for setting in ('openvino', 'openvino-bf16', 'openvino-int8'):
        for part in ('backbone', 'retinanet'):
            precisions = rows[(part, setting)]['precisions']
            assert set(precisions) == {'FasterNet-T0', 'ResNet-50'}
            pattern = (r'(\d+) of \1 weighted layers in fp32'
                       if setting == 'openvino' else
                       r'\d+ of \d+ weighted layers in \w+(, \d+ in \w+)*')
            assert all(re.fullmatch(pattern, p) for p in precisions.values())
            assert (f'{part} {setting}: OpenVINO ran FasterNet-T0 with '
                    f'{precisions["FasterNet-T0"]}, ResNet-50 with') in \
                result.stdout
    assert 'precisions' not in rows[('retinanet', 'onnxruntime')]
    backbone = rows[('backbone', 'deploy')]
    assert set(backbone['ms']) == {
        'FasterNet-T0', 'ResNet-50', '1x1 conv 40->80 @16x40',
        '1x1 conv 80->160 @8x20', '1x1 conv 160->320 @4x10',
        '1x1 conv 320->640 @2x5'
    }
    assert backbone['peak_gflops'] == max(
        v for k, v in backbone['gflops'].items() if k.startswith('1x1'))
    assert all(len(t) == 2 for t in backbone['times_s'].values())
    assert backbone['max_rel_error_vs_first_setting'] < 1e-4
    for exact in ('onnxruntime', 'openvino'):
        assert rows[('backbone',
                     exact)]['max_rel_error_vs_first_setting'] < 1e-4
    assert 1e-4 < rows[(
        'backbone', 'openvino-int8')]['max_rel_error_vs_first_setting'] < 0.5
    assert 1e-4 < rows[(
        'backbone', 'deploy-bf16')]['max_rel_error_vs_first_setting'] < 0.05
    for setting in ran:  # every detector row has its time by part
        breakdown = rows[('retinanet', setting)]['breakdown_ms']
        assert set(breakdown) == {'FasterNet-T0', 'ResNet-50'}
        for spent in breakdown.values():
            assert spent['backbone'] > 0 and spent['heads'] > 0
            # Each part took time, none more than the whole: honest parts
            # leave post-processing (the rest of the total) positive.
            assert all(0 < spent[p] < spent['total']
                       for p in TIME_PARTS), (setting, spent)
            assert sum(spent[p]
                       for p in TIME_PARTS) == pytest.approx(spent['total'])
    png = (tmp_path / 'bench.png').read_bytes()
    assert png.startswith(b'\x89PNG') and len(png) > 10_000

    again = run_tool(args, tmp_path)
    assert again.returncode == 1
    assert 'already exists; pass --force' in again.stderr


def test_a_setting_that_cannot_run_here_is_named(tmp_path, monkeypatch,
                                                 capsys):
    """deploy-compile without a C++ compiler (inductor's ``cpp.cxx``, the
    compilers it tries, names only one that fails, whatever CXX and PATH
    hold here): one line saying why and the fix, and the other settings'
    rows; asked for alone, one error."""
    failing = tmp_path / 'g++'
    failing.write_text('#!/bin/sh\nexit 1\n')
    failing.chmod(0o755)
    monkeypatch.setattr(inductor_config.cpp, 'cxx', (None, str(failing)))
    problem = cxx_compiler_problem()  # names the compilers it tried
    assert problem.startswith('No working C++ compiler found in')
    options = dict(
        arch='t0', parts=['backbone'], shape=(64, 96), runs=1, warmup=0)
    assert call(benchmark, **options, settings=['eval', 'deploy-compile']) == 0
    out = capsys.readouterr().out
    assert '| backbone | eval |' in out and '| backbone | deploy-compile' \
        not in out
    why = [line for line in out.splitlines() if 'not run' in line]
    assert why == [
        f'deploy-compile: not run: torch.compile (inductor) builds C++ '
        f'kernels on the CPU and found no C++ compiler ({problem}); '
        f'install one (apt-get install g++) or point CXX at it'
    ]
    line = one_line(benchmark, **options, settings=['deploy-compile'])
    assert 'no setting asked for can run here' in line and 'g++' in line


def test_breakdown_parts_partition_the_total():
    """Post-processing is the rest of the measured time; where a runtime's
    node times overlap (OpenVINO's did: RetinaNet's post-processing came
    out at -21 ms), every part is scaled to the total instead."""
    nodes = {'backbone': 60.0, 'neck': 30.0, 'heads': 20.0}
    rest = with_rest(dict(nodes, **{'post-processing': 5.0}), 150.0)
    assert rest == dict(nodes, **{'post-processing': 40.0, 'total': 150.0})
    scaled = with_rest(dict(nodes, **{'post-processing': 5.0}), 100.0)
    assert scaled['backbone'] == pytest.approx(60 * 100 / 115)
    assert scaled['post-processing'] == pytest.approx(5 * 100 / 115)
    assert sum(scaled[p] for p in TIME_PARTS) == pytest.approx(100.0)


def test_benchmark_training_steps_memory_is_measured_in_a_fresh_process():
    """What ``--train`` reports: two training steps (forward with losses,
    backward, update) run in a spawned process, and the memory they took
    beyond the built model."""
    peak = training_peak_memory(
        str(CONFIGS / 'mask_rcnn_fasternet_t0.py'), dict(with_cp=True),
        (64, 96), 'cpu')
    assert 0 < peak < 4 * 2**30


@pytest.mark.parametrize('options,message', [
    (dict(shape=(16, 16)), 'at least 32'),
    (dict(runs=0), '--runs, --train-runs and --breakdown-runs must be >= 1'),
    (dict(device='cuda') if not torch.cuda.is_available() else dict(
        settings=['onnxruntime'], device='cuda'),
     'onnxruntime' if torch.cuda.is_available() else 'use --device cpu'),
])
def test_benchmark_bad_options(capsys, options, message):
    """Refused in one line before any model is built (as the command line
    runs it, in this process)."""
    args = dict(parts=['backbone'], settings=['eval'])
    assert call(benchmark, **dict(args, **options)) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err
    assert len(err.strip().splitlines()) == 1


# The detector: test_deploy/test_onnx.py.
@pytest.mark.parametrize('part', ['backbone'])
@pytest.mark.e2e
def test_onnx_export_is_exact_dynamic_and_small(tmp_path, part):
    out = tmp_path / f'retina {part}.onnx'  # a space in the path
    result = run_tool([
        TOOLS / 'export_onnx.py', CONFIGS / 'retinanet_fasternet_t0.py',
        '--part', part, '--out', out, '--shape', '96', '128'
    ], tmp_path)
    assert result.returncode == 0, describe(result)
    errors = [
        float(line.rsplit(' ', 1)[1]) for line in result.stdout.splitlines()
        if 'max relative difference' in line
    ]
    assert len(errors) == 2 and max(errors) < 1e-4
    model = onnx.load(str(out))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims][:2] == [1, 3]
    assert dims[2].dim_param and dims[3].dim_param  # dynamic H and W
    detector = retinanet_t0()
    deploy_model(detector)
    module = detector.backbone if part == 'backbone' else detector
    weight_bytes = 4 * sum(t.numel() for t in module.state_dict().values()
                           if t.is_floating_point())
    assert 0.9 * weight_bytes < out.stat().st_size < 1.1 * weight_bytes
    assert not list(tmp_path.glob('*.data'))  # one self-contained file


def retinanet_t0():
    cfg = Config.fromfile(str(CONFIGS / 'retinanet_fasternet_t0.py'))
    return MODELS.build(cfg.model).eval()


@pytest.mark.e2e
def test_onnx_export_uses_the_given_weights(tmp_path):
    torch.manual_seed(1)  # weights unlike those of the tool's own build
    detector = retinanet_t0()
    ckpt = tmp_path / 'trained.pth'
    torch.save({'state_dict': detector.state_dict(), 'meta': {}}, ckpt)
    out = tmp_path / 'backbone.onnx'
    export = [
        TOOLS / 'export_onnx.py', CONFIGS / 'retinanet_fasternet_t0.py',
        '--part', 'backbone', '--shape', '96', '128', '--weights'
    ]
    result = run_tool(export + [ckpt, '--out', out], tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'untrained' not in result.stdout
    x = torch.randn(1, 3, 160, 224)
    with torch.no_grad():
        expected = detector.backbone(x)
    got = OnnxSession(str(out), 'cpu').run(x.numpy())
    assert len(got) == len(expected)
    assert max_relative_error(got, expected) < 1e-4

    # The same command, in this process, with unusable weights.
    config = CONFIGS / 'retinanet_fasternet_t0.py'
    options = dict(part='backbone', shape=(96, 128))
    truncated = tmp_path / 'cut.pth'
    truncated.write_bytes(ckpt.read_bytes()[:5000])
    line = one_line(
        export_onnx_from_args,
        config,
        weights=truncated,
        out=tmp_path / 'a.onnx',
        **options)
    assert 'cut.pth' in line and 'truncated' in line

    other = tmp_path / 'mask.pth'
    cfg = Config.fromfile(str(CONFIGS / 'mask_rcnn_fasternet_t0.py'))
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, other)
    line = one_line(
        export_onnx_from_args,
        config,
        weights=other,
        out=tmp_path / 'b.onnx',
        **options)
    assert 'do not fit this config' in line
    assert not (tmp_path / 'a.onnx').exists()
    assert not (tmp_path / 'b.onnx').exists()


@pytest.mark.parametrize('height,width,refused', [(96, 128, True),
                                                  ('height', 'width', False)])
def test_onnx_export_refuses_a_graph_fixed_to_the_traced_size(
        height, width, refused):
    """torch's exporter falls back to a static graph where tracing had to
    specialise the size (RetinaNet traced at 96x128, where P7 is 1x1):
    such a file fails at every other size, so it is refused by name."""
    image = onnx.helper.make_tensor_value_info('image', onnx.TensorProto.FLOAT,
                                               [1, 3, height, width])
    out = onnx.helper.make_tensor_value_info('out', onnx.TensorProto.FLOAT,
                                             [1, 3, height, width])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node('Identity', ['image'], ['out'])], 'g', [image],
        [out])
    model = onnx.helper.make_model(graph)
    if not refused:
        check_dynamic_input(model, (96, 128), 'x.onnx')
        return
    with pytest.raises(ToolError) as error:
        check_dynamic_input(model, (96, 128), 'x.onnx')
    assert str(error.value) == (
        'x.onnx: traced at 96x128, the graph is fixed to that size (the '
        'coarsest feature map is down to one pixel); export at a larger '
        '--shape, e.g. the default 320 512.')


def test_onnx_export_refuses_an_unsupported_detector_and_overwrite(tmp_path):
    out = tmp_path / 'x.onnx'
    options = dict(part='detector', out=out)
    line = one_line(export_onnx_from_args, 'mmdet::htc/htc_r50_fpn_1x_coco.py',
                    **options)
    assert line == (
        'error: ONNX export: HybridTaskCascade with a '
        'HybridTaskCascadeRoIHead is not supported; supported are '
        'RetinaNet-like single-stage detectors (anchors, deltas, sigmoid '
        'classifier) and Faster/Mask R-CNN and Cascade (Mask) R-CNN (RPN and '
        'standard RoI heads).')
    out.write_text('keep me')
    line = one_line(export_onnx_from_args,
                    CONFIGS / 'mask_rcnn_fasternet_t0.py', **options)
    assert 'already exists' in line and out.read_text() == 'keep me'


def test_cascade_mask_head_counted_on_100_rois_as_mask_rcnn(monkeypatch):
    """mmdet 3 runs Cascade's three mask heads on every proposal; the count
    follows mmdet 2.x (and Mask R-CNN here): 100 RoIs per stage. (200
    proposals instead of 1000 keep the test short.)"""
    monkeypatch.setattr('mmdet_fasternet.apis.flops.NUM_PROPOSALS', 200)
    counts = [
        complexity(
            build_detector(load_model_config(str(CONFIGS / name))), (128, 128))
        for name in ('mask_rcnn_fasternet_t0.py',
                     'cascade_mask_rcnn_fasternet_t0.py')
    ]
    mask_rcnn, cascade = (c.flops - c.flops_mmdet2 for c in counts)
    assert mask_rcnn > 0 and cascade == 3 * mask_rcnn


@pytest.mark.parametrize('model,flags,isa,pays', [
    ('AMD EPYC 9R14', 'fpu sse avx avx2 fma', 'AVX2', False),
    ('Intel(R) Xeon(R) Platinum', 'avx2 avx512f avx512_vnni', 'AVX-512 VNNI',
     True),
    ('AMD EPYC', 'avx2 avx512f avx512_bf16 avx512_vnni', 'AVX-512 VNNI', True),
    ('Intel(R) Xeon(R) Processor',
     'avx2 avx512f avx512_vnni amx_bf16 amx_int8', 'AMX', True),
])
def test_the_cpu_is_named_with_the_isa_the_figures_need(
        monkeypatch, model, flags, isa, pays):
    """The benchmark's header, and whether INT8 (VNNI or AMX) and bf16
    (AMX or AVX-512 BF16) pay."""
    monkeypatch.setattr(cpu, 'cpuinfo', lambda: {
        'model name': model,
        'flags': flags
    })
    assert cpu.widest_isa() == isa
    assert (cpu.lacks('int8') is None) == pays
    bf16 = {'amx_bf16', 'avx512_bf16'} & set(flags.split())
    assert cpu.lacks('bf16') == (None if bf16 else 'AMX or AVX-512 BF16')
    assert cpu.lacks('fp32') is None
    assert cpu.cpu_description().startswith(f'{model}, ')
    assert cpu.cpu_description().endswith(f'cores, widest ISA: {isa}')
