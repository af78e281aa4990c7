_base_ = './_base_/faster_rcnn_fasternet.py'
model = dict(
    backbone=_base_.fasternet_variants.t0.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.t0.widths))
