# Cascade Mask R-CNN FPN with a FasterNet backbone (mmdet's heads, as in
# its R-50 config); variants set arch, weights and the neck's input
# channels.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './fasternet_coco_1x.py'
]
model = dict(
    backbone=dict(
        _delete_=True, type='FasterNet', init_cfg=dict(type='Pretrained')))
