"""Train and validation annotation files must define the same categories.

Each dataset checks its own file as it loads (``AuditedCocoDataset``); only
once both splits are built can they be compared. Differing files train on
one numbering and evaluate against another, or ignore classes that the
validation file holds, with no error from mmdet.
"""
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from ...datasets.annotation_audit import check_same_categories
from ...datasets.audited_coco import audited_splits


@HOOKS.register_module()
class SameCategoriesHook(Hook):
    """Compare the splits' categories before the first iteration."""

    def before_train(self, runner) -> None:
        datasets = [runner.train_dataloader.dataset]
        val_loop = runner.val_loop
        if getattr(val_loop, 'dataloader', None) is not None:
            datasets.append(val_loop.dataloader.dataset)
        files = [(d.ann_file, d.ann_categories) for ds in datasets
                 for d in audited_splits(ds)]
        if len(files) > 1:
            check_same_categories(files)
