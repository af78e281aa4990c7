"""Refuse a checkpoint that does not fit the model (``tools/test.py``).

Stricter than mmdet, whose test loads what fits and warns: a wrong
checkpoint must not read as a bad model. The check runs on the
checkpoint mmengine has just read, before it goes into the model, so the
file is read once.
"""
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...safe_loading import check_state_fits


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Raise CheckpointError naming the first missing, unexpected or
    reshaped tensor of the checkpoint the Runner loads."""

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        check_state_fits(model, checkpoint, runner.cfg.load_from)
