_base_ = './_base_/faster_rcnn_fasternet.py'
model = dict(
    backbone=dict(
        arch='t0',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.t0)),
    neck=dict(in_channels=[40, 80, 160, 320]))
