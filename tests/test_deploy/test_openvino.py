"""The whole detector as an OpenVINO IR (tools/export_openvino.py): fp32
gives what onnxruntime gives, INT8 is calibrated on the config's training
set, deterministically, with the layers asked for left in fp32, and every
bad file or option gets one line. tools/test.py and tools/demo.py take
the .xml: test_onnx.py runs them on it beside the .onnx."""
import json
import re
import sys

import numpy as np
import onnx
import pytest
import torch
from mmdet.structures import DetDataSample
from same_detections import assert_same_detections
from tool_runner import (CONFIGS, MASK_DEMO, call, exported_detector, one_line,
                         parse_cfg_options, tiny_shapes_options)

from mmdet_fasternet.apis.export_tools import export_openvino_from_args
from mmdet_fasternet.config_files import load_model_config
from mmdet_fasternet.cpu import cpu_description
from mmdet_fasternet.datasets.shapes import SHAPE_CLASSES
from mmdet_fasternet.deploy import openvino_runtime, precisions
from mmdet_fasternet.deploy.checks import with_lowered_score_threshold
from mmdet_fasternet.deploy.exported_detector import ExportedDetector
from mmdet_fasternet.deploy.onnxruntime_runtime import OnnxSession
from mmdet_fasternet.deploy.openvino_export import calibration_images_of
from mmdet_fasternet.deploy.openvino_runtime import (import_openvino,
                                                     ir_metadata,
                                                     keep_fp32_scope, read_ir,
                                                     save_ir, to_ir)
from mmdet_fasternet.errors import CheckpointError, ToolError


@pytest.mark.e2e
def test_fp32_ir_gives_what_onnxruntime_gives(mask_demo_export, mask_demo_ir):
    _, _, onnx_file = mask_demo_export
    xml, stdout = mask_demo_ir
    checks = [
        line for line in stdout.splitlines()
        if line.startswith('OpenVINO vs onnxruntime at ')
    ]
    assert len(checks) == 2 and all('over 100 detections' in c
                                    for c in checks), stdout
    assert max(float(re.search(r'difference (\S+)', c)[1])
               for c in checks) < 1e-4
    # Weights kept in fp32 (save_model would halve them to fp16).
    assert xml.with_suffix('.bin').stat().st_size > 0.95 * (
        onnx_file.stat().st_size - xml.stat().st_size)
    meta = ir_metadata(read_ir(str(xml)))
    assert json.loads(meta['classes']) == list(SHAPE_CLASSES)
    assert meta['precision'] == 'fp32'
    assert json.loads(meta['preprocessing'])['swap_channels'] is True
    # As tools/test.py runs it: boxes scaled back, masks pasted, at another
    # size and scale than the export's.
    openvino, onnxruntime = (
        exported_detector(path, MASK_DEMO) for path in (xml, onnx_file))
    assert isinstance(openvino.session, openvino_runtime.OpenVinoSession)
    assert isinstance(onnxruntime.session, OnnxSession)
    image = torch.randint(0, 256, (3, 150, 230), dtype=torch.uint8)
    meta = dict(
        img_shape=(150, 230), ori_shape=(100, 153), scale_factor=(1.5, 1.5))
    want, got = (
        runtime([image], [DetDataSample(metainfo=meta)])[0].pred_instances
        for runtime in (onnxruntime, openvino))
    assert len(want) == 100 and want.masks.shape[1:] == (100, 153)
    assert_same_detections(got, want, box_atol=1e-3, score_atol=1e-5)


@pytest.mark.e2e
def test_int8_ir_is_calibrated_on_the_training_set(mask_demo_export, tmp_path,
                                                   capsys, monkeypatch):
    """Three images of the training set through the test pipeline, drawn
    by the seed; the same images give the same file; the stem and the
    layers asked for stay fp32; the tool says what OpenVINO runs each
    layer in, and on a CPU without VNNI or AMX that INT8 does not pay
    there."""
    _, _, onnx_file = mask_demo_export
    options = tiny_shapes_options(tmp_path / 'data')
    monkeypatch.setattr(precisions, 'lacks', lambda p: 'VNNI or AMX')
    xml = tmp_path / 'int8.xml'
    assert call(
        export_openvino_from_args,
        MASK_DEMO,
        onnx_file,
        out=xml,
        precision='int8',
        calibration_images='3',
        seed='1',
        keep_fp32=['conv_logits'],
        cfg_options=options) == 0
    out = capsys.readouterr().out
    assert ('; this CPU has no VNNI or AMX, which int8 needs to run faster '
            'than fp32 (docs/deploy.md); recorded in the IR') in out
    assert ('calibrated on 3 training images (seed 1); kept in fp32: '
            'the stem, conv_logits') in out
    assert re.search(
        r'OpenVINO int8 vs onnxruntime fp32 on 3 calibration '
        r'images: \d+ of \d+ detections agree', out)
    cfg = load_model_config(str(MASK_DEMO))
    cfg.merge_from_dict(parse_cfg_options(*options))
    images = calibration_images_of(cfg, 3, seed=1)
    assert [i.shape for i in images] == [(1, 3, 256, 256)] * 3
    assert not np.array_equal(images[0], calibration_images_of(cfg, 3, 0)[0])
    model = read_ir(str(xml))
    assert ir_metadata(model)['precision'] == 'int8'
    assert json.loads(ir_metadata(model)['ran'])['layers'] == \
        openvino_runtime.layer_precisions(openvino_runtime.compile_ir(model))
    quantized = {
        op.get_friendly_name(): op.input_value(0).get_node().get_type_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() == 'Convolution'
    }
    logits = keep_fp32_scope(model, ['conv_logits'], stem=False)
    kept = keep_fp32_scope(model, ['conv_logits'])
    assert len(logits) == 1 and kept == [next(iter(quantized)), *logits]
    assert json.loads(ir_metadata(model)['keep_fp32']) == kept
    assert all(quantized[op] != 'FakeQuantize' for op in kept)
    assert keep_fp32_scope(model, [], stem=False) == []
    assert sum(k == 'FakeQuantize' for k in quantized.values()) > 20
    again = tmp_path / 'again.xml'
    save_ir(to_ir(str(onnx_file), 'int8', images, ['conv_logits']), str(again))
    assert again.with_suffix('.bin').read_bytes() == xml.with_suffix(
        '.bin').read_bytes()


def test_bf16_ir_says_what_openvino_runs_it_in(mask_demo_export, tmp_path,
                                               capsys, monkeypatch):
    """The fp32 weights, marked bf16, compiled asking for bf16. What each
    layer then runs in is OpenVINO's choice per CPU (fp32 on AVX2, bf16
    with AMX or AVX-512 BF16, and bf16 on an AVX-512 CPU without BF16):
    the tool reads it from the execution graph, prints it and records it
    in the IR; compared with onnxruntime, not gated."""
    _, _, onnx_file = mask_demo_export
    xml = tmp_path / 'bf16.xml'
    assert call(
        export_openvino_from_args,
        MASK_DEMO,
        onnx_file,
        out=xml,
        precision='bf16') == 0
    out = capsys.readouterr().out
    assert re.search(
        r'OpenVINO bf16 vs onnxruntime fp32 on 2 random images: \d+ of '
        r'200 detections agree', out)
    model = read_ir(str(xml))
    assert ir_metadata(model)['precision'] == 'bf16'
    assert openvino_runtime.compile_properties(model) == dict(
        INFERENCE_PRECISION_HINT='bf16')
    compiled = openvino_runtime.compile_ir(model)
    counts = openvino_runtime.layer_precisions(compiled)
    assert json.loads(ir_metadata(model)['ran']) == dict(
        cpu=cpu_description(), layers=counts)
    report = openvino_runtime.precision_report(ir_metadata(model), counts)
    assert f'{report}; recorded in the IR' in out
    # Where the CPU lacks what bf16 needs, the line says so (cpu.lacks).
    assert report.startswith(
        'OpenVINO runs this bf16 IR with '
        f'{precisions.describe_precisions(counts)} here (')
    monkeypatch.setattr(precisions, 'lacks', lambda p: None)
    assert openvino_runtime.precision_report(
        ir_metadata(model), counts).endswith(f'({cpu_description()})')
    monkeypatch.setattr(precisions, 'lacks', lambda p: 'AMX or AVX-512 BF16')
    assert openvino_runtime.precision_report(
        ir_metadata(model), counts).endswith(
            '; this CPU has no AMX or AVX-512 BF16, which bf16 needs to run '
            'faster than fp32 (docs/deploy.md)')
    # Marked fp32, it is compiled asking for fp32, which every CPU runs.
    model.set_rt_info('fp32', ['fasternet', 'precision'])
    assert openvino_runtime.compile_properties(model) == dict(
        INFERENCE_PRECISION_HINT='f32')
    assert set(
        openvino_runtime.layer_precisions(
            openvino_runtime.compile_ir(model))) == {'fp32'}


def test_precisions_are_described_most_first():
    assert precisions.describe_precisions({
        'fp32': 2,
        'int8': 72
    }) == ('72 of 74 weighted layers in int8, 2 in fp32')
    assert precisions.describe_precisions(
        {'fp32': 74}) == ('74 of 74 weighted layers in fp32')
    assert precisions.describe_precisions({}) == 'no weighted layers'


def test_bad_options_and_files_are_one_line(mask_demo_export, mask_demo_ir,
                                            tmp_path, monkeypatch):
    _, _, onnx_file = mask_demo_export
    xml, _ = mask_demo_ir
    line = one_line(
        export_openvino_from_args, MASK_DEMO, onnx_file, out='m.onnx')
    assert 'out (--out) must end with .xml' in line
    taken = tmp_path / 'taken.xml'
    taken.with_suffix('.bin').write_bytes(b'mine')
    line = one_line(export_openvino_from_args, MASK_DEMO, onnx_file, out=taken)
    assert 'taken.bin' in line and '--force' in line
    assert taken.with_suffix('.bin').read_bytes() == b'mine'
    line = one_line(
        export_openvino_from_args,
        MASK_DEMO,
        tmp_path / 'no.onnx',
        out=tmp_path / 'a.xml')
    assert "ONNX file" in line and 'does not exist' in line
    line = one_line(
        export_openvino_from_args,
        CONFIGS / 'mask_rcnn_fasternet_t0.py',
        onnx_file,
        out=tmp_path / 'b.xml')
    assert 'was exported for 4 classes' in line
    model = onnx.load(str(onnx_file))
    del model.metadata_props[:]
    bare = tmp_path / 'bare.onnx'
    onnx.save(model, str(bare))
    line = one_line(
        export_openvino_from_args, MASK_DEMO, bare, out=tmp_path / 'c.xml')
    assert 'not a whole detector' in line
    line = one_line(
        export_openvino_from_args,
        MASK_DEMO,
        onnx_file,
        out=tmp_path / 'd.xml',
        precision='int8',
        calibration_images='0')
    assert '(--calibration-images) must be at least 1' in line
    line = one_line(
        export_openvino_from_args,
        MASK_DEMO,
        onnx_file,
        out=tmp_path / 'd.xml',
        keep_fp32=['conv_logits'])
    assert "add precision='int8' (--precision int8)" in line
    with pytest.raises(
            ToolError,
            match=r"--keep-fp32 'nothing\.like\.it' "
            'matches no layer'):
        keep_fp32_scope(read_ir(str(xml)), ['nothing.like.it'])
    assert not list(tmp_path.glob('[abcd].*'))  # nothing written
    # A file whose score threshold is not the tensor it names (an older
    # export, or an edited one).
    old = onnx.load(str(onnx_file))
    for tensor in old.graph.initializer:
        if tensor.name == 'detector_graph.score_threshold':
            tensor.name = 'val_0'
    with pytest.raises(
            ToolError, match=r'\(an older export\); export it again'):
        with_lowered_score_threshold(old, 'old.onnx')
    # Without the extra.
    monkeypatch.setitem(sys.modules, 'openvino', None)
    with pytest.raises(
            ToolError,
            match=re.escape("pip install 'mmdet-fasternet[openvino]'")):
        import_openvino()


def test_damaged_or_foreign_ir_is_refused(mask_demo_export, mask_demo_ir,
                                          tmp_path):
    xml, _ = mask_demo_ir
    with pytest.raises(CheckpointError, match='exported for 4 classes'):
        ExportedDetector(str(xml), ['cat', 'dog'])
    ov = import_openvino()
    bare = tmp_path / 'bare.xml'  # converted by OpenVINO's own tools
    ov.save_model(ov.convert_model(str(mask_demo_export[2])), str(bare))
    with pytest.raises(
            CheckpointError,
            match='records no class names: .*'
            'converted by tools/export_openvino.py'):
        ExportedDetector(str(bare), SHAPE_CLASSES)
    copy = tmp_path / 'copy.xml'
    copy.write_bytes(xml.read_bytes())
    with pytest.raises(CheckpointError, match='has no weights file beside'):
        read_ir(str(copy))
    weights = xml.with_suffix('.bin').read_bytes()
    copy.with_suffix('.bin').write_bytes(weights[:len(weights) // 2])
    with pytest.raises(
            CheckpointError,
            match=r'shorter than the model '
            r'needs \(truncated\); export it again'):
        read_ir(str(copy))
