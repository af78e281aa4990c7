"""tools/dataset_config.py: from a folder of COCO-format data of one's own
(other class names, non-contiguous category ids) to a trained model whose
predictions carry those names."""
import json
import shutil

import pytest
import torch
from mmengine.config import Config
from own_data import (CLASSES, IDS, as_command_line, tiny_run_options,
                      tool_args, tool_namespace)
from tool_runner import CONFIGS, TOOLS, describe, run_tool

import mmdet_fasternet  # noqa: F401
from mmdet_fasternet.apis.dataset_config import (base_reference,
                                                 write_dataset_config)
from mmdet_fasternet.errors import DataError, ToolError


def heads_num_classes(node, path='model') -> dict:
    """num_classes of every head, by path (the RPN's left out)."""
    found = {}
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if key == 'num_classes' and 'rpn_head' not in path:
            found[path] = value
        elif isinstance(value, (dict, list)):
            found.update(heads_num_classes(value, f'{path}.{key}'))
    return found


MASK_RCNN_HEADS = ['model.roi_head.bbox_head', 'model.roi_head.mask_head']


@pytest.mark.parametrize('base,heads', [
    ('mask_rcnn_fasternet_t0', MASK_RCNN_HEADS),
    ('cascade_mask_rcnn_fasternet_t0',
     [f'model.roi_head.bbox_head.{i}'
      for i in range(3)] + ['model.roi_head.mask_head']),
    ('retinanet_fasternet_t0', ['model.bbox_head']),
    ('demo/mask_rcnn_fasternet_t0_shapes', MASK_RCNN_HEADS),
])
def test_written_config_sets_classes_heads_and_paths(tmp_path, own_data, base,
                                                     heads):
    out = tmp_path / 'mine.py'
    write_dataset_config(tool_namespace(CONFIGS / f'{base}.py', out, own_data))
    cfg = Config.fromfile(str(out))
    for split, img in (('train', 'train/'), ('val', 'val/'), ('test', 'val/')):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.type == 'AuditedCocoDataset'
        assert dataset.metainfo.classes == CLASSES
        ann = 'val' if split == 'test' else split
        assert (dataset.data_root, dataset.ann_file,
                dataset.data_prefix) == (f'{own_data}/',
                                         f'annotations/{ann}.json',
                                         dict(img=img))
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.ann_file == f'{own_data}/annotations/val.json'
    found = heads_num_classes(cfg.model)
    assert set(found.values()) == {len(CLASSES)}
    assert sorted(found) == heads
    text = out.read_text()
    assert f"_base_ = '{CONFIGS}/{base}.py'" in text  # not ../../..
    assert "classes = ('tile', 'starfish', 'coin', 'sail')" in text
    assert 'label 0: id 5, 1: id 8, 2: id 17, 3: id 42).' in text


@pytest.mark.parametrize('out_dir,written', [
    ('/work/repo', 'configs/mask.py'),
    ('/work/repo/mine', '/work/repo/configs/mask.py'),
    ('/tmp/x', '/work/repo/configs/mask.py'),
])
def test_base_is_named_relative_only_from_above_it(out_dir, written):
    assert base_reference('/work/repo/configs/mask.py', out_dir) == written


def test_never_overwrites_and_refuses_different_categories(tmp_path, own_data):
    out = tmp_path / 'mine.py'
    out.write_text('# my own\n')
    result = run_tool([
        TOOLS / 'dataset_config.py', CONFIGS / 'mask_rcnn_fasternet_t0.py', out
    ] + tool_args(own_data), tmp_path)
    assert result.returncode == 1, describe(result)
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: output config '{out}' already exists; remove it or choose "
        f'another file.')
    assert out.read_text() == '# my own\n'

    data = tmp_path / 'data'
    shutil.copytree(own_data, data)
    val = data / 'annotations' / 'val.json'
    coco = json.loads(val.read_text())
    coco['categories'].append(dict(id=99, name='brick'))
    val.write_text(json.dumps(coco))
    other = tmp_path / 'other.py'
    with pytest.raises(DataError, match='define different categories'):
        write_dataset_config(
            tool_namespace(CONFIGS / 'mask_rcnn_fasternet_t0.py', other, data))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'mine.py']
    with pytest.raises(ToolError, match="base config 'nope.py' does not"):
        write_dataset_config(tool_namespace('nope.py', other, data))


def test_coco_class_names_on_own_data_are_one_line(tmp_path, own_data):
    """The issue's first try: a COCO config pointed at one's own data ended
    in mmengine's 'need at least one array to concatenate'."""
    opts = [
        f'{loader}.dataset.{key}={value}'
        for loader, split in (('train_dataloader', 'train'), ('val_dataloader',
                                                              'val'))
        for key, value in (('data_root', f'{own_data}/'),
                           ('ann_file', f'annotations/{split}.json'),
                           ('data_prefix.img', f'{split}/'))
    ]
    result = run_tool([
        TOOLS / 'train.py', CONFIGS / 'mask_rcnn_fasternet_t0.py',
        '--work-dir', tmp_path / 'work', '--cfg-options',
        'model.backbone.init_cfg=None'
    ] + opts, tmp_path)
    assert result.returncode == 1, describe(result)
    assert 'Traceback' not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"error: annotation file '{own_data}/annotations/train.json': none of "
        f"the config's 80 class names ('person', 'bicycle', ")
    assert line.endswith(
        "is one of its categories ('tile', 'starfish', 'coin', 'sail'), so "
        'mmdet would drop every image. Fix: set metainfo=dict(classes=...) '
        'of the train, val and test datasets and num_classes of the heads '
        'to match it, or write the config with tools/dataset_config.py.')


def train_and_test(tmp_path, config, test: bool = True):
    """tools/train.py (and tools/test.py) on the written config, shrunk to
    seconds; checks that predictions carry the data's own categories.
    Returns the checkpoint."""
    opts = as_command_line(tiny_run_options(Config.fromfile(str(config))))
    work, preds = tmp_path / 'work', tmp_path / 'preds'
    result = run_tool([TOOLS / 'train.py', config, '--work-dir', work] + opts +
                      [f'val_evaluator.outfile_prefix={preds}'], tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'final evaluation: coco/bbox_mAP' in result.stdout
    ckpt = work / 'epoch_1.pth'
    meta = torch.load(ckpt, weights_only=True)['meta']
    assert meta['dataset_meta']['classes'] == CLASSES
    if test:
        (tmp_path / 'preds.bbox.json').unlink()
        result = run_tool(
            [TOOLS / 'test.py', config, ckpt, '--work-dir', tmp_path / 'eval'
             ] + opts + [f'test_evaluator.outfile_prefix={preds}'], tmp_path)
        assert result.returncode == 0, describe(result)
        assert 'test results: coco/bbox_mAP' in result.stdout
    detections = json.loads((tmp_path / 'preds.bbox.json').read_text())
    # Labels went back to the file's own ids, not to 0..3 or 1..4.
    assert detections and {d['category_id'] for d in detections} <= set(IDS)
    return ckpt


@pytest.mark.e2e
def test_own_data_mask_rcnn(tmp_path, own_data):
    config = tmp_path / 'mine.py'
    result = run_tool([
        TOOLS / 'dataset_config.py', CONFIGS / 'mask_rcnn_fasternet_t0.py',
        config
    ] + tool_args(own_data), tmp_path)
    assert result.returncode == 0, describe(result)
    assert f'wrote {config}: 4 classes' in result.stdout
    ckpt = train_and_test(tmp_path, config)
    result = run_tool([
        TOOLS / 'demo.py', own_data / 'val', config, '--weights', ckpt,
        '--pred-score-thr', '0', '--out-dir', tmp_path / 'pictures',
        '--device', 'cpu'
    ], tmp_path)
    assert result.returncode == 0, describe(result)
    lines = [ln for ln in result.stdout.splitlines() if ' detection' in ln]
    assert len(lines) == 2
    names = {
        guess.rsplit(' ', 1)[0]
        for line in lines
        for guess in line.split('>= 0: ', 1)[1].rsplit(' -> ')[0].split(', ')
        if not guess.startswith('...')
    }
    assert names and names <= set(CLASSES), lines


@pytest.mark.e2e
def test_own_data_cascade_mask_rcnn(tmp_path, own_data):
    config = tmp_path / 'mine.py'
    write_dataset_config(
        tool_namespace(CONFIGS / 'cascade_mask_rcnn_fasternet_t0.py', config,
                       own_data))
    train_and_test(tmp_path, config, test=False)
