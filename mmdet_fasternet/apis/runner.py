"""What tools/train.py and tools/test.py add to mmengine's Runner.

The safeguards themselves are hooks declared in the configs (see
``engine/hooks``), so every entry point gets them; a command-line tool
adds what only it can: the config file and options, work-dir protection,
a CPU-only (gloo) start for torchrun, data-path checks before anything is
built, and one-line errors.
"""
import argparse
import glob
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
from mmdet.evaluation import DumpDetResults
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from ..checkpoint_files import is_safetensors_file, latest_complete_checkpoint
from ..config_files import find_config
from ..datasets.data_checks import check_dataset_paths, explain_data_error
from ..deploy.exported_detector import use_exported_file
from ..deploy.runtimes import is_exported_file
from ..engine.distributed import start_cpu_process_group
from ..errors import ToolError, UserError, refuse_overwrite
from ..models.checkpoint_fit import not_resumable
from ..safe_loading import check_checkpoint_file
from .cli import add_common_arguments


def load_config(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with the command line applied."""
    # Old launchers pass --local_rank; mmengine reads LOCAL_RANK.
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(find_config(args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def existing_checkpoints(work_dir: str) -> List[str]:
    found = glob.glob(osp.join(glob.escape(work_dir), '*.pth'))
    if osp.exists(osp.join(work_dir, 'last_checkpoint')):
        found.append(osp.join(work_dir, 'last_checkpoint'))
    return sorted(found)


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` (newest complete checkpoint of the work dir),
    ``--resume PATH``, or a new run (from ``load_from`` if set).

    A new run refuses a work dir that already holds another run's
    checkpoints instead of overwriting them. ``--resume`` in a work dir
    with no checkpoint at all starts a new run, as mmdet does: a requeued
    cluster job repeats its command line, ``--resume`` included, from its
    first start on. A checkpoint to be loaded must be complete, or the
    error names it before anything is built.
    """
    if resume == 'auto' and not existing_checkpoints(cfg.work_dir):
        print_log(
            f'--resume: work dir {cfg.work_dir!r} holds no checkpoint yet; '
            f'starting a new run.',
            logger='current')
        resume = None
    if resume is None:
        found = existing_checkpoints(cfg.work_dir)
        if found:
            names = ', '.join(osp.basename(f) for f in found[:3])
            raise ToolError(
                f'work dir {cfg.work_dir!r} already holds checkpoints of '
                f'another run ({names}); pass --resume to continue it, or '
                f'choose another --work-dir. Nothing was overwritten.')
        if cfg.get('load_from'):
            check_checkpoint_file(cfg.load_from, 'load_from')
        cfg.resume = False
        return
    if resume == 'auto':
        resume = latest_complete_checkpoint(cfg.work_dir)
    check_checkpoint_file(
        resume, '--resume: checkpoint',
        ' --resume without a path picks the newest complete checkpoint of '
        'the work dir.')
    if is_safetensors_file(resume):
        raise not_resumable(resume, 'a safetensors file of weights')
    cfg.resume = True
    cfg.load_from = resume


def add_hook(cfg: Config, hook_type: str) -> None:
    """Declare ``hook_type`` in ``custom_hooks`` unless the config does."""
    hooks = list(cfg.get('custom_hooks', []))
    if all(h.get('type') != hook_type for h in hooks):
        cfg.custom_hooks = hooks + [dict(type=hook_type)]


def build_runner(cfg: Config, splits: List[str]) -> Runner:
    """The Runner, once the data paths are checked; every checkpoint it
    loads must fit, even with a config that does not declare the hook."""
    add_hook(cfg, 'CheckpointFitHook')
    check_dataset_paths(cfg, splits)
    start_cpu_process_group(cfg)
    return Runner.from_cfg(cfg)


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


def train(args: argparse.Namespace) -> None:
    """tools/train.py: train the config's detector."""
    cfg = load_config(args)
    if args.amp:
        if not torch.cuda.is_available():
            raise ToolError('--amp needs a CUDA GPU; drop it on CPU.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ToolError(f'--auto-scale-lr: {args.config} has no '
                            f'auto_scale_lr.base_batch_size.')
        cfg.auto_scale_lr.enable = True
    apply_resume(cfg, args.resume)
    splits = ['train', 'val'] if cfg.get('val_cfg') else ['train']
    runner = build_runner(cfg, splits)
    with explain_failures(cfg, splits):
        runner.train()


def evaluate(args: argparse.Namespace) -> None:
    """tools/test.py: evaluate a checkpoint (or an exported detector: ONNX,
    OpenVINO IR) with the config's evaluator."""
    cfg = load_config(args)
    if is_exported_file(args.checkpoint):
        if args.deploy:
            raise ToolError('--deploy applies to checkpoints; an exported '
                            'file is in deploy mode already.')
        use_exported_file(cfg, args.checkpoint)
    else:
        check_checkpoint_file(args.checkpoint)
        cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ToolError(f'--out must end with .pkl, got {args.out!r}.')
        refuse_overwrite(args.out, '--out')
    if args.show_dir:
        cfg.default_hooks.visualization.update(
            draw=True, test_out_dir=args.show_dir)
    if args.deploy:
        add_hook(cfg, 'DeployHook')
    runner = build_runner(cfg, ['test'])
    with explain_failures(cfg, ['test']):
        if args.out:  # builds the test loop: dataset and evaluator
            runner.test_evaluator.metrics.append(
                DumpDetResults(out_file_path=args.out))
        runner.test()


def evaluate_parser() -> argparse.ArgumentParser:
    """tools/test.py's command line."""
    parser = argparse.ArgumentParser(description='Test (evaluate) a detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file (path or URL), or an exported whole detector: '
        '.onnx (tools/export_onnx.py --part detector) or OpenVINO .xml '
        '(tools/export_openvino.py)')
    parser.add_argument('--work-dir', help='where the evaluation logs go')
    parser.add_argument(
        '--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument(
        '--show-dir',
        help='draw predictions into this folder (inside the work dir)')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='evaluate the inference form: BN folded into the convs and, '
        "on CPU, FasterNet's fused kernels (same mAP, faster)")
    add_common_arguments(parser)
    return parser


def train_parser() -> argparse.ArgumentParser:
    """tools/train.py's command line."""
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision (CUDA only)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by total batch size / auto_scale_lr.base_batch_size'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        metavar='PATH',
        help='resume from PATH, or without PATH from the latest checkpoint '
        'in the work dir')
    add_common_arguments(parser)
    return parser
