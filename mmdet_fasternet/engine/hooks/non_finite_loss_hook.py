"""Stop training at the first NaN or infinite loss, before it is saved.

By the time a hook sees the loss, the optimizer has already stepped with
its gradients, so the weights in memory may be NaN. Stopping in
``after_train_iter`` (before the CheckpointHook's save) keeps the last good
checkpoint as the newest one; a second check refuses to save non-finite
weights whatever the reason.
"""
import logging
import shlex
from typing import Optional

import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...checkpoint_files import recorded_latest
from ...errors import TrainingError

FIX = ('Common fixes: a lower learning rate (optim_wrapper.optimizer.lr), '
       'gradient clipping (optim_wrapper.clip_grad=dict(max_norm=10)) or a '
       'longer warm-up')


def _last_good(runner) -> str:
    """What is kept and how to go on. ``last_checkpoint`` is written only
    after a save completed, unlike the message hub's ``last_ckpt``."""
    path = recorded_latest(runner.work_dir)
    if not path:
        return f'No checkpoint had been saved yet. {FIX}.'
    return (f'The last good checkpoint, {path!r}, is kept. {FIX}, in a new '
            f'run that starts from it (--cfg-options '
            f'load_from={shlex.quote(path)} '
            f'--work-dir NEW_DIR).')


def _weights_finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise TrainingError when any rank's loss is NaN or infinite.

    Every rank takes the decision together (one all-reduced flag), so no
    rank is left waiting in the next collective.

    Under mixed precision with a loss scaler (``--amp``), an occasional
    overflow is normal: the scaler skips that step and lowers its scale.
    Such steps pass while the weights stay finite, up to
    ``max_skipped_steps`` in a row; a loss that stays non-finite longer
    (the scale has then been halved that many times) is a diverged run.
    """

    # After the LoggerHook (the log shows the loss), before checkpoints.
    priority = 'LOW'

    def __init__(self, max_skipped_steps: int = 20) -> None:
        self.max_skipped_steps = max_skipped_steps
        self._skipped = 0

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        losses = {
            k: v
            for k, v in (outputs or {}).items()
            if 'loss' in k and isinstance(v, torch.Tensor)
        }
        bad = [k for k, v in losses.items() if not torch.isfinite(v).all()]
        if get_world_size() > 1:
            device = next(iter(losses.values())).device if losses else 'cpu'
            flag = torch.tensor(float(bool(bad)), device=device)
            all_reduce(flag)
            stop = flag.item() > 0
        else:
            stop = bool(bad)
        if not stop:
            self._skipped = 0
            return
        where = (f'a non-finite {", ".join(bad)} ({losses[bad[0]].item()})'
                 if bad else 'a non-finite loss on another rank')
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is not None and _weights_finite(runner.model):
            self._skipped += 1
            if self._skipped <= self.max_skipped_steps:
                print_log(
                    f'iteration {runner.iter + 1}: {where} under mixed '
                    f'precision; the loss scaler skipped the step '
                    f'({self._skipped} in a row).',
                    logger='current',
                    level=logging.WARNING)
                return
            where += (f' in {self._skipped} iterations in a row under '
                      f'mixed precision (each step skipped by the loss '
                      f'scaler)')
        raise TrainingError(
            f'training stopped at epoch {runner.epoch + 1}, iteration '
            f'{runner.iter + 1}: {where}. {_last_good(runner)}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = [
            k for k, v in checkpoint.get('state_dict', {}).items()
            if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not torch.isfinite(v).all()
        ]
        if bad:
            more = f' and {len(bad) - 1} more' if len(bad) > 1 else ''
            raise TrainingError(
                f'refusing to save a checkpoint whose weights are not finite '
                f'({bad[0]!r}{more}). {_last_good(runner)}')
