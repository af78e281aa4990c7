"""Export a FasterNet model to ONNX with dynamic height and width.

Examples:
    python tools/export_onnx.py configs/retinanet_fasternet_s.py \\
        --weights work_dirs/retinanet_fasternet_s/epoch_12.pth \\
        --part detector --out retinanet_fasternet_s.onnx
    python tools/export_onnx.py configs/mask_rcnn_fasternet_s.py \\
        --weights CKPT --part neck --out fasternet_s_fpn.onnx

What each --part holds: see mmdet_fasternet/deploy/onnx_export.py; a whole
detector from Python: mmdet_fasternet.deploy.export.
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.export_tools import (export_onnx_from_args,
                                               export_onnx_parser)

if __name__ == '__main__':
    raise SystemExit(run_cli(export_onnx_from_args, export_onnx_parser()))
