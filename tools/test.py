"""Evaluate a checkpoint: COCO box (and mask) mAP through mmdet's CocoMetric.

Example:
    python tools/test.py configs/mask_rcnn_fasternet_s.py CHECKPOINT
"""
import argparse

from mmdet_fasternet.apis.cli import add_common_arguments, run_cli
from mmdet_fasternet.apis.runner import evaluate


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file (path or URL), or an ONNX file of the whole '
        'detector (tools/export_onnx.py --part detector)')
    parser.add_argument('--work-dir', help='where the evaluation logs go')
    parser.add_argument(
        '--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument(
        '--show-dir',
        help='draw predictions into this folder (inside the work dir)')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='evaluate the inference form: BN folded into the convs and, '
        "on CPU, FasterNet's fused kernels (same mAP, faster)")
    add_common_arguments(parser)
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: evaluate(parse_args())))
