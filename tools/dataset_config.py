"""Write a config that trains one of ours on your COCO-format dataset.

The new config inherits BASE and sets the class names (from the annotation
files' "categories"), num_classes of every head, the data paths and the
evaluator's annotation file; it is checked on the data before it is
written, and never replaces an existing file.

Example:
    python tools/dataset_config.py configs/mask_rcnn_fasternet_s.py \\
        my_config.py --data-root data/mine/ \\
        --train-ann annotations/train.json --train-img train/ \\
        --val-ann annotations/val.json --val-img val/
    python tools/train.py my_config.py
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.dataset_config import (dataset_config_parser,
                                                 write_dataset_config)

if __name__ == '__main__':
    raise SystemExit(run_cli(write_dataset_config, dataset_config_parser()))
