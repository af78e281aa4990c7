"""Turn missing or malformed data into one clear message before it hurts.

``check_dataset_paths`` runs before the Runner is built and looks only at
what is cheap to look at (folders, annotation files existing, the file
looking like JSON). ``explain_data_error`` runs only after a failure and
names the file behind a bare ``FileNotFoundError``, ``JSONDecodeError`` or
undecodable image. (annotation_audit.py reads the annotations themselves.)
"""
import json
import os
import os.path as osp
import re
from typing import Iterator, List, Optional, Tuple

from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.logging import print_log

from ..errors import DataError

# (config key, dataset config) for every dataset a config would read.
DatasetRef = Tuple[str, dict]


def leaf_datasets(key: str, dataset: dict) -> Iterator[DatasetRef]:
    """The datasets inside wrappers (``key``: the config key of
    ``dataset``)."""
    if 'dataset' in dataset:  # wrappers such as RepeatDataset
        yield from leaf_datasets(f'{key}.dataset', dataset['dataset'])
    elif 'datasets' in dataset:  # ConcatDataset
        for i, d in enumerate(dataset['datasets']):
            yield from leaf_datasets(f'{key}.datasets.{i}', d)
    else:
        yield key, dataset


def dataset_configs(cfg: Config, splits: List[str]) -> List[DatasetRef]:
    """The file-backed datasets of ``{split}_dataloader`` for each split."""
    found = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or 'dataset' not in loader:
            continue
        for key, ds in leaf_datasets(f'{split}_dataloader.dataset',
                                     loader['dataset']):
            ds_cls = DATASETS.get(ds.get('type', ''))
            if not getattr(ds_cls, 'generates_files', False):
                found.append((key, ds))
    return found


def remote_storage(ds: dict) -> Optional[str]:
    """What says the dataset lives on remote storage (a ``backend_args``
    backend, or a URL-like path), or None for local files."""
    backend = (ds.get('backend_args') or {}).get('backend', 'local')
    if backend != 'local':
        return f'backend_args backend {backend!r}'
    paths = [ds.get('data_root'), ds.get('ann_file')]
    paths += list((ds.get('data_prefix') or {}).values())
    remote = [p for p in paths if isinstance(p, str) and '://' in p]
    return f'path {remote[0]!r}' if remote else None


def resolve_path(ds: dict, path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    root = ds.get('data_root') or ''
    return path if osp.isabs(path) or not root else osp.join(root, path)


def _looks_like_json(path: str) -> Optional[str]:
    """Why ``path`` cannot be a JSON object, judged from its ends only."""
    with open(path, 'rb') as f:
        head = f.read(64).lstrip()
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 64))
        tail = f.read().rstrip()
    if not head:
        return 'it is empty'
    if not head.startswith(b'{'):
        return f'it starts with {head[:20]!r}, not with "{{"'
    if not tail.endswith(b'}'):
        return 'it does not end with "}" (truncated download?)'
    return None


def check_dataset_paths(cfg: Config, splits: List[str]) -> None:
    """Raise DataError naming the first missing/broken path, and the fix.
    Datasets on remote storage are left to their backend, with a note."""
    for key, ds in dataset_configs(cfg, splits):
        remote = remote_storage(ds)
        if remote:
            print_log(
                f'{key}: data on remote storage ({remote}); the local path '
                f'checks are skipped.',
                logger='current')
            continue
        root = ds.get('data_root')
        if root and not osp.isdir(root):
            raise DataError(
                f'data root {root!r} ({osp.abspath(root)}) does not exist '
                f'({key}.data_root). Put the dataset there (for COCO 2017: '
                f'annotations/, train2017/, val2017/) or point the config at '
                f'your copy, e.g. --cfg-options {key}.data_root=/path/to/'
                f'coco/ (and the same for the other dataloaders and the '
                f'evaluator ann_file).')
        ann_file = resolve_path(ds, ds.get('ann_file'))
        if ann_file:
            if not osp.isfile(ann_file):
                raise DataError(
                    f'annotation file {ann_file!r} does not exist '
                    f'({key}.ann_file). Check the path or set --cfg-options '
                    f'{key}.ann_file=...')
            reason = _looks_like_json(ann_file)
            if reason:
                raise DataError(
                    f'annotation file {ann_file!r} is not JSON: {reason}. '
                    f'Replace it with a valid COCO-format JSON file.')
        img_dir = resolve_path(ds, (ds.get('data_prefix') or {}).get('img'))
        if img_dir and not osp.isdir(img_dir):
            raise DataError(f'image folder {img_dir!r} does not exist '
                            f'({key}.data_prefix.img).')


def read_json(path: str, key: str) -> object:
    """The parsed file, or DataError naming it and the parse error."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f'annotation file {path!r} ({key}.ann_file) is not '
                        f'valid JSON: {err}. Replace it with a valid '
                        f'COCO-format JSON file.') from err


_MISSING_FILE = re.compile(r"No such file or directory: '([^']+)'")
# mmcv's message; from a worker, the last line of its traceback.
_UNDECODABLE = re.compile(r'^(?:AssertionError: )?failed to load image: (.+)$',
                          re.M)


def _empty_image(cfg: Config, splits: List[str]) -> Optional[str]:
    """The first 0-byte file in the datasets' image folders, if any."""
    for _, ds in dataset_configs(cfg, splits):
        img_dir = resolve_path(ds, (ds.get('data_prefix') or {}).get('img'))
        if img_dir and osp.isdir(img_dir):
            with os.scandir(img_dir) as entries:
                for entry in entries:
                    if entry.is_file() and entry.stat().st_size == 0:
                        return entry.path
    return None


def explain_data_error(exc: BaseException, cfg: Config,
                       splits: List[str]) -> Optional[str]:
    """A one-line cause and fix for a data failure, or None if it is not.

    Failures inside DataLoader workers arrive re-raised with the worker's
    traceback as message, so paths are read from the text. OpenCV names no
    file for an empty one, so the image folders are searched for it.
    """
    text = str(exc)
    if isinstance(exc, OSError) or ('FileNotFoundError' in text):
        match = _MISSING_FILE.search(text)
        if match:
            return (f'file {match.group(1)!r} is missing: restore it (a '
                    f'missing image can also be removed from the annotation '
                    f'file).')
    fix = 'replace it, or remove it from the annotation file.'
    match = _UNDECODABLE.search(text)
    if match:
        return (f'image file {match.group(1)!r} cannot be decoded (corrupt, '
                f'truncated or not an image): {fix}')
    if '!buf.empty()' in text:
        empty = _empty_image(cfg, splits)
        return (f'image file {empty!r} is empty (0 bytes): {fix}'
                if empty else f'an image file is empty (0 bytes): {fix}')
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        for key, ds in dataset_configs(cfg, splits):
            ann_file = resolve_path(ds, ds.get('ann_file'))
            if ann_file and osp.isfile(ann_file):
                try:
                    read_json(ann_file, key)
                except DataError as err:
                    return str(err)
    return None
