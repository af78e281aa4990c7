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
import argparse

from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.dataset_config import write_dataset_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a config of BASE for a COCO-format dataset')
    parser.add_argument(
        'base',
        help='config to start from, e.g. '
        'configs/mask_rcnn_fasternet_s.py')
    parser.add_argument('out', help='the config file to write (.py)')
    parser.add_argument(
        '--data-root', required=True, help='folder of the dataset')
    for split in ('train', 'val'):
        parser.add_argument(
            f'--{split}-ann',
            required=True,
            help=f'{split} annotation file, relative to --data-root')
        parser.add_argument(
            f'--{split}-img',
            required=True,
            help=f'{split} image folder, relative to --data-root')
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: write_dataset_config(parse_args())))
