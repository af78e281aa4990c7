_base_ = './_base_/cascade_mask_rcnn_fasternet.py'
model = dict(
    backbone=dict(
        arch='l',
        init_cfg=dict(checkpoint=_base_.fasternet_imagenet_weights.l)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
