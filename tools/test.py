"""Evaluate a checkpoint: COCO box (and mask) mAP through mmdet's CocoMetric.

Example:
    python tools/test.py configs/mask_rcnn_fasternet_s.py CHECKPOINT
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.runner import evaluate, evaluate_parser

if __name__ == '__main__':
    raise SystemExit(run_cli(evaluate, evaluate_parser()))
