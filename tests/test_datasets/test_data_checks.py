"""Preflight data checks and the explanation of data failures."""
import json

import pytest
from mmengine.config import Config

from mmdet_fasternet.datasets import AuditedCocoDataset, annotation_audit
from mmdet_fasternet.datasets.data_checks import (check_dataset_paths,
                                                  dataset_configs,
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
    if '"1.png"' in content:  # the image coco_json lists
        (root / 'images' / '1.png').write_bytes(b'png')
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


def test_explain_undecodable_and_empty_images(tmp_path):
    make_coco(tmp_path)
    cfg = coco_cfg(tmp_path)
    worker = AssertionError(
        'Caught AssertionError in DataLoader worker process 0.\n'
        '    assert img is not None, f\'failed to load image: {filename}\'\n'
        'AssertionError: failed to load image: /d/images/3.jpg\n')
    assert explain_data_error(
        worker, cfg,
        ['train']).startswith("image file '/d/images/3.jpg' cannot be decoded")
    empty = Exception("OpenCV(5.0.0) loadsave.cpp:1291: error: (-215:"
                      "Assertion failed) !buf.empty() in function 'imdecode_'")
    (tmp_path / 'images' / 'a.png').write_bytes(b'x')
    (tmp_path / 'images' / 'b.png').write_bytes(b'')
    assert explain_data_error(empty, cfg, [
        'train'
    ]).startswith(f"image file '{tmp_path}/images/b.png' is empty (0 bytes)")


def coco_json(annotations, categories=({'id': 1, 'name': 'a'}, )):
    return json.dumps(
        dict(
            images=[dict(id=1, file_name='1.png', width=100, height=50)],
            annotations=[
                dict(a, id=i, image_id=1) for i, a in enumerate(annotations)
            ],
            categories=list(categories)))


def box(x, y, w, h, polygon=None, category_id=1):
    return dict(
        bbox=[x, y, w, h],
        area=w * h,
        category_id=category_id,
        segmentation=[polygon or [x, y, x + w, y, x + w, y + h]])


def audit(root, with_mask=True, classes=('a', )):
    """Build the dataset the configs use, which audits as it loads."""
    return AuditedCocoDataset(
        data_root=str(root),
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=classes),
        pipeline=[dict(type='mmdet.LoadAnnotations', with_mask=with_mask)])


def test_audit_refuses_category_ids_missing_from_categories(tmp_path):
    make_coco(tmp_path, coco_json([box(1, 1, 5, 5), box(1, 1, 5, 5, None, 7)]))
    with pytest.raises(
            DataError,
            match=r'train.json.*category ids not in its '
            r'"categories": 7 \(used by 1 of 2 annotations; defined: 1\)'):
        audit(tmp_path)


def test_audit_counts_what_mmdet_skips(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr('mmdet_fasternet.datasets.annotation_audit.print_log',
                        lambda msg, **kwargs: logged.append(msg))
    make_coco(
        tmp_path,
        coco_json([
            box(1, 1, 5, 5),
            box(1, 1, 0, 5),  # no width
            box(100, 10, 5, 5),  # right of the image
            box(1, 1, 5, 5, [1, 1, 6, 6]),  # 2 points
        ]))
    audit(tmp_path)
    assert logged.pop().endswith(
        'train.json\': skipped 2 of 4 annotations '
        'whose box has no area in the image, and 1 of 2 polygons with fewer '
        'than 3 points.')
    # Without masks, polygons do not matter.
    audit(tmp_path, with_mask=False)
    assert 'polygons' not in logged.pop()


def test_audit_refuses_objects_without_a_mask_when_masks_load(tmp_path):
    make_coco(
        tmp_path,
        coco_json([box(1, 1, 5, 5),
                   dict(box(1, 1, 5, 5), segmentation=[])]))
    with pytest.raises(
            DataError,
            match=r'1 of 2 annotations have no '
            r'"segmentation" \(first: id 1\)'):
        audit(tmp_path)
    audit(tmp_path, with_mask=False)


def test_audit_refuses_files_that_are_not_coco(tmp_path):
    make_coco(tmp_path, '{"images": []}')
    with pytest.raises(
            DataError, match="not COCO format: it has no "
            "'annotations' list"):
        audit(tmp_path)


def test_evaluation_ground_truth_drops_degenerate_polygons():
    keep = box(1, 1, 5, 5, [1, 1, 6, 1, 6, 6])
    mixed = dict(box(1, 1, 5, 5), segmentation=[[1, 1, 6, 1, 6, 6], [1, 2]])
    none_left = box(2, 3, 4, 5, [1, 1, 6, 6])
    changed = [
        annotation_audit.drop_degenerate_polygons(ann)
        for ann in (keep, mixed, none_left)
    ]
    assert changed == [False, True, True]
    assert keep['segmentation'] == [[1, 1, 6, 1, 6, 6]]
    assert mixed['segmentation'] == [[1, 1, 6, 1, 6, 6]]
    assert none_left['segmentation'] == [[2, 3, 6, 3, 6, 8, 2, 8]]
    assert 'iscrowd' not in none_left  # a crowd would change bbox mAP


@pytest.mark.parametrize('where', [
    dict(backend_args=dict(backend='petrel')),
    dict(data_root='s3://bucket/coco/'),
])
def test_remote_storage_skips_the_local_checks_with_one_line(
        tmp_path, monkeypatch, where):
    """Nothing of it exists locally: the backend will read it."""
    lines = []
    monkeypatch.setattr('mmdet_fasternet.datasets.data_checks.print_log',
                        lambda msg, **kwargs: lines.append(msg))
    cfg = coco_cfg(tmp_path / 'not here')
    cfg.train_dataloader.dataset.update(where)
    check_dataset_paths(cfg, ['train'])
    assert len(lines) == 1
    assert 'train_dataloader.dataset: data on remote storage' in lines[0]
    assert 'the local path checks are skipped' in lines[0]


PETS = ({'id': 9, 'name': 'dog'}, {'id': 3, 'name': 'cat'})
CLASSES_FIX = ('Fix: set metainfo=dict(classes=...) of the train, val and '
               'test datasets and num_classes of the heads to match it, or '
               'write the config with tools/dataset_config.py.')


def audit_error(root, **kwargs) -> str:
    """The one-line message of the DataError that building raises."""
    with pytest.raises(DataError) as err:
        audit(root, **kwargs)
    message = str(err.value)
    assert '\n' not in message
    return message


@pytest.mark.parametrize('classes,problem', [
    (('person', 'car'), "none of the config's 2 class names ('person', "
     "'car') is one of its categories ('dog', 'cat'), so mmdet would drop "
     'every image.'),
    (('dog', 'cat', 'bird'), "the config's class names 'bird' are not among "
     "its categories ('dog', 'cat')."),
])
def test_class_names_the_file_lacks(tmp_path, classes, problem):
    """COCO's names on one's own data: mmdet filtered every image away and
    mmengine failed with 'need at least one array to concatenate'."""
    make_coco(tmp_path, coco_json([box(1, 1, 5, 5, category_id=9)], PETS))
    ann = tmp_path / 'annotations' / 'train.json'
    assert audit_error(
        tmp_path, classes=classes) == (
            f"annotation file '{ann}': {problem} {CLASSES_FIX}")
    audit(tmp_path, classes=('cat', ))  # a subset of the file's is fine


def test_class_names_in_another_order_than_the_file(tmp_path):
    """mmdet numbers labels in the file's order whatever the config's."""
    make_coco(tmp_path, coco_json([box(1, 1, 5, 5, category_id=9)], PETS))
    ann = tmp_path / 'annotations' / 'train.json'
    assert audit_error(
        tmp_path, classes=('cat', 'dog')
    ) == (
        f"annotation file '{ann}' lists the categories in another order "
        f"than the config's classes ('dog', 'cat' there, 'cat', 'dog' in the "
        f'config); mmdet numbers labels in the file\'s order, so predictions '
        f"would carry wrong names. Fix: list the classes as classes=('dog', "
        f"'cat'), or write the config with tools/dataset_config.py.")


def test_a_category_name_defined_twice(tmp_path):
    make_coco(
        tmp_path,
        coco_json([box(1, 1, 5, 5)], PETS + ({
            'id': 1,
            'name': 'dog'
        }, )))
    ann = tmp_path / 'annotations' / 'train.json'
    assert audit_error(
        tmp_path, classes=('dog', 'cat')) == (
            f"annotation file '{ann}' defines the categories 'dog' more than "
            f'once: mmdet would number each copy as a class of its own. Give '
            f'each category one entry.')


@pytest.mark.parametrize('annotations,what', [
    ([], 'no annotations of its images'),
    ([box(200, 1, 5, 5)], 'none of its 1 annotations has a box inside its '
     'image'),
])
def test_a_split_with_no_annotations(tmp_path, annotations, what):
    make_coco(tmp_path, coco_json(annotations))
    ann = tmp_path / 'annotations' / 'train.json'
    assert audit_error(tmp_path) == (
        f"annotation file '{ann}' has {what}: a split needs annotated "
        f'objects to train on or evaluate against. Annotate it, or point '
        f'ann_file at another file.')


def test_an_image_folder_without_the_listed_images(tmp_path):
    make_coco(tmp_path, coco_json([box(1, 1, 5, 5)]))
    ann = tmp_path / 'annotations' / 'train.json'
    images = f'{tmp_path}/images/'
    (tmp_path / 'images' / '1.png').rename(tmp_path / 'images' / 'x.png')
    assert audit_error(tmp_path) == (
        f"image folder '{images}' holds none of the 1 images annotation "
        f"file '{ann}' lists (first: '1.png'): point data_prefix.img at the "
        f'folder that holds them.')
    coco = json.loads(coco_json([box(1, 1, 5, 5)]))
    coco['images'].append(dict(coco['images'][0], id=2, file_name='x.png'))
    ann.write_text(json.dumps(coco))
    assert audit_error(tmp_path) == (
        f"image file '{images}1.png' is missing: 1 of the 2 images "
        f"annotation file '{ann}' lists are not in '{images}'. Restore them, "
        f'or remove them from the annotation file.')


def test_train_and_val_files_with_different_categories(tmp_path):
    from types import SimpleNamespace

    from mmdet_fasternet.engine.hooks import SameCategoriesHook
    splits = []
    for name, categories in (('train', PETS), ('val', PETS[::-1])):
        make_coco(tmp_path / name,
                  coco_json([box(1, 1, 5, 5, category_id=9)], categories))
        splits.append(audit(tmp_path / name, classes=('cat', )))
    loader = [SimpleNamespace(dataset=d) for d in splits]
    runner = SimpleNamespace(
        train_dataloader=loader[0],
        val_loop=SimpleNamespace(dataloader=loader[1]))
    with pytest.raises(DataError) as err:
        SameCategoriesHook().before_train(runner)
    train, val = (
        tmp_path / n / 'annotations' / 'train.json' for n in ('train', 'val'))
    assert str(err.value) == (
        f"annotation files '{train}' and '{val}' define different "
        f"categories ((id, name): (9, 'dog'), (3, 'cat') vs (3, 'cat'), "
        f"(9, 'dog')). Give both the same \"categories\" list (ids, names "
        f'and order), e.g. copy it from the first.')
    runner.val_loop = None  # training without validation
    SameCategoriesHook().before_train(runner)
