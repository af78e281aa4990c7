# mmdet's runtime plus this project's safeguards, declared here so that
# every entry point that builds a Runner from these configs gets them:
# tools/ here, mmdet's own tools/train.py and tools/test.py, mim, and
# Runner.from_cfg in a notebook. A config of your own that inherits one of
# ours can drop one, e.g.
#   custom_hooks = [h for h in _base_.custom_hooks
#                   if h['type'] != 'EpochSeedHook']
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['mmdet_fasternet'], allow_failed_imports=False)
default_hooks = dict(
    # Checkpoints written to a temporary file, fsynced and renamed.
    checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [
    # Checkpoints that do not fit the model are errors, not warnings; a
    # fine-tuning run names the layers it re-initialises.
    dict(type='CheckpointFitHook'),
    # Stop at a NaN/inf loss; never save non-finite weights.
    dict(type='NonFiniteLossHook'),
    # With randomness.deterministic=True: each epoch seeded from (seed,
    # epoch), so a resumed run equals an uninterrupted one.
    dict(type='EpochSeedHook'),
    # Train and val annotation files with the same categories.
    dict(type='SameCategoriesHook'),
    # Polygons pycocotools cannot evaluate get mmdet's training rule.
    dict(type='DegeneratePolygonsHook'),
    # 'final evaluation: ...' and 'test results: ...' closing lines.
    dict(type='MetricsSummaryHook'),
    # mmengine's: BN statistics averaged over the ranks after each epoch,
    # before validation and the checkpoint (every FasterNet BN trains, and
    # DDP does not broadcast buffers).
    dict(type='SyncBuffersHook'),
]
