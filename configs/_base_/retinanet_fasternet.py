# RetinaNet FPN with a FasterNet backbone. The stride-4 output is not built
# (the FPN starts at stride 8), so no parameter is unused under DDP.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', './fasternet_coco_1x.py'
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='FasterNet',
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained')),
    neck=dict(start_level=0, num_outs=5))

# Boxes only: no masks to load or evaluate.
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
