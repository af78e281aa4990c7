_base_ = './_base_/cascade_mask_rcnn_fasternet.py'
model = dict(
    backbone=_base_.fasternet_variants.t2.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.t2.widths))
