"""Convert FasterNet weights between layouts and file formats.

Reads every layout the backbone loads (official, Lightning, timm, whole
detectors, this tool's output) and writes the backbone alone.

Examples:
    python tools/convert_checkpoint.py fasternet_s.ckpt fasternet_s.pth
    python tools/convert_checkpoint.py mask_rcnn.pth backbone.safetensors \\
        --to timm
"""
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.convert import convert, convert_parser

if __name__ == '__main__':
    raise SystemExit(run_cli(convert, convert_parser()))
