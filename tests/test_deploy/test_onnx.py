"""The whole detector in one ONNX file: onnxruntime gives what PyTorch
gives (boxes, scores, labels, pasted masks) at two input sizes, and
``tools/test.py`` evaluates the file like a checkpoint."""
import json
import pickle
import re
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pycocotools.mask as mask_util
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from same_detections import assert_same_detections
from tool_runner import (CONFIGS, MASK_DEMO, RETINA_DEMO, TOOLS, call,
                         describe, exported_detector, many_detections,
                         metric_lines, run_tool, tiny_shapes_options)

from mmdet_fasternet.apis.benchmark import image_sample
from mmdet_fasternet.apis.inference import demo
from mmdet_fasternet.datasets.shapes import SHAPE_CLASSES
from mmdet_fasternet.deploy import time_breakdown
from mmdet_fasternet.deploy.checks import (RTOL, Runs, compare_detections,
                                           exported_runs,
                                           score_threshold_tensor, torch_runs)
from mmdet_fasternet.deploy.exported_detector import ExportedDetector
from mmdet_fasternet.deploy.file_metadata import onnx_metadata
from mmdet_fasternet.deploy.graph import DetectorGraph, batched_nms
from mmdet_fasternet.deploy.graph_onnx import onnx_batched_nms
from mmdet_fasternet.deploy.onnx_export import ExportedPart, write_onnx
from mmdet_fasternet.deploy.onnxruntime_runtime import (OnnxSession,
                                                        onnx_session)
from mmdet_fasternet.deploy.time_breakdown import (TIME_PARTS,
                                                   exported_breakdown,
                                                   node_times_by_part,
                                                   onnx_node_parts,
                                                   torch_breakdown)
from mmdet_fasternet.errors import CheckpointError, ConfigError, ToolError

CASCADE = CONFIGS / 'cascade_mask_rcnn_fasternet_t0.py'
# (resized height, width), (original height, width): other scale factors.
SIZES = [((128, 160), (256, 320)), ((150, 230), (100, 153))]


class RenamedGraph(DetectorGraph):
    """The graph as a rename in graph.py would leave it: its score
    threshold and its detector under other attribute names."""

    def __init__(self, detector: torch.nn.Module) -> None:
        super().__init__(detector)
        self.register_buffer('min_score', self._buffers.pop('score_threshold'))
        self.model = self._modules.pop('detector')

    score_threshold = property(lambda self: self.min_score)
    detector = property(lambda self: self.model)


@pytest.fixture(scope='module', params=[MASK_DEMO, RETINA_DEMO, CASCADE])
def exported(request, tmp_path_factory):
    """A detector with fresh weights, exported in eval mode (deploy mode
    folds BN, which changes the last bits): the demo Mask R-CNN by the
    tool, the others in this process, the RetinaNet's graph renamed
    (``RenamedGraph``), so that every check on it finds the pieces by the
    names its file records."""
    if request.param == MASK_DEMO:
        detector, _, path = request.getfixturevalue('mask_demo_export')
        return detector, path, MASK_DEMO
    detector = many_detections(request.param)
    detector.dataset_meta = dict(classes=SHAPE_CLASSES)
    if request.param == CASCADE:  # COCO-sized heads: fewer proposals
        detector.rpn_head.test_cfg.max_per_img = 150
    path = tmp_path_factory.mktemp('onnx') / 'detector.onnx'
    part = ExportedPart(detector, 'detector')
    if request.param == RETINA_DEMO:
        part.detector_graph = RenamedGraph(detector)
    write_onnx(part.eval(), (128, 160), str(path))
    return detector, path, request.param


@pytest.mark.e2e
def test_onnxruntime_gives_what_pytorch_gives(exported):
    detector, path, config = exported
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[2].dim_param and dims[3].dim_param  # dynamic H and W
    ops = {node.op_type for node in model.graph.node}
    assert 'NonMaxSuppression' in ops
    assert ('RoiAlign' in ops) == hasattr(detector, 'roi_head')
    assert all(not node.domain or node.domain == 'ai.onnx'
               for node in model.graph.node)  # standard operators only
    assert not list(path.parent.glob('*.data'))  # one self-contained file
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta['classes']) == list(SHAPE_CLASSES)
    assert json.loads(meta['preprocessing'])['swap_channels'] is True
    runtime = exported_detector(path, config)
    # A cascade at one size: the sizes check the dynamic axes, which the
    # demo detectors' files share.
    for (height, width), original in SIZES[:1 if config == CASCADE else 2]:
        image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
        meta = dict(
            img_shape=(height, width),
            ori_shape=original,
            scale_factor=(width / original[1], height / original[0]))
        with torch.no_grad():
            data = detector.data_preprocessor(
                dict(
                    inputs=[image],
                    data_samples=[DetDataSample(metainfo=meta)]))
            want = detector.predict(
                data['inputs'], data['data_samples'],
                rescale=True)[0].pred_instances
        got = runtime([image], [DetDataSample(metainfo=meta)])[0]
        got = got.pred_instances
        assert len(want) > 50  # unpaired ones: assert_same_detections
        assert_same_detections(got, want, box_atol=1e-3, score_atol=1e-5)


@pytest.mark.e2e
def test_onnx_file_for_other_classes_is_refused(exported):
    _, path, _ = exported
    with pytest.raises(
            CheckpointError,
            match=r'was exported for 4 classes \(circle, square, triangle, '
            r'\.\.\.\), the config names 2 \(cat, dog, \.\.\.\); pass the '
            r'config it was exported from'):
        ExportedDetector(str(path), ['cat', 'dog'])


@pytest.mark.e2e
def test_test_tool_evaluates_exported_files_like_their_checkpoint(
        tmp_path, capsys, mask_demo_export, mask_demo_ir):
    """The checkpoint, its ONNX export and that file's OpenVINO IR: the
    same metrics and detections from tools/test.py, the same drawing from
    tools/demo.py."""
    _, ckpt, onnx_file = mask_demo_export
    sources = (ckpt, onnx_file, mask_demo_ir[0])
    metrics, predictions = [], []
    for source in sources:
        out = tmp_path / f'{Path(source).name}.pkl'
        result = run_tool([
            TOOLS / 'test.py', MASK_DEMO, source, '--work-dir',
            tmp_path / Path(source).name, '--out', out, '--cfg-options',
            'model.test_cfg.rcnn.score_thr=0.0'
        ] + tiny_shapes_options(tmp_path / 'data'), tmp_path)
        assert result.returncode == 0, describe(result)
        if source.suffix == '.xml':  # OpenVINO's choice, read back
            assert re.search(
                f'{re.escape(str(source))}: OpenVINO runs this fp32 IR with '
                r'(\d+) of \1 weighted layers in fp32 here', result.stdout)
        metrics.append(metric_lines(result.stdout))
        predictions.append(pickle.loads(out.read_bytes()))
    assert 'coco/segm_mAP' in metrics[0]
    for found in metrics[1:]:
        assert set(found) == set(metrics[0])
        for name, value in metrics[0].items():
            assert abs(found[name] - value) <= 0.01, name
    # The mAPs of fresh weights are near 0 either way: what was evaluated is
    # the same, the checkpoint's 100 detections per image, masks included.
    for want, *others in zip(*predictions):
        want = detections(want['pred_instances'])
        assert len(want) == 100
        for got in others:
            assert_same_detections(
                detections(got['pred_instances']),
                want,
                box_atol=1e-2,
                score_atol=1e-4)
    # tools/demo.py draws the same detections from each file.
    image = next((tmp_path / 'data' / 'val' / 'images').iterdir())
    listed = []
    for weights in sources:
        assert call(
            demo,
            image,
            MASK_DEMO,
            weights=weights,
            out_dir=tmp_path / weights.suffix[1:],
            pred_score_thr=0.05,
            device='cpu',
            force=False) == 0
        listed.append(capsys.readouterr().out.split(': ',
                                                    1)[1].rsplit(' -> ', 1)[0])
    assert listed[0] == listed[1] == listed[2] and 'detections' in listed[0]
    assert int(listed[0].split(' detections')[0]) > 0


def detections(dumped: dict) -> InstanceData:
    """A detection of ``tools/test.py --out``, its masks decoded."""
    return InstanceData(
        bboxes=dumped['bboxes'],
        scores=dumped['scores'],
        labels=dumped['labels'],
        masks=torch.from_numpy(mask_util.decode(dumped['masks'])).permute(
            2, 0, 1))


@pytest.mark.e2e
@pytest.mark.parametrize('exported', [RETINA_DEMO], indirect=True)
def test_export_check_compares_boxes_where_nothing_scores_above(
        exported, tmp_path):
    """Untrained weights score below the threshold everywhere, and two
    empty lists agree whatever the graph computes: the check lowers the
    file's threshold (a named tensor) and PyTorch's, so that it compares
    boxes, and so fails for a wrong graph."""
    detector, path, _ = exported
    model = onnx.load(str(path))
    threshold = score_threshold_tensor(model, str(path))
    threshold.CopyFrom(
        onnx.numpy_helper.from_array(
            np.array(1.0, np.float32), threshold.name))
    unreachable = tmp_path / 'unreachable.onnx'
    onnx.save(model, str(unreachable))
    graph = DetectorGraph(detector)
    graph.score_threshold.fill_(1.0)
    image = torch.rand(
        1, 3, 128, 160, generator=torch.Generator().manual_seed(0)) * 255
    inputs = [image.numpy()]
    reference = torch_runs(graph)
    assert len(reference.as_is(inputs[0])[0]) == 0
    [agreement] = compare_detections(
        exported_runs(str(unreachable), str(unreachable)), reference, inputs,
        1.0, 'onnxruntime vs PyTorch')
    assert agreement.lowered_from == 1.0 and agreement.detections > 50
    assert agreement.error < RTOL
    assert str(agreement).endswith('nothing scored above the score '
                                   'threshold 1, so both ran at 0')
    assert float(graph.score_threshold) == 1.0  # restored
    # A wrong graph: its box regression is 1% off, which the lowered check
    # catches (at the file's threshold both would be empty).
    for tensor in model.graph.initializer:
        if tensor.name.endswith('retina_reg.weight'):
            tensor.CopyFrom(
                onnx.numpy_helper.from_array(
                    onnx.numpy_helper.to_array(tensor) * 1.01, tensor.name))
    wrong = tmp_path / 'wrong.onnx'
    onnx.save(model, str(wrong))
    [agreement] = compare_detections(
        exported_runs(str(wrong), str(wrong)), reference, inputs, 1.0, 'x')
    assert agreement.lowered_from == 1.0 and agreement.error > RTOL
    # Where the reference finds nothing and the file does, nothing is
    # lowered: that is a difference already.
    [agreement] = compare_detections(
        Runs(exported_runs(str(path), str(path)).as_is, pytest.fail),
        reference, inputs, 1.0, 'x')
    assert agreement.error == float('inf') and agreement.lowered_from is None


@pytest.mark.e2e
@pytest.mark.parametrize('exported', [RETINA_DEMO], indirect=True)
def test_renamed_pieces_are_found_by_the_names_the_file_records(exported):
    """The file records where the renamed graph's pieces went, and the check
    (its score threshold) and the time breakdown (the parts' module paths)
    find them there; a file that records no names (exported before they
    were recorded) is read by the names those files had: not these."""
    _, path, _ = exported
    assert json.loads(onnx_metadata(str(path))['names']) == {
        'score_threshold': 'detector_graph.min_score',
        'backbone': 'detector_graph.model.backbone',
        'neck': 'detector_graph.model.neck'
    }
    model = onnx.load(str(path))
    assert score_threshold_tensor(
        model, 'r.onnx').name == ('detector_graph.min_score')
    parts = Counter(onnx_node_parts(str(path)).values())
    assert parts['backbone'] > 20 and parts['neck'] > 5, parts
    meta = [p for p in model.metadata_props if p.key != 'names']
    del model.metadata_props[:]
    model.metadata_props.extend(meta)
    with pytest.raises(
            ToolError, match="no 'detector_graph.score_threshold' tensor"):
        score_threshold_tensor(model, 'renamed.onnx')


@pytest.mark.e2e
@pytest.mark.parametrize('exported', [MASK_DEMO], indirect=True)
def test_files_exported_before_the_names_were_recorded_still_run(
        exported, tmp_path):
    """Such a file (its metadata without ``names``) loads, scores as the
    same file with them, and its check and breakdown find its pieces."""
    _, path, config = exported
    model = onnx.load(str(path))
    meta = [p for p in model.metadata_props if p.key != 'names']
    assert len(meta) == len(model.metadata_props) - 1
    del model.metadata_props[:]
    model.metadata_props.extend(meta)
    old = tmp_path / 'old.onnx'
    onnx.save(model, str(old))
    parts = onnx_node_parts(str(old))
    assert parts == onnx_node_parts(str(path))
    assert Counter(parts.values())['backbone'] > 20
    assert score_threshold_tensor(
        model, 'old.onnx').name == ('detector_graph.score_threshold')
    image = torch.randint(0, 256, (3, 128, 160), dtype=torch.uint8)
    want, got = (
        exported_detector(p, config)([image], [image_sample((128, 160))])[0]
        for p in (path, old))
    for key in ('bboxes', 'scores', 'labels', 'masks'):
        assert torch.equal(got.pred_instances[key], want.pred_instances[key])


class GroupedNms(torch.nn.Module):
    """The custom op alone, as the detector graph calls it."""

    def forward(self, boxes, scores, groups):
        return batched_nms(boxes, scores, groups, 7, 0.5, torch.tensor(0.05))


def test_grouped_nms_in_onnxruntime_keeps_what_mmcv_keeps(tmp_path):
    """onnxruntime runs NMS group by group on the boxes as they are, mmcv
    on boxes moved apart by group: the same boxes, in the same order."""
    import onnxruntime
    g = torch.Generator().manual_seed(0)
    corners = torch.rand(600, 2, generator=g) * 100
    boxes = torch.cat(
        [corners, corners + 10 + 40 * torch.rand(600, 2, generator=g)], 1)
    scores = torch.rand(600, generator=g)
    groups = torch.randint(0, 7, (600, ), generator=g)
    path = tmp_path / 'nms.onnx'
    torch.onnx.export(
        GroupedNms(), (boxes, scores, groups),
        path,
        input_names=['boxes', 'scores', 'groups'],
        dynamic_shapes=[{
            0: torch.export.Dim('n')
        }] * 3,
        dynamo=True,
        custom_translation_table={
            torch.ops.fasternet.batched_nms.default: onnx_batched_nms
        },
        verbose=False)
    session = onnxruntime.InferenceSession(str(path))
    for n in (600, 150):  # dynamic number of boxes
        inputs = (boxes[:n], scores[:n], groups[:n])
        want = batched_nms(*inputs, 7, 0.5, torch.tensor(0.05))
        got = session.run(
            None,
            dict(
                zip(('boxes', 'scores', 'groups'),
                    (t.numpy() for t in inputs))))[0]
        assert 0 < len(want) < (scores[:n] > 0.05).sum()  # NMS dropped some
        assert torch.equal(torch.from_numpy(got), want)


def assert_parts_within_total(spent: dict) -> None:
    """Every part took time, none more than the whole; post-processing
    (the rest) is what the measured parts left of the total."""
    assert set(spent) == set(TIME_PARTS) | {'total'}
    assert all(0 < spent[p] < spent['total'] for p in TIME_PARTS), spent
    assert sum(spent[p] for p in TIME_PARTS) == pytest.approx(spent['total'])


def test_profiled_parts_are_the_last_runs_node_times(tmp_path):
    """An onnxruntime profile of a warm-up and two runs: each part is the
    mean of its nodes' kernel times over the two runs, in ms, whatever
    names onnxruntime gave the nodes it fused or re-laid out; the warm-up
    and the session's own events are left out."""
    node_parts = {'node_conv': 'backbone', 'fpn_add': 'neck'}
    events = []
    for run, scale in enumerate((1000, 1, 3)):  # a slow warm-up first
        start = 10_000 * run
        events.append(
            dict(cat='Session', name='model_run', ts=start, dur=9_000))
        for name, dur in (('conv', 400), ('fused fpn_add', 200),
                          ('node_conv_nchwc', 100), ('Reorder/1', 50)):
            events.append(
                dict(
                    cat='Node',
                    name=f'{name}_kernel_time',
                    ts=start + 1,
                    dur=dur * scale))
    profile = tmp_path / 'profile.json'
    profile.write_text(json.dumps(events))
    session = OnnxSession.__new__(OnnxSession)  # its profile alone
    session.session = type('Profiled', (),
                           {'end_profiling': lambda self: str(profile)})()
    times = session.node_times(2)
    assert times[('conv', 'node_conv')] == pytest.approx(0.8)
    assert node_times_by_part(times, node_parts) == pytest.approx({
        'backbone':
        1.0,
        'neck':
        0.4,
        'heads':
        0.0,
        'post-processing':
        0.1
    })


class FakeClock:
    """perf_counter for the breakdown: time passes only when ``spend`` is
    called, so each part's share is known exactly."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def spend(self, seconds: float) -> Callable:
        return lambda *args: setattr(self, 'now', self.now + seconds)


# The cascade's own exports are checked above; its parts are the demo Mask
# R-CNN's, with more heads.
@pytest.mark.e2e
@pytest.mark.parametrize('exported', [MASK_DEMO, RETINA_DEMO], indirect=True)
def test_time_breakdown_of_an_exported_detector(exported, tmp_path,
                                                monkeypatch):
    """onnxruntime's profile, mapped back to the modules the exporter
    recorded: each part gets its nodes' time."""
    detector, path, config = exported
    parts = set(onnx_node_parts(str(path)).values())
    assert parts == {'backbone', 'neck', 'heads', 'post-processing'}
    runtime = exported_detector(
        path, config, profile=str(tmp_path / 'profile'))
    image = torch.randint(0, 256, (3, 128, 160), dtype=torch.uint8)
    spent = exported_breakdown(
        str(path),
        lambda: runtime([image], [image_sample((128, 160))]),
        runtime.session,
        runs=2)
    assert_parts_within_total(spent)
    # PyTorch, timed by forward hooks, gives the same parts (and leaves no
    # hook behind).
    x = torch.randn(1, 3, 128, 160)

    def predict():
        with torch.no_grad():
            detector.predict(x, [image_sample((128, 160))])

    spent = torch_breakdown(detector, predict, 2, lambda: None)
    assert_parts_within_total(spent)
    assert not detector.backbone._forward_hooks
    assert not detector.backbone._forward_pre_hooks
    # Each part gets the time spent inside its own modules, and nothing
    # else: 1 s in the backbone, 2 s in the neck, 3 s in the box head, 4 s
    # after predict() per run.
    clock = FakeClock()
    monkeypatch.setattr(time_breakdown, 'time', clock)
    box_head = getattr(detector, 'roi_head', detector).bbox_head
    handles = [
        module.register_forward_hook(clock.spend(seconds))
        for module, seconds in ((detector.backbone, 1), (detector.neck, 2),
                                (box_head, 3))
    ]

    def predict_then_more():
        predict()
        clock.spend(4)()

    try:
        spent = torch_breakdown(detector, predict_then_more, 2, lambda: None)
    finally:
        for handle in handles:
            handle.remove()
    assert spent == pytest.approx({
        'backbone': 1e3,
        'neck': 2e3,
        'heads': 3e3,
        'post-processing': 4e3,
        'total': 1e4
    })


def test_cuda_without_onnxruntime_gpu_is_refused():
    import onnxruntime
    if 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
        pytest.skip('this onnxruntime has CUDA')
    with pytest.raises(
            ToolError, match='install onnxruntime-gpu or run on '
            'the CPU'):
        onnx_session('any.onnx', 'cuda')


@pytest.mark.parametrize('device,options,message', [
    ('gpu', None, "device must be 'cpu' or 'cuda[:N]', got 'gpu'"),
    ('cpu', dict(intra_op_threads=2), "SessionOptions has no "
     "'intra_op_threads'"),
])
def test_bad_session_settings_are_one_line(device, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        onnx_session('any.onnx', device, options)
