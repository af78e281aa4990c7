# The FasterNet COCO recipe for detectors of boxes only: no masks to load
# or evaluate.
_base_ = './fasternet_coco_1x.py'
train_pipeline = [{
    **t, 'with_mask': False
} if t['type'] == 'LoadAnnotations' else t for t in _base_.train_pipeline]
test_pipeline = [{
    **t, 'with_mask': False
} if t['type'] == 'LoadAnnotations' else t for t in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
