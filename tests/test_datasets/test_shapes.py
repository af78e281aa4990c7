"""The synthetic shapes dataset behind the embedded demo."""
import json

import cv2
import numpy as np
import pytest

from mmdet_fasternet.datasets import SHAPE_CLASSES, SyntheticShapesDataset
from mmdet_fasternet.datasets.shapes import ensure_split


def make(tmp_path, name='split', **kwargs):
    params = dict(num_images=6, image_size=96, max_shapes=4, seed=0)
    params.update(kwargs)
    ensure_split(str(tmp_path / name), **params)
    return tmp_path / name


def test_split_is_valid_coco_with_masks_matching_pixels(tmp_path):
    split = make(tmp_path)
    coco = json.loads((split / 'annotations.json').read_text())
    assert [c['name'] for c in coco['categories']] == list(SHAPE_CLASSES)
    assert len(coco['images']) == 6
    assert len(coco['annotations']) >= 6  # at least one shape per image
    assert not list(tmp_path.glob('.shapes-*'))  # temporary folder removed
    for ann in coco['annotations']:
        img = coco['images'][ann['image_id'] - 1]
        assert (split / 'images' / img['file_name']).is_file()
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= 96 and y + h <= 96
        assert 1 <= ann['category_id'] <= len(SHAPE_CLASSES)
        drawn = np.zeros((96, 96), np.uint8)
        for poly in ann['segmentation']:
            pts = np.array(poly).reshape(-1, 2).round().astype(np.int32)
            cv2.fillPoly(drawn, [pts], 1)
        # The polygon covers the visible pixels it was traced from.
        assert abs(int(drawn.sum()) - ann['area']) <= 0.25 * ann['area']
        ys, xs = np.nonzero(drawn)
        assert xs.min() >= x - 1 and xs.max() <= x + w
        assert ys.min() >= y - 1 and ys.max() <= y + h


def test_generation_is_seeded(tmp_path):
    a = make(tmp_path, 'a')
    b = make(tmp_path, 'b')
    c = make(tmp_path, 'c', seed=1)
    assert (a / 'annotations.json').read_text() == (
        b / 'annotations.json').read_text()
    assert (a / 'images' /
            '000001.png').read_bytes() == (b / 'images' /
                                           '000001.png').read_bytes()
    assert (a / 'annotations.json').read_text() != (
        c / 'annotations.json').read_text()


def test_existing_split_with_other_parameters_is_refused(tmp_path):
    split = make(tmp_path)
    before = (split / 'annotations.json').read_text()
    with pytest.raises(ValueError, match=r"num_images': 6.*num_images': 7"):
        make(tmp_path, num_images=7)
    assert (split / 'annotations.json').read_text() == before


def test_dataset_generates_on_first_use(tmp_path):
    ds = SyntheticShapesDataset(
        data_root=str(tmp_path / 'val'),
        num_images=3,
        image_size=64,
        test_mode=True,
        pipeline=[])
    assert len(ds) == 3
    assert ds.metainfo['classes'] == SHAPE_CLASSES
    assert ds[0]['img_path'].endswith('000001.png')
    assert SyntheticShapesDataset(
        data_root=str(tmp_path / 'val'),
        num_images=3,
        image_size=64,
        test_mode=True,
        pipeline=[]).load_data_list() == ds.load_data_list()


def test_dataset_needs_data_root():
    with pytest.raises(ValueError, match='needs data_root'):
        SyntheticShapesDataset(pipeline=[])


def test_foreign_folder_is_left_untouched(tmp_path):
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('keep me')
    with pytest.raises(ValueError, match='left untouched'):
        make(tmp_path, 'mine')
    assert (tmp_path / 'mine' / 'notes.txt').read_text() == 'keep me'
