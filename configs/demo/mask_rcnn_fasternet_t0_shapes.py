# The main job's embedded default: Mask R-CNN with FasterNet-T0, trained
# from scratch on synthetic shapes. The heads are slimmed (64-channel FPN,
# fewer sampled RoIs and proposals, RoIAlign with 2x2 samples per bin)
# because on a CPU they, not the backbone, dominate the cost at this size.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './_base_/shapes.py']
model = dict(
    backbone=dict(_delete_=True, type='FasterNet', arch='t0'),
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=64, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=4),
        mask_roi_extractor=dict(
            out_channels=64, roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(
            num_convs=2, in_channels=64, conv_out_channels=64, num_classes=4)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64, pos_fraction=0.5))),
    test_cfg=dict(rpn=dict(max_per_img=300)))
