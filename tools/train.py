"""Train a detector; mmdet's tools/train.py interface, FasterNet-aware.

Examples:
    python tools/train.py configs/mask_rcnn_fasternet_s.py
    python tools/train.py configs/demo/mask_rcnn_fasternet_t0_shapes.py
    python tools/train.py CONFIG --resume            # latest in work dir
"""
import argparse
import os.path as osp

import torch
from mmengine.dist import is_main_process

from mmdet_fasternet.checkpointing import use_atomic_checkpoints
from mmdet_fasternet.errors import ToolError
from mmdet_fasternet.loss_guard import NonFiniteLossHook
from mmdet_fasternet.reproducibility import (EpochSeedHook,
                                             restart_workers_each_epoch)
from mmdet_fasternet.runtime import (LastMetricsHook, add_common_arguments,
                                     apply_resume, build_runner,
                                     explain_failures, format_metrics,
                                     load_config, run_cli)


def parse_args() -> argparse.Namespace:
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
    return parser.parse_args()


def main() -> None:
    args = parse_args()
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
    restart_workers_each_epoch(cfg)
    splits = ['train', 'val'] if cfg.get('val_cfg') else ['train']

    runner = build_runner(cfg, splits)
    use_atomic_checkpoints(runner)
    last_metrics = LastMetricsHook()
    for hook in (last_metrics, NonFiniteLossHook(), EpochSeedHook()):
        runner.register_hook(hook)
    with explain_failures(cfg, splits):
        runner.train()
    if is_main_process():
        if last_metrics.metrics:
            print('final evaluation: ' + format_metrics(last_metrics.metrics))
        print(f'checkpoints and logs: {osp.abspath(cfg.work_dir)}')


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
