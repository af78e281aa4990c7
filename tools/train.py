"""Train a detector; mmdet's tools/train.py interface, FasterNet-aware.

Examples:
    python tools/train.py configs/mask_rcnn_fasternet_s.py
    python tools/train.py configs/demo/mask_rcnn_fasternet_t0_shapes.py
    python tools/train.py CONFIG --resume            # latest in work dir
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.runner import train, train_parser

if __name__ == '__main__':
    raise SystemExit(run_cli(train, train_parser()))
