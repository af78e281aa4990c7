_base_ = './_base_/cascade_mask_rcnn_fasternet.py'
model = dict(
    backbone=_base_.fasternet_variants.s.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.s.widths))
