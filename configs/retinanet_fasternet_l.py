_base_ = './_base_/retinanet_fasternet.py'
model = dict(
    backbone=_base_.fasternet_variants.l.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.l.widths[1:]))
