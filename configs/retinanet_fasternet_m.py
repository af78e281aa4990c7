_base_ = './_base_/retinanet_fasternet.py'
model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.m)),
    neck=dict(in_channels=[288, 576, 1152]))
