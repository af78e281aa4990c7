_base_ = './_base_/cascade_mask_rcnn_fasternet_ms_3x.py'
model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.s)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
