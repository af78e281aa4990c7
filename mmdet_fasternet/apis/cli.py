"""What every command-line tool here shares: its main (one-line errors),
and the options that mean the same in each. Each tool's parser sits beside
what the tool runs, so that tests parse as the tool does."""
import argparse
import sys
from typing import Callable, Optional, Sequence, Tuple

import torch

from ..engine.distributed import release_process_group
from ..errors import ToolError, UserError
from ..patches.mmengine import ConfigOptionsAction


def run_cli(run: Callable[[argparse.Namespace], object],
            parser: argparse.ArgumentParser,
            argv: Optional[Sequence[str]] = None) -> int:
    """A tool's main: ``argv`` (default: the process's command line) read by
    the tool's own ``parser``, then ``run``; user errors become
    ``error: ...`` and exit 1.

    The process group is destroyed before the interpreter exits (see
    ``engine.distributed``); an unexpected exception is left to propagate
    with its traceback, its rank possibly stuck in a collective.
    """
    status = 0
    try:
        run(parser.parse_args(argv))
    except UserError as exc:
        print(f'error: {exc}', file=sys.stderr)
        status = 1
    release_process_group()  # after the traceback, which held the Runner
    return status


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options tools/train.py and tools/test.py share with mmdet's."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=ConfigOptionsAction,
        help='override config keys, e.g. train_cfg.max_epochs=1')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help=argparse.SUPPRESS)


def check_device(name: str) -> torch.device:
    """``--device``: a device this torch can use, or a one-line error."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ToolError(f'--device {name!r}: {exc}') from exc
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ToolError(f'--device {name!r}: CUDA is not available here; '
                        f'use --device cpu.')
    return device


def add_shape_argument(parser: argparse.ArgumentParser,
                       default: Tuple[int, int], what: str) -> None:
    """``--shape H W``, the same option in every tool that takes a size."""
    parser.add_argument(
        '--shape',
        nargs=2,
        type=int,
        default=default,
        metavar=('H', 'W'),
        help=f'{what} (default: {default[0]} {default[1]})')


def check_shape(shape: Sequence[int], minimum: int) -> Tuple[int, int]:
    """``--shape H W``: both at least ``minimum``, or a one-line error."""
    if min(shape) < minimum:
        raise ToolError(f'--shape {shape[0]} {shape[1]}: height and width '
                        f'must be at least {minimum}.')
    return tuple(shape)
