"""Plot a training run's loss and mAP curves to a PNG.

Reads the scalars mmengine logs while training,
``WORK_DIR/<timestamp>/vis_data/scalars.json``. Each start of
``tools/train.py`` (``--resume`` included) adds a timestamp folder; they are
merged in time order, and where a later start repeats steps (resumed from an
older checkpoint) its records replace the earlier ones.

Example:
    python tools/plot_curves.py work_dirs/mask_rcnn_fasternet_t0_shapes
"""
import argparse

from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.curves import plot_curves


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', help='the --work-dir of a training run')
    parser.add_argument(
        '--out',
        help='PNG to write (default: WORK_DIR/curves.png, redrawn each time)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite an existing --out file')
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: plot_curves(parse_args())))
