# Cascade Mask R-CNN FPN with a FasterNet backbone, trained with the 3x
# multi-scale recipe of mmdet's Swin and ConvNeXt detectors.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './fasternet_coco_ms_3x.py'
]
model = dict(
    backbone=dict(
        _delete_=True, type='FasterNet', init_cfg=dict(type='Pretrained')))
