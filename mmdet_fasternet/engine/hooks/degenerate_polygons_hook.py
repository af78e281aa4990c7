"""pycocotools' mask evaluation crashes on a polygon of fewer than 3
points (it takes one of 4 numbers for a box); the evaluators' ground truth
gets the training rule first. Only masks change: bbox mAP stays the one
pycocotools computes on the annotation file."""
import logging

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...datasets.annotation_audit import drop_degenerate_polygons
from ...patches.mmdet import coco_ground_truth


@HOOKS.register_module()
class DegeneratePolygonsHook(Hook):
    """Clean the ground truth CocoMetric loaded before it evaluates."""

    def before_val(self, runner) -> None:
        self._clean(runner.val_evaluator)

    def before_test(self, runner) -> None:
        self._clean(runner.test_evaluator)

    @staticmethod
    def _clean(evaluator) -> None:
        for metric in evaluator.metrics:
            coco = coco_ground_truth(metric)
            if coco is None:
                continue
            touched = sum(map(drop_degenerate_polygons, coco.anns.values()))
            if touched:
                print_log(
                    f'{type(metric).__name__} ground truth: {touched} '
                    f'objects have polygons of fewer than 3 points, left out '
                    f'of their masks (an object with none left is outlined '
                    f'by its box); boxes and bbox mAP are unaffected.',
                    logger='current',
                    level=logging.WARNING)
