# Faster R-CNN FPN with a FasterNet backbone: the boxes-only baseline.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    './fasternet_coco_boxes_1x.py'
]
model = dict(
    backbone=dict(
        _delete_=True, type='FasterNet', init_cfg=dict(type='Pretrained')))
