"""Parameters and FLOPs of backbone and detector at a fixed input size.

Examples:
    python tools/get_flops.py configs/mask_rcnn_fasternet_s.py
    python tools/get_flops.py configs/mask_rcnn_fasternet_{s,m,l}.py \\
        mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py --shape 800 1280
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.flops import flops_parser, get_flops

if __name__ == '__main__':
    raise SystemExit(run_cli(get_flops, flops_parser()))
