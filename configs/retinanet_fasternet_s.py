_base_ = './_base_/retinanet_fasternet.py'
model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.s)),
    neck=dict(in_channels=[256, 512, 1024]))
