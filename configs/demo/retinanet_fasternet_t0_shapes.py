# RetinaNet twin of the embedded demo: FasterNet-T0 from scratch on
# synthetic shapes, slim 64-channel FPN and head, boxes only.
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py', './_base_/shapes.py']
model = dict(
    backbone=dict(
        _delete_=True, type='FasterNet', arch='t0', out_indices=(1, 2, 3)),
    neck=dict(
        in_channels=[80, 160, 320], out_channels=64, start_level=0,
        num_outs=5),
    bbox_head=dict(
        in_channels=64, feat_channels=64, stacked_convs=2, num_classes=4))
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
