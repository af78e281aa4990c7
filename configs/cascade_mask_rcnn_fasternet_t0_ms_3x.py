_base_ = './_base_/cascade_mask_rcnn_fasternet_ms_3x.py'
model = dict(
    backbone=_base_.fasternet_variants.t0.backbone,
    neck=dict(in_channels=_base_.fasternet_variants.t0.widths))
