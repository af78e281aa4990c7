"""Train a detector; mmdet's tools/train.py interface, FasterNet-aware.

Examples:
    python tools/train.py configs/mask_rcnn_fasternet_s.py
    python tools/train.py configs/demo/mask_rcnn_fasternet_t0_shapes.py
    python tools/train.py CONFIG --resume            # latest in work dir
"""
import argparse

from mmdet_fasternet.apis.cli import add_common_arguments, run_cli
from mmdet_fasternet.apis.runner import train


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision (CUDA only)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by total batch size / auto_scale_lr.base_batch_size'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        metavar='PATH',
        help='resume from PATH, or without PATH from the latest checkpoint '
        'in the work dir')
    add_common_arguments(parser)
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: train(parse_args())))
