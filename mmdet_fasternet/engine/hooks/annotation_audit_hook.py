"""Audit the COCO annotation files before the first epoch or test, so an
unknown category id stops the run and what mmdet skips is counted in the
run's log (see ``datasets/annotation_audit.py``). Only the main process
reads the files again; every rank gets its verdict."""
from typing import List

from mmdet.registry import HOOKS
from mmengine.dist import (broadcast_object_list, get_world_size,
                           is_main_process)
from mmengine.hooks import Hook

from ...datasets.annotation_audit import audit_annotations
from ...errors import DataError


@HOOKS.register_module()
class AnnotationAuditHook(Hook):
    """Run ``audit_annotations`` on the splits the run uses."""

    def before_train(self, runner) -> None:
        splits = ['train'] + (['val'] if runner.cfg.get('val_cfg') else [])
        self._audit(runner, splits)

    def before_test(self, runner) -> None:
        self._audit(runner, ['test'])

    @staticmethod
    def _audit(runner, splits: List[str]) -> None:
        verdict = [None]
        if is_main_process():
            try:
                audit_annotations(runner.cfg, splits)
            except DataError as exc:
                verdict = [str(exc)]
        if get_world_size() > 1:
            broadcast_object_list(verdict)
        if verdict[0]:
            raise DataError(verdict[0])
