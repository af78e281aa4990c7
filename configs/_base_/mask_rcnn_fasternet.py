# Mask R-CNN FPN with a FasterNet backbone; variants set arch, weights and
# the neck's input channels.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py', './fasternet_coco_1x.py'
]
model = dict(
    backbone=dict(
        _delete_=True, type='FasterNet', init_cfg=dict(type='Pretrained')))
