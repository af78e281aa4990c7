"""mmdet's CocoDataset, auditing the annotation file it has just parsed.

The audit (``annotation_audit``) reads the very dictionary mmdet's COCO api
loaded, through ``CocoDataset.COCOAPI``, the attribute mmdet offers for
another COCO api: no second read of a file that is 448 MB for COCO
train2017, and the same on local or remote storage. Its images are looked
for with one listing of the folder, on local storage only.
"""
from functools import partial
from typing import Callable, Iterator, List, Tuple

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import DATASETS
from mmengine.dataset import BaseDataset

from .annotation_audit import audit_coco, check_images, coco_categories
from .data_checks import remote_storage


class _AuditedCOCO(COCO):

    def __init__(self, annotation_file: str, audit: Callable[[dict],
                                                             None]) -> None:
        super().__init__(annotation_file)
        audit(self.dataset)


@DATASETS.register_module()
class AuditedCocoDataset(CocoDataset):
    """CocoDataset whose annotation file is audited as it loads: unknown
    category ids, class names that do not fit the file, empty splits and
    missing images stop the run; skipped boxes and polygons are logged.
    ``ann_categories`` keeps the file's (id, name) list for comparing the
    splits (``SameCategoriesHook``)."""

    def __init__(self, *args, **kwargs) -> None:
        self.COCOAPI = partial(_AuditedCOCO, audit=self._audit)
        self.ann_categories: List[Tuple[int, str]] = []
        super().__init__(*args, **kwargs)

    def _audit(self, coco: dict) -> None:
        masks = any(
            isinstance(t, LoadAnnotations) and t.with_mask
            for t in self.pipeline.transforms)
        audit_coco(coco, self.ann_file, masks, self.metainfo['classes'])
        place = dict(
            backend_args=self.backend_args,
            ann_file=self.ann_file,
            data_prefix=self.data_prefix)
        if not remote_storage(place):
            check_images(coco, self.ann_file, self.data_prefix.get('img', ''))
        self.ann_categories = coco_categories(coco, self.ann_file)


def audited_splits(dataset: BaseDataset) -> Iterator[AuditedCocoDataset]:
    """The audited datasets inside ``dataset`` and its wrappers."""
    if isinstance(dataset, AuditedCocoDataset):
        yield dataset
    for inner in getattr(dataset, 'datasets',
                         None) or [getattr(dataset, 'dataset', None)]:
        if inner is not None:
            yield from audited_splits(inner)
