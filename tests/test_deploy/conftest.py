"""Exports the ONNX and OpenVINO tests share, made once per session."""
import pytest
import torch
from tool_runner import MASK_DEMO, TOOLS, describe, many_detections, run_tool


@pytest.fixture(scope='session')
def mask_demo_export(tmp_path_factory):
    """The demo Mask R-CNN with fresh weights, saved as a checkpoint and
    exported from it by tools/export_onnx.py (eval mode; every detection
    kept, as many_detections keeps them)."""
    folder = tmp_path_factory.mktemp('mask_export')
    detector = many_detections(MASK_DEMO)
    ckpt = folder / 'trained.pth'
    torch.save({'state_dict': detector.state_dict(), 'meta': {}}, ckpt)
    config = folder / 'keep_all.py'
    config.write_text(
        f'_base_ = {str(MASK_DEMO)!r}\n'
        'model = dict(test_cfg=dict(rcnn=dict(score_thr=0.0)))\n')
    onnx_file = folder / 'mask.onnx'
    result = run_tool([
        TOOLS / 'export_onnx.py', config, '--part', 'detector', '--weights',
        ckpt, '--out', onnx_file, '--shape', '128', '160', '--no-deploy'
    ], folder)
    assert result.returncode == 0, describe(result)
    return detector, ckpt, onnx_file


@pytest.fixture(scope='session')
def mask_demo_ir(mask_demo_export, tmp_path_factory):
    """That ONNX file as an fp32 OpenVINO IR, by tools/export_openvino.py;
    the IR and what the tool printed."""
    _, _, onnx_file = mask_demo_export
    folder = tmp_path_factory.mktemp('mask_ir')
    xml = folder / 'mask.xml'
    result = run_tool(
        [TOOLS / 'export_openvino.py', MASK_DEMO, onnx_file, '--out', xml],
        folder)
    assert result.returncode == 0, describe(result)
    return xml, result.stdout
