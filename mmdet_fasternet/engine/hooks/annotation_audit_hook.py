"""Audit the COCO annotation files before the first epoch or test, so an
unknown category id stops the run and what mmdet skips is counted in the
run's log (see ``datasets/annotation_audit.py``)."""
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from ...datasets.annotation_audit import audit_annotations


@HOOKS.register_module()
class AnnotationAuditHook(Hook):
    """Run ``audit_annotations`` on the splits the run uses."""

    def before_train(self, runner) -> None:
        splits = ['train'] + (['val'] if runner.cfg.get('val_cfg') else [])
        audit_annotations(runner.cfg, splits)

    def before_test(self, runner) -> None:
        audit_annotations(runner.cfg, ['test'])
