_base_ = './_base_/retinanet_fasternet.py'
model = dict(
    backbone=_base_.fasternet_variants.t1.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.t1.widths[1:]))
