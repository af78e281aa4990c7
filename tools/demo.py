"""Draw a detector's predictions: boxes, masks, class names and scores.

Runs mmdet's DetInferencer on one image or every image of a folder and
draws with its DetLocalVisualizer; one picture per input goes to --out-dir
under the input's name, and one line per image says what was kept.

Examples:
    python tools/demo.py data/shapes/val/images/ \\
        configs/demo/mask_rcnn_fasternet_t0_shapes.py \\
        --weights work_dirs/mask_rcnn_fasternet_t0_shapes/epoch_6.pth
    python tools/demo.py street.jpg configs/mask_rcnn_fasternet_s.py \\
        --weights mask_rcnn_fasternet_s_fpn_1x_coco_20221111_063419.pth
"""
import argparse

from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.inference import demo


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('inputs', help='an image, or a folder of images')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--weights',
        help='checkpoint (path or URL); without it the model is untrained')
    parser.add_argument(
        '--out-dir',
        default='work_dirs/demo',
        help='where the pictures go (default: work_dirs/demo)')
    parser.add_argument(
        '--pred-score-thr',
        type=float,
        default=0.3,
        help='draw and count detections scoring at least this (default 0.3)')
    parser.add_argument(
        '--device', help='e.g. cpu, cuda:0 (default: cuda:0 if available)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite pictures already in --out-dir')
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: demo(parse_args())))
