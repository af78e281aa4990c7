"""Every checkpoint a Runner loads must fit its model, and hold a run's
progress to be resumed.

Stricter than mmdet, which loads what fits and warns: evaluating a
checkpoint, resuming one, or loading weights whose backbone does not fit
is an error naming the first offending tensor. Fine-tuning (``load_from``
before training) may leave the layers that depend on the classes at
their initial values; one log line names them. Whether the Runner trains
is known only after it has loaded, so an evaluation's strict check waits
for ``before_test`` / ``before_val``, still before the first image.
"""
from typing import Optional

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ...models.checkpoint_fit import (FineTuningFit, check_resumable,
                                      check_state_fits, fine_tuning_fit)


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Raise CheckpointError for a checkpoint that does not fit."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.fine_tuning: Optional[FineTuningFit] = None
        self.source = ''
        self.training = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.source = runner.cfg.get('load_from') or 'the checkpoint'
        if runner.cfg.get('resume'):
            check_resumable(checkpoint, self.source)
            check_state_fits(model, checkpoint, self.source)
        else:
            self.fine_tuning = fine_tuning_fit(model, checkpoint, self.source)

    def before_train(self, runner) -> None:
        self.training = True
        if self.fine_tuning is not None:
            print_log(self.fine_tuning.summary(self.source), logger='current')

    def before_val(self, runner) -> None:
        self._refuse_to_evaluate_a_misfit()

    def before_test(self, runner) -> None:
        self._refuse_to_evaluate_a_misfit()

    def _refuse_to_evaluate_a_misfit(self) -> None:
        if self.fine_tuning is not None and not self.training:
            raise self.fine_tuning.strict_error
