"""Export a FasterNet model to ONNX with dynamic height and width.

Examples:
    python tools/export_onnx.py configs/retinanet_fasternet_s.py \\
        --weights work_dirs/retinanet_fasternet_s/epoch_12.pth \\
        --part detector --out retinanet_fasternet_s.onnx
    python tools/export_onnx.py configs/mask_rcnn_fasternet_s.py \\
        --weights CKPT --part neck --out fasternet_s_fpn.onnx

What each --part holds: see mmdet_fasternet/apis/onnx_export.py.
"""
import argparse

from mmdet_fasternet.apis.cli import add_shape_argument, run_cli
from mmdet_fasternet.apis.onnx_export import PARTS, export


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export to ONNX (dynamic height and width) and check '
        'the file against PyTorch with onnxruntime')
    parser.add_argument('config', help='detector config file')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--weights', help='checkpoint to load (without: untrained weights)')
    parser.add_argument('--part', default='neck', choices=PARTS)
    add_shape_argument(parser, (320, 512), 'example input size for tracing')
    parser.add_argument(
        '--no-deploy',
        action='store_true',
        help='export eval mode instead of deploy mode (BN folded)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite --out if it exists')
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: export(parse_args())))
