"""Convert FasterNet weights between layouts and file formats.

Reads every layout the backbone loads (official, Lightning, timm, whole
detectors, this tool's output) and writes the backbone alone.

Examples:
    python tools/convert_checkpoint.py fasternet_s.ckpt fasternet_s.pth
    python tools/convert_checkpoint.py mask_rcnn.pth backbone.safetensors \\
        --to timm
"""
import argparse
import os.path as osp

from mmdet_fasternet.errors import ToolError
from mmdet_fasternet.runtime import run_cli
from mmdet_fasternet.weights import (describe_variant, extract_fasternet,
                                     official_to_timm, read_checkpoint,
                                     save_state_dict)


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


def main() -> None:
    args = parse_args()
    if osp.exists(args.dst) and not args.force:
        raise ToolError(f'{args.dst!r} already exists; pass --force to '
                        f'overwrite it.')
    fmt = args.format or ('safetensors'
                          if args.dst.endswith('.safetensors') else 'pth')
    found = extract_fasternet(read_checkpoint(args.src))
    variant = describe_variant(found.state_dict)
    out = found.state_dict if args.to == 'official' else official_to_timm(
        found.state_dict)
    save_state_dict(
        out,
        args.dst,
        fmt,
        metadata=dict(
            producer='mmdet-fasternet convert_checkpoint',
            layout=args.to,
            variant=variant))
    print(f'read {args.src} ({found.kind}): {variant}')
    print(f'wrote {args.dst}: {len(out)} tensors, {args.to} layout, {fmt}; '
          f'dropped {found.dropped} tensors that are not FasterNet weights')


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
