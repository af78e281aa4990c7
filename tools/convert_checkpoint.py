"""Convert FasterNet weights between layouts and file formats.

Reads every layout the backbone loads (official, Lightning, timm, whole
detectors, this tool's output) and writes the backbone alone.

Examples:
    python tools/convert_checkpoint.py fasternet_s.ckpt fasternet_s.pth
    python tools/convert_checkpoint.py mask_rcnn.pth backbone.safetensors \\
        --to timm
"""
import argparse

from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.convert import convert


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='checkpoint to read (path or URL)')
    parser.add_argument('dst', help='file to write')
    parser.add_argument(
        '--to',
        choices=['official', 'timm'],
        default='official',
        help='key layout to write (default: official)')
    parser.add_argument(
        '--format',
        choices=['pth', 'safetensors'],
        help='file format (default: from the extension of DST, else pth)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite DST if it exists')
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: convert(parse_args())))
