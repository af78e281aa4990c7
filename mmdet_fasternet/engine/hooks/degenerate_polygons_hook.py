"""pycocotools' mask evaluation crashes on a polygon of fewer than 3
points (it takes one of 4 numbers for a box); the evaluators' ground truth
gets the training rule first."""
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from ...datasets.annotation_audit import drop_degenerate_polygons
from ...patches import coco_ground_truth


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
            if coco is not None:
                for ann in coco.anns.values():
                    drop_degenerate_polygons(ann)
