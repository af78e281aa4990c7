"""Write a config that trains one of ours on a COCO-format dataset.

In mmdet that means the class names of three datasets, ``num_classes`` of
every head (three of them in Cascade R-CNN), three annotation paths, two
image folders and the evaluator, and a slip is silent. The written file
inherits the base config and sets exactly those, from the annotation
files themselves; it is checked by building its datasets (the audit of
``AuditedCocoDataset``, and the splits compared) before it is put in place.
"""
import argparse
import inspect
import os
import os.path as osp
from typing import Dict, List, Tuple, Union

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.dataset import BaseDataset

from ..atomic_files import atomic_write
from ..config_files import find_config
from ..datasets.annotation_audit import check_same_categories, coco_categories
from ..datasets.audited_coco import AuditedCocoDataset, audited_splits
from ..datasets.data_checks import check_dataset_paths, read_json
from ..errors import ConfigError, refuse_overwrite, require_file

SPLITS = ('train', 'val')
# Class-agnostic proposals: its num_classes is 1 whatever the data.
CLASS_AGNOSTIC = ('rpn_head', )


class Code(str):
    """Source written into the config as it is, not as a literal."""


# A model override: key -> nested override, or the code of a new value.
Override = Dict[str, Union['Override', Code]]


def class_overrides(node: dict, path: str) -> Override:
    """``num_classes`` of every head under ``node`` (found by walking the
    model config), as overrides; a list of heads (Cascade's stages) is
    rewritten whole, since a config cannot merge into one element."""
    found: Override = {}
    for key, value in node.items():
        if key in CLASS_AGNOSTIC:
            continue
        if key == 'num_classes':
            found[key] = Code('num_classes')
        elif isinstance(value, dict):
            sub = class_overrides(value, f'{path}.{key}')
            if sub:
                found[key] = sub
        elif isinstance(value, list) and any(
                isinstance(v, dict) and 'num_classes' in v for v in value):
            if not all(
                    isinstance(v, dict) and 'num_classes' in v for v in value):
                raise ConfigError(
                    f'{path}.{key} mixes heads with and without num_classes:'
                    f' set their num_classes by hand.')
            found[key] = Code(f'[\n    dict(head, num_classes=num_classes)'
                              f'\n    for head in {path}.{key}\n]')
    return found


def render(value: Union[dict, Code, str], indent: int) -> str:
    """``dict(...)`` source in yapf's style, for a readable config: on one
    line where it fits, else one key a line."""
    if isinstance(value, Code):
        return value.replace('\n', '\n' + ' ' * indent)
    if not isinstance(value, dict):
        return repr(value)
    pad = ' ' * (indent + 4)
    parts = [f'{k}={render(v, indent + 4)}' for k, v in value.items()]
    inline = f'dict({", ".join(parts)})'
    if '\n' not in inline and indent + len(inline) < 60:
        return inline
    return 'dict(\n' + ',\n'.join(pad + p for p in parts) + ')'


def _dataset_override(base: Config, split: str, ann: str, img: str) -> dict:
    """The split's dataset with our data; a base whose dataset generates
    its files (the demo's) gets an AuditedCocoDataset in its place, with
    the base's pipeline and other CocoDataset arguments."""
    dataset = base[f'{split}_dataloader']['dataset']
    override = dict(
        data_root=Code('data_root'),
        ann_file=ann,
        data_prefix=dict(img=img),
        metainfo=Code('metainfo'))
    dataset_cls = DATASETS.get(dataset.get('type', ''))
    if getattr(dataset_cls, 'generates_files', False):
        accepted = set(inspect.signature(BaseDataset).parameters)
        accepted |= set(inspect.signature(BaseDetDataset).parameters)
        kept = {
            k: Code(f'_base_.{split}_dataloader.dataset.{k}')
            for k in dataset if k in accepted and k not in override
        }
        return dict(
            _delete_=True,
            type=AuditedCocoDataset.__name__,
            **kept,
            **override)
    if not (isinstance(dataset_cls, type)
            and issubclass(dataset_cls, AuditedCocoDataset)):
        raise ConfigError(
            f'the base config\'s {split} dataset is {dataset.get("type")!r}, '
            f'not a COCO-format dataset this tool can fill in: start from '
            f'one of configs/*.py.')
    return override


def base_reference(base: str, out_dir: str) -> str:
    """How the written config names its base: relative to the config's
    folder when the base lies inside it (``configs/...`` beside a config
    written at the repository root), else absolute, never ``../..``."""
    relative = osp.relpath(osp.abspath(base), osp.abspath(out_dir))
    return osp.abspath(base) if relative.startswith(os.pardir) else relative


def config_text(args: argparse.Namespace, base: Config, out_dir: str,
                classes: Tuple[str, ...], ids: List[int]) -> str:
    """The new config's source."""
    model = class_overrides(base.model, '_base_.model')
    if not model:
        raise ConfigError(f'no head of {args.base!r} has num_classes: '
                          f'nothing to adapt to the data.')
    per_gpu = base.train_dataloader.get('batch_size', 1)
    base_batch = base.get('auto_scale_lr', {}).get('base_batch_size')
    numbering = ', '.join(f'{i}: id {c}' for i, c in enumerate(ids))
    loaders = '\n'.join(
        f'{split}_dataloader = '
        f'{render(dict(dataset=_dataset_override(base, split, ann, img)), 0)}'
        for split, ann, img in zip(SPLITS, (args.train_ann,
                                            args.val_ann), (args.train_img,
                                                            args.val_img)))
    base_path = base_reference(base.filename, out_dir)
    lines = [
        '# Written by tools/dataset_config.py: the base config adapted to '
        'the COCO-format',
        f'# data in {args.data_root}.',
        f'_base_ = {base_path!r}',
        '',
        f'data_root = {args.data_root!r}',
        '# The categories of the annotation files, in the order mmdet '
        'numbers them',
        f'# (the order of "categories"; label {numbering}).',
        f'classes = {classes!r}',
        'num_classes = len(classes)',
        'metainfo = dict(classes=classes)',
        loaders,
        'test_dataloader = val_dataloader',
        f'val_evaluator = dict(ann_file=data_root + {args.val_ann!r})',
        'test_evaluator = val_evaluator',
        '',
        '# Every head with a class-dependent layer.',
        f'model = {render(model, 0)}',
        '',
        f'# Batch: {per_gpu} images per GPU, as in the base config.',
    ]
    if base_batch:
        lines.append(
            f'# Its learning rate is for a total batch of {base_batch}: with '
            f'another number of GPUs,\n# pass --auto-scale-lr to '
            f'tools/train.py to scale it linearly (mmdet\'s rule).')
    return '\n'.join(lines) + '\n'


def _check(path: str) -> None:
    """Build the written config's datasets: they audit their files, and
    the splits are compared, as in training."""
    cfg = Config.fromfile(path)
    check_dataset_paths(cfg, list(SPLITS))
    files = []
    for split in SPLITS:
        dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
        files += [(d.ann_file, d.ann_categories)
                  for d in audited_splits(dataset)]
    check_same_categories(files)


def write_dataset_config(args: argparse.Namespace) -> None:
    """tools/dataset_config.py: write ``args.out``, a config of the base
    with the dataset's classes, paths and heads, checked on the data."""
    refuse_overwrite(args.out, 'output config')
    register_all_modules()
    base = Config.fromfile(find_config(args.base, 'base config'))
    ann = osp.join(args.data_root, args.train_ann)
    require_file(ann, 'train annotation file')
    categories = coco_categories(read_json(ann, '--train-ann'), ann)
    out_dir = osp.dirname(osp.abspath(args.out))
    text = config_text(args, base, out_dir, tuple(n for _, n in categories),
                       [i for i, _ in categories])
    # exclusive: fails, rather than replace, if it exists by now.
    with atomic_write(args.out, '.py', exclusive=True) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)
        _check(tmp)
    print(f'wrote {args.out}: {len(categories)} classes; train it with '
          f'python tools/train.py {args.out}')


def dataset_config_parser() -> argparse.ArgumentParser:
    """tools/dataset_config.py's command line."""
    parser = argparse.ArgumentParser(
        description='Write a config of BASE for a COCO-format dataset')
    parser.add_argument(
        'base',
        help='config to start from, e.g. '
        'configs/mask_rcnn_fasternet_s.py')
    parser.add_argument('out', help='the config file to write (.py)')
    parser.add_argument(
        '--data-root', required=True, help='folder of the dataset')
    for split in ('train', 'val'):
        parser.add_argument(
            f'--{split}-ann',
            required=True,
            help=f'{split} annotation file, relative to --data-root')
        parser.add_argument(
            f'--{split}-img',
            required=True,
            help=f'{split} image folder, relative to --data-root')
    return parser
