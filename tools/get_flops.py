"""Parameters and FLOPs of backbone and detector at a fixed input size.

Examples:
    python tools/get_flops.py configs/mask_rcnn_fasternet_s.py
    python tools/get_flops.py configs/mask_rcnn_fasternet_{s,m,l}.py \\
        mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py --shape 800 1280
"""
import argparse

from mmdet_fasternet.apis.cli import add_shape_argument, run_cli
from mmdet_fasternet.apis.flops import get_flops


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs (1 multiply-add = 1 FLOP, '
        "mmengine's convention) at a fixed input size")
    parser.add_argument(
        'configs',
        nargs='+',
        help='config files, or mmdet::NAME for configs shipped with mmdet')
    add_shape_argument(parser, (800, 1280), 'input height and width')
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: get_flops(parse_args())))
