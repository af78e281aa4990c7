_base_ = './_base_/cascade_mask_rcnn_fasternet.py'
model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.m)),
    neck=dict(in_channels=[144, 288, 576, 1152]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
