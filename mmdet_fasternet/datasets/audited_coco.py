"""mmdet's CocoDataset, auditing the annotation file it has just parsed.

The audit (``annotation_audit.audit_coco``) reads the very dictionary
mmdet's COCO api loaded, through ``CocoDataset.COCOAPI``, the attribute
mmdet offers for another COCO api: no second read of a file that is 448 MB
for COCO train2017, and the same on local or remote storage.
"""
from functools import partial
from typing import Callable

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import DATASETS

from .annotation_audit import audit_coco


class _AuditedCOCO(COCO):

    def __init__(self, annotation_file: str, audit: Callable[[dict],
                                                             None]) -> None:
        super().__init__(annotation_file)
        audit(self.dataset)


@DATASETS.register_module()
class AuditedCocoDataset(CocoDataset):
    """CocoDataset whose annotation file is audited as it loads: unknown
    category ids stop the run, skipped boxes and polygons are logged."""

    def __init__(self, *args, **kwargs) -> None:
        self.COCOAPI = partial(_AuditedCOCO, audit=self._audit)
        super().__init__(*args, **kwargs)

    def _audit(self, coco: dict) -> None:
        masks = any(
            isinstance(t, LoadAnnotations) and t.with_mask
            for t in self.pipeline.transforms)
        audit_coco(coco, self.ann_file, masks)
