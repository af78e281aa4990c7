_base_ = './_base_/faster_rcnn_fasternet.py'
model = dict(
    backbone=dict(
        arch='t1',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.t1)),
    neck=dict(in_channels=[64, 128, 256, 512]))
