"""Every shipped config builds its detector, runs, and follows the recipe."""
import functools
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

import mmdet_fasternet  # noqa: F401
from mmdet_fasternet import ARCH_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
RELEASE = 'https://github.com/JierunChen/FasterNet/releases/download/v1.0/'
IMAGENET_FILES = dict(
    t0='fasternet_t0-epoch.281-val_acc1.71.9180.pth',
    t1='fasternet_t1-epoch.291-val_acc1.76.2180.pth',
    t2='fasternet_t2-epoch.289-val_acc1.78.8860.pth',
    s='fasternet_s-epoch.299-val_acc1.81.2840.pth',
    m='fasternet_m-epoch.291-val_acc1.82.9620.pth',
    l='fasternet_l-epoch.299-val_acc1.83.5060.pth')
COCO_CONFIGS = [(det, arch) for det in ('mask_rcnn', 'retinanet')
                for arch in sorted(ARCH_SETTINGS)]
# Detectors checked as configs here, built and trained once (t0) below and
# in test_tools/test_dataset_config.py.
MORE_DETECTORS = ('cascade_mask_rcnn', 'faster_rcnn',
                  'cascade_mask_rcnn_ms_3x')
MORE_CONFIGS = [(det, arch) for det in MORE_DETECTORS
                for arch in sorted(ARCH_SETTINGS)]
MASKS = ('mask_rcnn', 'cascade_mask_rcnn', 'cascade_mask_rcnn_ms_3x')


def config_name(det: str, arch: str) -> str:
    """``cascade_mask_rcnn_ms_3x``, ``s`` -> the 3x config's name."""
    detector, _, schedule = det.partition('_ms_3x')
    return f'{detector}_fasternet_{arch}' + ('_ms_3x' if _ else '')


DEMO_CONFIGS = [
    'mask_rcnn_fasternet_t0_shapes', 'retinanet_fasternet_t0_shapes'
]


@functools.lru_cache(maxsize=None)
def load(name: str) -> Config:
    """Parsed once for the whole module (the tests only read it): 42
    configs, each read by four tests."""
    return Config.fromfile(str(ROOT / 'configs' / f'{name}.py'))


def dummy_batch(h: int = 96, w: int = 128, with_gt: bool = False) -> dict:
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(h, w),
            ori_shape=(h, w),
            scale_factor=(1.0, 1.0),
            pad_shape=(h, w),
            batch_input_shape=(h, w)))
    if with_gt:
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 12., 60., 70.]]),
            labels=torch.tensor([0]))
    return dict(
        inputs=[torch.randint(0, 255, (3, h, w), dtype=torch.uint8)],
        data_samples=[sample])


@pytest.mark.parametrize('det,arch', COCO_CONFIGS)
def test_coco_config_builds_and_predicts(det, arch):
    cfg = load(f'{det}_fasternet_{arch}')
    backbone = cfg.model.backbone
    assert backbone.type == 'FasterNet' and backbone.arch == arch
    assert 'depth' not in backbone and 'frozen_stages' not in backbone
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=RELEASE + IMAGENET_FILES[arch])
    model = MODELS.build(cfg.model).eval()
    c = ARCH_SETTINGS[arch]['embed_dim']
    expected = [c * 2**i for i in model.backbone.out_indices]
    assert list(cfg.model.neck.in_channels) == expected
    with torch.no_grad():
        results = model.test_step(dummy_batch())
    assert len(results) == 1 and 'bboxes' in results[0].pred_instances
    if det == 'mask_rcnn':
        assert 'masks' in results[0].pred_instances


@pytest.mark.parametrize('det,arch', COCO_CONFIGS + MORE_CONFIGS)
def test_coco_config_follows_published_recipe(det, arch):
    cfg = load(config_name(det, arch))
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW',
        # RetinaNet: PoolFormer's 1e-4 (the base config says why).
        lr=1e-4 if arch in ('m', 'l') or det == 'retinanet' else 2e-4,
        weight_decay=1e-4)
    ms_3x = det.endswith('_ms_3x')
    warmup, steps = cfg.param_scheduler
    if ms_3x:  # mmdet's Swin / ConvNeXt 3x recipe
        assert cfg.train_cfg.max_epochs == 36
        assert (warmup.type, warmup.end, warmup.start_factor,
                warmup.by_epoch) == ('LinearLR', 1000, 0.001, False)
        assert steps.milestones == [27, 33]
    else:
        assert cfg.train_cfg.max_epochs == 12
        assert (warmup.type, warmup.end, warmup.by_epoch) == ('LinearLR', 500,
                                                              False)
        assert steps.milestones == [8, 11]
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        resize = [t for t in pipeline if t.type == 'Resize']
        if ms_3x and loader == 'train_dataloader':
            assert resize == [] and MS_3X_TRAIN_RESIZE == [
                t for t in pipeline if t.type == 'RandomChoice'
            ][0].transforms
        else:
            assert [(t.scale, t.keep_ratio)
                    for t in resize] == [((1280, 800), True)]
        load_ann = [t for t in pipeline if t.type == 'LoadAnnotations'][0]
        assert load_ann.with_mask == (det in MASKS)
    flip = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t.type == 'RandomFlip'
    ]
    assert flip[0].prob == 0.5
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert 'mmdet_fasternet' in cfg.custom_imports.imports
    metric = cfg.val_evaluator.metric
    assert metric == (['bbox', 'segm'] if det in MASKS else 'bbox')


MS_3X_SCALES = [
    (s, 1333) for s in (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)
]
MS_3X_TRAIN_RESIZE = [
    [dict(type='RandomChoiceResize', scales=MS_3X_SCALES, keep_ratio=True)],
    [
        dict(
            type='RandomChoiceResize',
            scales=[(400, 1333), (500, 1333), (600, 1333)],
            keep_ratio=True),
        dict(
            type='RandomCrop',
            crop_type='absolute_range',
            crop_size=(384, 600),
            allow_negative_crop=True),
        dict(type='RandomChoiceResize', scales=MS_3X_SCALES, keep_ratio=True)
    ]
]


@pytest.mark.parametrize('det,arch', MORE_CONFIGS)
def test_more_detectors_start_from_the_imagenet_weights(det, arch):
    """Built once per detector (t0) by the training tests; here the parts
    that differ per variant."""
    cfg = load(config_name(det, arch))
    assert cfg.model.type == ('FasterRCNN'
                              if det == 'faster_rcnn' else 'CascadeRCNN')
    backbone = cfg.model.backbone
    assert backbone == dict(
        type='FasterNet',
        arch=arch,
        init_cfg=dict(
            type='Pretrained', checkpoint=RELEASE + IMAGENET_FILES[arch]))
    c = ARCH_SETTINGS[arch]['embed_dim']
    assert list(cfg.model.neck.in_channels) == [c, 2 * c, 4 * c, 8 * c]
    heads = cfg.model.roi_head.bbox_head
    if det == 'faster_rcnn':
        assert heads.num_classes == 80
        assert 'mask_head' not in cfg.model.roi_head
    else:  # three stages, one mask head
        assert [h.num_classes for h in heads] == [80] * 3
        assert cfg.model.roi_head.mask_head.num_classes == 80


def own_tiny_config(tmp_path: Path, own_data: Path, name: str) -> Config:
    """The config the dataset tool writes for one's own tiny data over
    ``name``, with 64x64 inputs and random weights."""
    from own_data import tiny_run_options, tool_namespace

    from mmdet_fasternet.apis.dataset_config import write_dataset_config
    out = tmp_path / 'mine.py'
    write_dataset_config(
        tool_namespace(ROOT / 'configs' / f'{name}.py', out, own_data))
    cfg = Config.fromfile(str(out))
    cfg.merge_from_dict(tiny_run_options(cfg))
    return cfg


def test_3x_cascade_is_the_1x_model_on_a_multiscale_pipeline(
        tmp_path, own_data):
    """The 1x model (trained by test_own_data_cascade_mask_rcnn); its
    training pipeline, multi-scale, runs on one's own data."""
    from mmdet.registry import DATASETS
    name = 'cascade_mask_rcnn_fasternet_t0'
    assert load(f'{name}_ms_3x').model == load(name).model
    cfg = own_tiny_config(tmp_path, own_data, f'{name}_ms_3x')
    sample = DATASETS.build(cfg.train_dataloader.dataset)[0]
    assert sample['inputs'].shape[0] == 3
    instances = sample['data_samples'].gt_instances
    assert len(instances) > 0 and len(instances.masks) == len(instances)


def test_faster_rcnn_trains_two_iterations(tmp_path, own_data):
    """On one's own tiny data (the config written by the tool), 64x64
    inputs, from random weights, without validation."""
    from mmengine.runner import Runner
    cfg = own_tiny_config(tmp_path, own_data, 'faster_rcnn_fasternet_t0')
    cfg.merge_from_dict(
        dict(val_cfg=None, val_dataloader=None, val_evaluator=None))
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2  # 4 images, 2 a batch
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


@pytest.mark.parametrize('arch', ['t0', 's'])
def test_retinanet_uses_every_parameter(arch):
    """No unused parameter, as DistributedDataParallel requires."""
    cfg = load(f'retinanet_fasternet_{arch}')
    assert cfg.model.backbone.out_indices == (1, 2, 3)
    model = MODELS.build(cfg.model).train()
    data = model.data_preprocessor(dummy_batch(with_gt=True), True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == []


@pytest.mark.parametrize('name', DEMO_CONFIGS)
def test_demo_config_builds(name):
    cfg = load(f'demo/{name}')
    assert cfg.train_dataloader.dataset.type == 'SyntheticShapesDataset'
    model = MODELS.build(cfg.model).eval()
    assert model.backbone.arch_settings['embed_dim'] == 40
    with torch.no_grad():
        results = model.test_step(dummy_batch(128, 128))
    assert len(results) == 1


def test_metafile_matches_the_configs():
    import yaml
    index = yaml.safe_load((ROOT / 'metafile.yml').read_text())
    models = {m['Name']: m for m in index['Models']}
    shipped = sorted(p.stem for p in (ROOT / 'configs').glob('*.py'))
    assert sorted(models) == shipped
    for name, entry in models.items():
        assert entry['Config'] == f'configs/{name}.py'
        cfg = load(name)
        assert entry['Metadata']['Backbone Weights'] == \
            cfg.model.backbone.init_cfg.checkpoint
    published = {
        name: (m['Results'][0]['Metrics']['box AP'],
               m['Results'][1]['Metrics']['mask AP'], m['Weights'])
        for name, m in models.items() if 'Results' in m
    }
    assert published == {
        'mask_rcnn_fasternet_s':
        (39.9, 36.9,
         RELEASE + 'mask_rcnn_fasternet_s_fpn_1x_coco_20221111_063419.pth'),
        'mask_rcnn_fasternet_m':
        (43.0, 39.1,
         RELEASE + 'mask_rcnn_fasternet_m_fpn_1x_coco_20221107_124408.pth'),
        'mask_rcnn_fasternet_l':
        (44.0, 39.9,
         RELEASE + 'mask_rcnn_fasternet_l_fpn_1x_coco_20221107_004433.pth'),
    }


SAFEGUARD_HOOKS = [
    'CheckpointFitHook', 'NonFiniteLossHook', 'EpochSeedHook',
    'SameCategoriesHook', 'DegeneratePolygonsHook', 'MetricsSummaryHook',
    'SyncBuffersHook'
]


@pytest.mark.parametrize(
    'name',
    [config_name(det, arch) for det, arch in COCO_CONFIGS + MORE_CONFIGS] +
    [f'demo/{n}' for n in DEMO_CONFIGS])
def test_every_config_declares_the_safeguards(name):
    cfg = load(name)
    assert cfg.custom_imports.imports == ['mmdet_fasternet']
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert [h['type'] for h in cfg.custom_hooks] == SAFEGUARD_HOOKS
    datasets = {
        cfg[f'{split}_dataloader'].dataset.type
        for split in ('train', 'val', 'test')
    }
    # The audited CocoDataset, or the demo's (which derives from it).
    assert datasets in ({'AuditedCocoDataset'}, {'SyntheticShapesDataset'})


def test_a_config_that_drops_a_hook_loses_only_that_hook(tmp_path):
    """A user's config inheriting ours, built as a notebook would."""
    from mmengine.runner import Runner
    own = tmp_path / 'my_config.py'
    demo = ROOT / 'configs' / 'demo' / f'{DEMO_CONFIGS[0]}.py'
    own.write_text(f"_base_ = '{demo}'\n"
                   "custom_hooks = [h for h in _base_.custom_hooks\n"
                   "                if h['type'] != 'EpochSeedHook']\n"
                   f"work_dir = '{tmp_path / 'work'}'\n")
    runner = Runner.from_cfg(Config.fromfile(str(own)))
    names = [type(h).__name__ for h in runner.hooks]
    assert 'EpochSeedHook' not in names
    for hook in SAFEGUARD_HOOKS + ['AtomicCheckpointHook']:
        assert hook in names or hook == 'EpochSeedHook', hook


def test_evaluating_at_the_authors_1333x800_is_one_option():
    """The authors' AP was measured at 1333x800; ours train and test at
    1280x800. The one-line override the README and metafile give."""
    import argparse

    from mmdet_fasternet.apis.cli import add_common_arguments
    from mmdet_fasternet.apis.runner import load_config
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('--work-dir')
    add_common_arguments(parser)
    args = parser.parse_args([
        str(ROOT / 'configs' / 'mask_rcnn_fasternet_s.py'), '--cfg-options',
        'test_dataloader.dataset.pipeline.1.scale=(1333,800)'
    ])
    cfg = load_config(args)
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert resize.type == 'Resize' and tuple(resize.scale) == (1333, 800)
    assert tuple(cfg.val_dataloader.dataset.pipeline[1].scale) == (1280, 800)
    for text in ((ROOT / 'metafile.yml').read_text(),
                 (ROOT / 'docs' / 'weights.md').read_text()):
        assert 'test_dataloader.dataset.pipeline.1.scale="(1333,800)"' in text
