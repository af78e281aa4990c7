"""The closing lines of a run: its headline mAPs and where it wrote."""
import os.path as osp
from typing import Optional

from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import Hook


def format_metrics(metrics: dict) -> str:
    """The headline mAPs; CocoMetric returns nothing when nothing was
    detected above the score threshold."""
    if not metrics:
        return 'no detections above the score threshold (mAP 0)'
    keys = [k for k in metrics if k.endswith(('bbox_mAP', 'segm_mAP'))]
    return ', '.join(f'{k} {metrics[k]:.3f}' for k in keys) or str(metrics)


@HOOKS.register_module()
class MetricsSummaryHook(Hook):
    """Print ``final evaluation: ...`` and ``checkpoints and logs: ...``
    after training, ``test results: ...`` after testing (main process)."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.metrics: Optional[dict] = None

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        self.metrics = dict(metrics or {})

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        if self.metrics is not None:
            print('final evaluation: ' + format_metrics(self.metrics))
        print(f'checkpoints and logs: {osp.abspath(runner.work_dir)}')

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        if is_main_process():
            print(f'test results: {format_metrics(metrics or {})}')
