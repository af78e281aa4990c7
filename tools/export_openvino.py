"""Convert a whole detector exported to ONNX into an OpenVINO IR.

Examples:
    python tools/export_onnx.py configs/mask_rcnn_fasternet_s.py \\
        --weights CKPT --part detector --out mask_rcnn_s.onnx
    python tools/export_openvino.py configs/mask_rcnn_fasternet_s.py \\
        mask_rcnn_s.onnx --out mask_rcnn_s.xml                  # fp32
    python tools/export_openvino.py configs/mask_rcnn_fasternet_s.py \\
        mask_rcnn_s.onnx --out mask_rcnn_s_int8.xml --precision int8
    python tools/test.py configs/mask_rcnn_fasternet_s.py mask_rcnn_s_int8.xml

Needs the openvino extra: pip install 'mmdet-fasternet[openvino]'.
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.export_tools import (export_openvino_from_args,
                                               export_openvino_parser)

if __name__ == '__main__':
    raise SystemExit(
        run_cli(export_openvino_from_args, export_openvino_parser()))
