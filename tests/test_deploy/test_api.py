"""The Python API a notebook uses: ``export`` writes and checks the file as
the tools do, ``load_exported`` predicts with it as mmdet's DetInferencer
does; every bad argument is one ``ToolError`` before anything is built."""
from pathlib import Path

import mmcv
import numpy as np
import pytest
from tool_runner import MASK_DEMO

from mmdet_fasternet.deploy import api, export, load_exported
from mmdet_fasternet.deploy.checks import DEFAULT_SHAPE
from mmdet_fasternet.errors import ToolError


@pytest.mark.e2e
def test_exported_file_predicts_through_load_exported(mask_demo_export,
                                                      tmp_path):
    """The session's Mask R-CNN file (conftest.py), loaded for the config it
    came from: mmdet's predictions on an image file, boxes and masks in
    that image's pixels; ``export`` keeps an existing file unless asked."""
    _, _, onnx_file = mask_demo_export
    image = (np.random.default_rng(0).random(
        (120, 150, 3)) * 255).astype(np.uint8)
    mmcv.imwrite(image, str(tmp_path / 'image.png'))
    detector = load_exported(onnx_file, MASK_DEMO)
    result = detector(str(tmp_path / 'image.png'), return_datasamples=True)
    [prediction] = result['predictions']
    instances = prediction.pred_instances
    assert len(instances) == 100  # every detection kept (score 0)
    assert instances.masks.shape[1:] == (120, 150)
    assert (instances.bboxes[:, 2] <= 150 + 1e-3).all()
    assert (instances.bboxes[:, 3] <= 120 + 1e-3).all()
    assert detector.model.dataset_meta['classes'][0] == 'circle'
    size = onnx_file.stat().st_size
    with pytest.raises(ToolError, match='already exists; pass --force'):
        export(MASK_DEMO, format='onnx', out=onnx_file)
    assert onnx_file.stat().st_size == size


def test_export_makes_the_files_the_tools_make(tmp_path, monkeypatch):
    """What ``export`` asks the exporters for (they are the tools', tested
    with them): a whole detector traced at ``shape``, for OpenVINO an ONNX
    file beside the IR, then the conversion with its settings; the
    default name says the config and the precision."""
    calls = []

    def recorder(name):

        def record(*args, **kwargs):
            calls.append((name, args, kwargs))
            return Path(args[1] if name == 'onnx' else args[2])

        return record

    monkeypatch.setattr(api, 'export_onnx', recorder('onnx'))
    monkeypatch.setattr(api, 'export_openvino', recorder('openvino'))
    monkeypatch.chdir(tmp_path)
    assert export(
        MASK_DEMO, 'w.pth', shape=(96, 128),
        deploy=False) == Path('mask_rcnn_fasternet_t0_shapes.onnx')
    config = str(MASK_DEMO)
    assert calls.pop() == ('onnx', (config, 'mask_rcnn_fasternet_t0_shapes'
                                    '.onnx', 'w.pth', 'detector', (96, 128),
                                    False, False), {})
    out = export(
        MASK_DEMO,
        'w.pth',
        'openvino',
        'int8',
        force=True,
        calibration_images=8,
        keep_fp32=['conv_logits'])
    assert out == Path('mask_rcnn_fasternet_t0_shapes_int8.xml')
    assert calls == [
        ('onnx', (config, 'mask_rcnn_fasternet_t0_shapes_int8.onnx', 'w.pth',
                  'detector', DEFAULT_SHAPE, True, True), {}),
        ('openvino', (config, 'mask_rcnn_fasternet_t0_shapes_int8.onnx',
                      'mask_rcnn_fasternet_t0_shapes_int8.xml', 'int8'),
         dict(force=True, calibration_images=8, keep_fp32=['conv_logits']))
    ]


@pytest.mark.parametrize('kwargs,message', [
    (dict(format='tensorrt'), "format must be one of onnx, openvino, got "
     "'tensorrt'"),
    (dict(format='onnx', precision='int8'), "onnxruntime files come in fp32, "
     "not 'int8'"),
    (dict(format='openvino', precision='fp16'), "OpenVINO files come in "
     "fp32, bf16, int8, not 'fp16'"),
    (dict(format='openvino', out='model.onnx'), 'OpenVINO files end with '
     ".xml, got 'model.onnx'"),
    (dict(format='onnx', seed=3), 'onnxruntime runs the ONNX file as '
     r'exported; seed apply only to a conversion \(OpenVINO\)'),
    (dict(format='openvino', sead=3), 'sead: not a setting of the OpenVINO '
     'conversion'),
    (dict(format='openvino', calibration_images=0, precision='int8'),
     r'calibration_images \(--calibration-images\) must be at least 1'),
])
def test_bad_export_arguments_are_one_line(kwargs, message, tmp_path,
                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolError, match=message):
        export(MASK_DEMO, **kwargs)
    assert not list(tmp_path.iterdir())  # nothing written
