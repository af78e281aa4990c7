"""A small COCO-format dataset of one's own, as a user would bring it.

The shapes of the demo under other class names and non-contiguous category
ids (listed in id order, which is not the generator's), in a common
layout: ``annotations/{train,val}.json``, ``train/`` and ``val/``. Tests
import it; docs/own_data.md runs it as a script for its bigger example.
"""
import argparse
import json
import shutil
from pathlib import Path

from tool_runner import parse

from mmdet_fasternet.apis.dataset_config import write_dataset_config
from mmdet_fasternet.datasets.shapes import (ANN_FILE, IMG_DIR, SHAPE_CLASSES,
                                             generate_split)

# Generator class -> (name, category id).
CATEGORIES = dict(
    circle=('coin', 17),
    square=('tile', 5),
    triangle=('sail', 42),
    star=('starfish', 8))
# The order of "categories" (by id), so the order mmdet numbers labels in.
CLASSES = tuple(name
                for name, _ in sorted(CATEGORIES.values(), key=lambda c: c[1]))
IDS = sorted(i for _, i in CATEGORIES.values())


def make_own_data(root: Path,
                  train_images: int = 4,
                  val_images: int = 2,
                  image_size: int = 64) -> Path:
    """Write the dataset under ``root``; returns ``root``."""
    remap = {k + 1: CATEGORIES[c][1] for k, c in enumerate(SHAPE_CLASSES)}
    (root / 'annotations').mkdir(parents=True)
    for split, num, seed in (('train', train_images, 0), ('val', val_images,
                                                          1)):
        tmp = root / f'.{split}'
        generate_split(str(tmp), num, image_size, 3, seed)
        coco = json.loads((tmp / ANN_FILE).read_text())
        for ann in coco['annotations']:
            ann['category_id'] = remap[ann['category_id']]
        coco['categories'] = [dict(id=i, name=n) for n, i in zip(CLASSES, IDS)]
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(coco))
        (tmp / IMG_DIR).rename(root / split)
        shutil.rmtree(tmp)
    return root


def tool_args(root: Path) -> list:
    """The data options of tools/dataset_config.py for this layout."""
    return [
        '--data-root', f'{root}/', '--train-ann', 'annotations/train.json',
        '--train-img', 'train/', '--val-ann', 'annotations/val.json',
        '--val-img', 'val/'
    ]


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', type=Path, help='folder to create')
    parser.add_argument('--train-images', type=int, default=200)
    parser.add_argument('--val-images', type=int, default=50)
    parser.add_argument('--image-size', type=int, default=256)
    args = parser.parse_args()
    make_own_data(args.root, args.train_images, args.val_images,
                  args.image_size)


def tool_namespace(base, out, root: Path) -> argparse.Namespace:
    """What tools/dataset_config.py parses from its command line."""
    return parse(write_dataset_config, base, out, *tool_args(root))


def _size_options(node, key: str, size: int) -> dict:
    """Every image size in a pipeline, shrunk to ``size``."""
    found = {}
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, value in items:
        path = f'{key}.{k}'
        if k == 'scale':
            found[path] = (size, size)
        elif k == 'scales':
            found[path] = [(size, size)]
        elif k == 'crop_size':
            found[path] = (size // 2, size // 2)
        elif isinstance(value, (dict, list)):
            found.update(_size_options(value, path, size))
    return found


def tiny_run_options(cfg, size: int = 64) -> dict:
    """--cfg-options (as a dict) that make a COCO config of ours train one
    epoch on this data in seconds: inputs of ``size``, no ImageNet
    download, no data workers, every detection kept for evaluation."""
    opts = {
        'model.backbone.init_cfg': None,
        'train_cfg.max_epochs': 1,
        'default_hooks.logger.interval': 1,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.num_workers'] = 0
        opts[f'{loader}.persistent_workers'] = False
        pipeline = cfg[loader].dataset.pipeline
        opts.update(
            _size_options(pipeline, f'{loader}.dataset.pipeline', size))
    stage = '.rcnn' if 'rcnn' in cfg.model.test_cfg else ''
    opts[f'model.test_cfg{stage}.score_thr'] = 0.0
    return opts


def as_command_line(opts: dict) -> list:
    """The same options as a tool's ``--cfg-options KEY=VALUE ...``."""
    return ['--cfg-options'
            ] + [f'{k}={v!r}'.replace(' ', '') for k, v in opts.items()]
