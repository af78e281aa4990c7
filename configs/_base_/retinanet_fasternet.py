# RetinaNet FPN with a FasterNet backbone. The stride-4 output is not built
# (the FPN starts at stride 8), so no parameter is unused under DDP.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', './fasternet_coco_boxes_1x.py'
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='FasterNet',
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained')),
    neck=dict(start_level=0, num_outs=5))

# AdamW 1e-4 for every variant. The authors published no RetinaNet recipe;
# their detection code derives from PoolFormer's, which trains RetinaNet
# with AdamW 1e-4 and Mask R-CNN with 2e-4 (sail-sg/poolformer,
# detection/configs/retinanet_poolformer_*_fpn_1x_coco.py and
# mask_rcnn_poolformer_*_fpn_1x_coco.py).
optim_wrapper = dict(optimizer=dict(lr=1e-4))
