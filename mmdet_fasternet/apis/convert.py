"""tools/convert_checkpoint.py: FasterNet weights in another layout or
file format.

Reads every layout the backbone loads (official, Lightning, timm, whole
detectors, this tool's output) and writes the backbone alone.
"""
import argparse

from ..errors import refuse_overwrite
from ..models.pretrained import (describe_variant, extract_fasternet,
                                 official_to_timm, save_state_dict)
from ..safe_loading import read_checkpoint


def convert(args: argparse.Namespace) -> None:
    """Write the FasterNet weights of ``args.src`` to ``args.dst`` in the
    ``args.to`` layout; the format is ``args.format``, else the extension's
    (``.safetensors``), else pth."""
    refuse_overwrite(args.dst, 'output file', args.force)
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


def convert_parser() -> argparse.ArgumentParser:
    """tools/convert_checkpoint.py's command line."""
    parser = argparse.ArgumentParser(
        description='Convert FasterNet weights between layouts and file '
        'formats.')
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
    return parser
