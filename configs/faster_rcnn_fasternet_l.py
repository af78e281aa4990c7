_base_ = './_base_/faster_rcnn_fasternet.py'
model = dict(
    backbone=_base_.fasternet_variants.l.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.l.widths))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
