"""Plot a training run's loss and mAP curves to a PNG.

Reads the scalars mmengine logs while training,
``WORK_DIR/<timestamp>/vis_data/scalars.json``. Each start of
``tools/train.py`` (``--resume`` included) adds a timestamp folder; they are
merged in time order, and where a later start repeats steps (resumed from an
older checkpoint) its records replace the earlier ones.

Example:
    python tools/plot_curves.py work_dirs/mask_rcnn_fasternet_t0_shapes
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.curves import curves_parser, plot_curves

if __name__ == '__main__':
    raise SystemExit(run_cli(plot_curves, curves_parser()))
