"""What tools/train.py and tools/test.py share.

Config loading, the launcher (including CPU-only distributed runs, which
mmengine 0.10.7 cannot start by itself), work-dir protection, and turning
user mistakes into one-line errors instead of tracebacks.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

from .annotation_audit import DegeneratePolygonsHook, audit_annotations
from .checkpointing import (latest_complete_checkpoint,
                            require_complete_checkpoint)
from .data_checks import check_dataset_paths, explain_data_error
from .errors import ToolError, UserError


def load_config(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with the command line applied."""
    # Old launchers pass --local_rank; mmengine reads LOCAL_RANK.
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if not osp.isfile(args.config):
        raise ToolError(f'config file {args.config!r} does not exist.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def setup_distributed(cfg: Config) -> None:
    """Start CPU-only distributed runs on gloo before the Runner does.

    mmengine's own start calls ``torch.cuda.set_device`` and its DDP wrapper
    passes ``device_ids=[LOCAL_RANK]``; both fail without CUDA. Once the
    process group exists, the Runner skips its own initialisation.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ToolError(
            f'--launcher {cfg.launcher} needs CUDA; on a CPU-only machine '
            f'start distributed runs with torchrun and --launcher pytorch '
            f'(tools/dist_train.sh).')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    cfg.env_cfg = {**cfg.get('env_cfg', {}), 'dist_cfg': dict(backend='gloo')}
    cfg.setdefault('model_wrapper_cfg',
                   dict(type='MMDistributedDataParallel', device_ids=None))


def existing_checkpoints(work_dir: str) -> List[str]:
    found = glob.glob(osp.join(glob.escape(work_dir), '*.pth'))
    if osp.exists(osp.join(work_dir, 'last_checkpoint')):
        found.append(osp.join(work_dir, 'last_checkpoint'))
    return sorted(found)


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` (newest complete checkpoint of the work dir),
    ``--resume PATH``, or a new run (from ``load_from`` if set).

    A new run refuses a work dir that already holds another run's
    checkpoints instead of overwriting them. A checkpoint to be loaded must
    be complete, or the error names it before anything is built.
    """
    if resume is None:
        found = existing_checkpoints(cfg.work_dir)
        if found:
            names = ', '.join(osp.basename(f) for f in found[:3])
            raise ToolError(
                f'work dir {cfg.work_dir!r} already holds checkpoints of '
                f'another run ({names}); pass --resume to continue it, or '
                f'choose another --work-dir. Nothing was overwritten.')
        if cfg.get('load_from'):
            require_complete_checkpoint(cfg.load_from, 'load_from')
        cfg.resume = False
        return
    if resume == 'auto':
        resume = latest_complete_checkpoint(cfg.work_dir)
    require_complete_checkpoint(resume, '--resume: checkpoint')
    cfg.resume = True
    cfg.load_from = resume


def build_runner(cfg: Config, splits: List[str]) -> Runner:
    """The Runner, once the data paths are checked. The annotation audit
    runs after it is built, so that its counts land in the run's log."""
    check_dataset_paths(cfg, splits)
    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    audit_annotations(cfg, splits)
    runner.register_hook(DegeneratePolygonsHook())
    return runner


class LastMetricsHook(Hook):
    """Remembers the last validation's metrics, for a closing summary."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.metrics: dict = {}

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        self.metrics = dict(metrics or {})


def format_metrics(metrics: dict) -> str:
    """The headline mAPs; CocoMetric returns nothing when nothing was
    detected above the score threshold."""
    if not metrics:
        return 'no detections above the score threshold (mAP 0)'
    keys = [k for k in metrics if k.endswith(('bbox_mAP', 'segm_mAP'))]
    return ', '.join(f'{k} {metrics[k]:.3f}' for k in keys) or str(metrics)


@contextmanager
def explain_failures(cfg: Config, splits: List[str]) -> Iterator[None]:
    """Re-raise data failures inside the Runner as one-line ToolErrors."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        message = explain_data_error(exc, cfg, splits)
        if message is None:
            raise
        raise ToolError(message) from exc


def run_cli(main: Callable[[], None]) -> int:
    """Run a tool's main; user errors become ``error: ...`` and exit 1.

    A process group is torn down before the interpreter exits: left to
    static destruction, gloo's threads can abort the process ("terminate
    called without an active exception") after a run that succeeded.
    """
    try:
        main()
    except UserError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    finally:
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.destroy_process_group()
    return 0


class ConfigOptionsAction(DictAction):
    """mmengine's DictAction, except that a single value keeps its spaces.

    mmengine deletes every space of a value (so that ``[1, 2]`` parses),
    which turns ``data_root=/data/my coco/`` into ``/data/mycoco/``. Lists,
    tuples and comma-separated values parse as before; one pair of
    surrounding quotes is still removed.
    """

    @staticmethod
    def _parse_iterable(val: str) -> Any:
        text = val.strip()
        if text[:1] in '([' or ',' in text:
            return DictAction._parse_iterable(val)
        if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':
            text = text[1:-1]
        return DictAction._parse_int_float_bool(text)


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
