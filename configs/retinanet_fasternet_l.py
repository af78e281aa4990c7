_base_ = './_base_/retinanet_fasternet.py'
model = dict(
    backbone=dict(
        arch='l',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.l)),
    neck=dict(in_channels=[384, 768, 1536]))
