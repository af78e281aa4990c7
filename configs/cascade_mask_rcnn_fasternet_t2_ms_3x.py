_base_ = './_base_/cascade_mask_rcnn_fasternet_ms_3x.py'
model = dict(
    backbone=dict(
        arch='t2',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.t2)),
    neck=dict(in_channels=[96, 192, 384, 768]))
