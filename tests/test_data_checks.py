"""Preflight data checks and the explanation of data failures."""
import json

import pytest
from mmengine.config import Config

from mmdet_fasternet.data_checks import (check_dataset_paths, dataset_configs,
                                         explain_data_error)
from mmdet_fasternet.errors import DataError


def coco_cfg(root, **dataset):
    ds = dict(
        type='CocoDataset',
        data_root=str(root),
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        **dataset)
    return Config(dict(train_dataloader=dict(dataset=ds)))


def make_coco(root, content='{"images": []}'):
    (root / 'annotations').mkdir(parents=True)
    (root / 'images').mkdir()
    (root / 'annotations' / 'train.json').write_text(content)


def test_valid_layout_passes(tmp_path):
    make_coco(tmp_path)
    check_dataset_paths(coco_cfg(tmp_path), ['train'])


def test_missing_root_names_path_and_fix(tmp_path):
    with pytest.raises(
            DataError,
            match=r'data root .*nope.* does not exist.*'
            r'--cfg-options train_dataloader.dataset.data_root='):
        check_dataset_paths(coco_cfg(tmp_path / 'nope'), ['train'])


def test_missing_annotation_file_and_image_folder(tmp_path):
    make_coco(tmp_path)
    (tmp_path / 'annotations' / 'train.json').unlink()
    with pytest.raises(
            DataError, match=r'annotations/train.json.* does not '
            r'exist'):
        check_dataset_paths(coco_cfg(tmp_path), ['train'])
    (tmp_path / 'annotations' / 'train.json').write_text('{}')
    (tmp_path / 'images').rmdir()
    with pytest.raises(DataError, match=r"image folder .*images/' does not"):
        check_dataset_paths(coco_cfg(tmp_path), ['train'])


@pytest.mark.parametrize('content,reason', [('', 'it is empty'),
                                            ('<html>', 'starts with'),
                                            ('{"images": [', 'truncated')])
def test_not_json(tmp_path, content, reason):
    make_coco(tmp_path, content)
    with pytest.raises(DataError, match=reason):
        check_dataset_paths(coco_cfg(tmp_path), ['train'])


def test_wrapped_datasets_are_checked(tmp_path):
    inner = coco_cfg(tmp_path / 'nope').train_dataloader.dataset
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[
                        dict(type='RepeatDataset', times=2, dataset=inner)
                    ]))))
    refs = dataset_configs(cfg, ['train'])
    assert [k for k, _ in refs
            ] == ['train_dataloader.dataset.datasets.0.dataset']
    with pytest.raises(DataError, match='datasets.0.dataset.data_root'):
        check_dataset_paths(cfg, ['train'])


def test_generated_datasets_are_skipped(tmp_path):
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='SyntheticShapesDataset',
                    data_root=str(tmp_path / 'x')))))
    assert dataset_configs(cfg, ['train']) == []


def test_explain_json_error_names_the_file(tmp_path):
    make_coco(tmp_path, '{"images": [}')
    cfg = coco_cfg(tmp_path)
    try:
        json.loads('{"images": [}')
    except ValueError as exc:
        message = explain_data_error(exc, cfg, ['train'])
    assert 'annotations/train.json' in message and 'not valid JSON' in message


def test_explain_missing_file_and_unrelated_errors(tmp_path):
    cfg = coco_cfg(tmp_path)
    exc = FileNotFoundError(
        "Caught FileNotFoundError in DataLoader worker process 0.\n"
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'/d/images/7.png'")
    assert "'/d/images/7.png' is missing" in explain_data_error(
        exc, cfg, ['train'])
    assert explain_data_error(
        RuntimeError('CUDA out of memory'), cfg, ['train']) is None
