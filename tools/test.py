"""Evaluate a checkpoint: COCO box (and mask) mAP through mmdet's CocoMetric.

Example:
    python tools/test.py configs/mask_rcnn_fasternet_s.py CHECKPOINT
"""
import argparse
import os.path as osp

from mmdet.evaluation import DumpDetResults
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmdet_fasternet.checkpointing import require_complete_checkpoint
from mmdet_fasternet.errors import ToolError
from mmdet_fasternet.models.deploy import deploy_model
from mmdet_fasternet.runtime import (add_common_arguments, build_runner,
                                     explain_failures, format_metrics,
                                     load_config, run_cli)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
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
    return parser.parse_args()


class DeployHook(Hook):
    """Switches the model to deploy mode once the checkpoint is loaded."""

    def before_test(self, runner) -> None:
        deploy_model(runner.model)


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    require_complete_checkpoint(args.checkpoint, 'checkpoint')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ToolError(f'--out must end with .pkl, got {args.out!r}.')
        if osp.exists(args.out):
            raise ToolError(f'--out {args.out!r} already exists; remove it '
                            f'or choose another file.')
    if args.show_dir:
        cfg.default_hooks.visualization.update(
            draw=True, test_out_dir=args.show_dir)

    runner = build_runner(cfg, ['test'])
    if args.deploy:
        runner.register_hook(DeployHook())
    with explain_failures(cfg, ['test']):
        if args.out:  # builds the test loop: dataset and evaluator
            runner.test_evaluator.metrics.append(
                DumpDetResults(out_file_path=args.out))
        metrics = runner.test()
    if is_main_process():
        print(f'test results: {format_metrics(metrics)}')


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
