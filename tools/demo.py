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
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.inference import demo, demo_parser

if __name__ == '__main__':
    raise SystemExit(run_cli(demo, demo_parser()))
