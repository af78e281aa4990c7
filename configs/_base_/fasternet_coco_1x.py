# The FasterNet COCO recipe shared by every detector here: mmdet's COCO
# instance data and 1x schedule, our runtime (mmdet's, with the safeguard
# hooks), and the published settings.
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', './default_runtime.py'
]

# Per variant: the backbone (arch and the authors' ImageNet-1k weights) and
# its four output widths (embed_dim x 1, 2, 4, 8), the FPN's inputs. A
# detector config of a variant picks its entry (e.g. mask_rcnn_fasternet_s).
__release = 'https://github.com/JierunChen/FasterNet/releases/download/v1.0/'
__weights = dict(
    t0='fasternet_t0-epoch.281-val_acc1.71.9180.pth',
    t1='fasternet_t1-epoch.291-val_acc1.76.2180.pth',
    t2='fasternet_t2-epoch.289-val_acc1.78.8860.pth',
    s='fasternet_s-epoch.299-val_acc1.81.2840.pth',
    m='fasternet_m-epoch.291-val_acc1.82.9620.pth',
    l='fasternet_l-epoch.299-val_acc1.83.5060.pth')
__embed_dims = dict(t0=40, t1=64, t2=96, s=128, m=144, l=192)
fasternet_variants = {
    arch:
    dict(
        backbone=dict(arch=arch, init_cfg=dict(checkpoint=__release + name)),
        widths=[__embed_dims[arch] * 2**i for i in range(4)])
    for arch, name in __weights.items()
}

# mmdet's own pipelines at 1280x800, this project's size (the one the authors
# counted FLOPs at). The authors trained and tested at mmdet's 1333x800; to
# evaluate there: tools/test.py CONFIG CKPT --cfg-options
#   test_dataloader.dataset.pipeline.1.scale="(1333,800)"
train_pipeline = [{
    **t, 'scale': (1280, 800)
} if t['type'] == 'Resize' else t for t in _base_.train_pipeline]
test_pipeline = [{
    **t, 'scale': (1280, 800)
} if t['type'] == 'Resize' else t for t in _base_.test_pipeline]
# mmdet's CocoDataset, auditing each annotation file as it loads (unknown
# category ids are an error, skipped annotations are counted in the log).
train_dataloader = dict(
    dataset=dict(type='AuditedCocoDataset', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='AuditedCocoDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader

# AdamW 2e-4 for total batch 16 (8 GPUs x 2); M and L use 1e-4.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)
