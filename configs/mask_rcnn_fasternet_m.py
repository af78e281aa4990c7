_base_ = './_base_/mask_rcnn_fasternet.py'
model = dict(
    backbone=_base_.fasternet_variants.m.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.m.widths))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
