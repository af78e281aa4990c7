"""What mmdet and pycocotools quietly do with odd COCO annotations.

mmdet drops annotations whose category id is not in ``categories`` and
those whose box has no area inside the image, and LoadAnnotations drops
polygons of fewer than 3 points (ignoring an object left with none), all
without a word. ``AuditedCocoDataset`` (mmdet's CocoDataset, as the configs
here declare it) audits the annotation file it has just parsed, so the
check costs no second read: an unknown category id, class names the file
does not define (or in another order than its ``categories``, the order
mmdet numbers labels in), a split with nothing to learn from and images
its folder lacks are errors; the skipped boxes and polygons are counted in
the run's log. ``check_same_categories`` compares the splits.
``drop_degenerate_polygons`` applies the training rule to the evaluators'
ground truth (``DegeneratePolygonsHook``).
"""
import logging
import os
import os.path as osp
from collections import Counter
from typing import List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from ..errors import DataError


def _zero_area(ann: dict, size: Tuple[float, float]) -> bool:
    """mmdet's rule: skipped unless the box has area inside the image."""
    x, y, w, h = ann['bbox']
    inside_w = min(x + w, size[0]) - max(x, 0)
    inside_h = min(y + h, size[1]) - max(y, 0)
    return (inside_w <= 0 or inside_h <= 0 or w < 1 or h < 1
            or ann.get('area', w * h) <= 0)


def _polygons(ann: dict) -> list:
    seg = ann.get('segmentation')
    return seg if isinstance(seg, list) else []  # not RLE


def _degenerate(polygon: list) -> bool:
    """LoadAnnotations drops it: fewer than 3 points (or an odd count)."""
    return len(polygon) < 6 or len(polygon) % 2 == 1


def _check_format(coco: object, path: str) -> None:
    for field in ('images', 'annotations', 'categories'):
        if not isinstance(coco, dict) or not isinstance(coco.get(field), list):
            raise DataError(f'annotation file {path!r} is not COCO format: '
                            f'it has no {field!r} list.')


def coco_categories(coco: object, path: str) -> List[Tuple[int, str]]:
    """The file's (id, name) pairs, in the order of ``categories``."""
    _check_format(coco, path)
    return [(c.get('id'), c.get('name')) for c in coco['categories']]


def _check_categories(coco: dict, path: str) -> None:
    known = {c.get('id') for c in coco['categories']}
    bad = [a for a in coco['annotations'] if a.get('category_id') not in known]
    if bad:
        ids = sorted({a.get('category_id') for a in bad}, key=str)
        raise DataError(
            f'annotation file {path!r}: category ids not in '
            f'its "categories": {", ".join(map(str, ids[:10]))} (used by '
            f'{len(bad)} of {len(coco["annotations"])} annotations; defined: '
            f'{", ".join(map(str, sorted(known, key=str)[:10]))}). mmdet '
            f'would drop those annotations silently: fix their category_id '
            f'or add the categories.')


def _preview(names: Sequence, limit: int = 10) -> str:
    shown = ', '.join(map(repr, names[:limit]))
    return shown + (f', ... ({len(names)} in all)'
                    if len(names) > limit else '')


CLASSES_FIX = ('set metainfo=dict(classes=...) of the train, val and test '
               'datasets and num_classes of the heads to match it, or write '
               'the config with tools/dataset_config.py')


def check_classes(coco: dict, path: str, classes: Sequence[str]) -> None:
    """The config's class names must all be categories of the file, in the
    file's order: mmdet numbers labels in the order of ``categories``
    (whatever the order of ``classes``) and silently drops every image
    whose objects match no name."""
    names = [c.get('name') for c in coco['categories']]
    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        raise DataError(
            f'annotation file {path!r} defines the categories '
            f'{_preview(twice)} more than once: mmdet would number each '
            f'copy as a class of its own. Give each category one entry.')
    missing = [c for c in classes if c not in names]
    if len(missing) == len(classes):
        raise DataError(
            f'annotation file {path!r}: none of the config\'s '
            f'{len(classes)} class names ({_preview(list(classes))}) is one '
            f'of its categories ({_preview(names)}), so mmdet would drop '
            f'every image. Fix: {CLASSES_FIX}.')
    if missing:
        raise DataError(f'annotation file {path!r}: the config\'s class names '
                        f'{_preview(missing)} are not among its categories '
                        f'({_preview(names)}). Fix: {CLASSES_FIX}.')
    used = tuple(n for n in names if n in classes)
    if used != tuple(classes):
        raise DataError(
            f'annotation file {path!r} lists the categories in another order '
            f'than the config\'s classes ({_preview(used)} there, '
            f'{_preview(list(classes))} in the config); mmdet numbers labels '
            f'in the file\'s order, so predictions would carry wrong names. '
            f'Fix: list the classes as classes={used!r}, or write the '
            f'config with tools/dataset_config.py.')


def check_images(coco: dict, path: str, img_dir: str) -> None:
    """Every image the file lists must be in ``img_dir``: one listing of
    the folder, not one look-up per image."""
    try:
        present = set(os.listdir(img_dir or '.'))
    except OSError as exc:
        raise DataError(f'image folder {img_dir!r} of annotation file '
                        f'{path!r} cannot be read: {exc}.') from exc
    listed = [str(i.get('file_name')) for i in coco['images']]
    missing = [
        f for f in listed
        if f not in present and not osp.isfile(osp.join(img_dir, f))
    ]
    if missing and len(missing) == len(listed):
        raise DataError(
            f'image folder {img_dir!r} holds none of the {len(listed)} '
            f'images annotation file {path!r} lists (first: '
            f'{missing[0]!r}): point data_prefix.img at the folder that '
            f'holds them.')
    if missing:
        raise DataError(
            f'image file {osp.join(img_dir, missing[0])!r} is missing: '
            f'{len(missing)} of the {len(listed)} images annotation file '
            f'{path!r} lists are not in {img_dir!r}. Restore them, or remove '
            f'them from the annotation file.')


def check_same_categories(files: Sequence[Tuple[str, list]]) -> None:
    """Every split's ``categories`` (path, [(id, name), ...]) must be the
    first one's: a model trained on one numbering is otherwise evaluated
    against another, or an evaluated class is silently ignored."""
    first, expected = files[0]
    for path, found in files[1:]:
        if found != expected:
            raise DataError(
                f'annotation files {first!r} and {path!r} define different '
                f'categories ((id, name): {_preview(expected, 6)} vs '
                f'{_preview(found, 6)}). Give both the same "categories" '
                f'list (ids, names and order), e.g. copy it from the first.')


def _skip_note(coco: dict, path: str, masks: bool) -> Optional[str]:
    """How many annotations (and polygons) mmdet will skip, or None; a
    DataError for what it would crash on instead."""
    sizes = {i.get('id'): (i['width'], i['height']) for i in coco['images']}
    anns = [
        a for a in coco['annotations']
        if a.get('image_id') in sizes and not a.get('ignore', False)
    ]
    for ann in anns:
        bbox = ann.get('bbox')
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise DataError(
                f'annotation file {path!r}: annotation '
                f'{ann.get("id")} has no [x, y, width, height] "bbox".')
    kept = [a for a in anns if not _zero_area(a, sizes[a['image_id']])]
    if not kept:
        what = (f'none of its {len(anns)} annotations has a box inside its '
                f'image' if anns else 'no annotations of its images')
        raise DataError(
            f'annotation file {path!r} has {what}: a split needs annotated '
            f'objects to train on or evaluate against. Annotate it, or point '
            f'ann_file at another file.')
    bare = [a for a in kept if not a.get('segmentation')]
    if masks and bare:
        raise DataError(
            f'annotation file {path!r}: {len(bare)} of '
            f'{len(anns)} annotations have no "segmentation" (first: id '
            f'{bare[0].get("id")}), but the pipeline loads masks and mmdet '
            f'fails on them. Add their polygons or remove them.')
    skipped: List[str] = []
    if len(kept) < len(anns):
        skipped.append(f'{len(anns) - len(kept)} of {len(anns)} annotations '
                       f'whose box has no area in the image')
    polygons = [p for a in kept for p in _polygons(a)]
    degenerate = sum(map(_degenerate, polygons))
    if masks and degenerate:
        skipped.append(f'{degenerate} of {len(polygons)} polygons with fewer '
                       f'than 3 points')
    if not skipped:
        return None
    return f'annotation file {path!r}: skipped {", and ".join(skipped)}.'


def audit_coco(coco: object, path: str, masks: bool,
               classes: Sequence[str]) -> None:
    """Audit a parsed COCO annotation file: a DataError for what mmdet would
    drop silently or crash on, a log line counting what it skips.
    ``masks``: the pipeline loads masks; ``classes``: the config's."""
    _check_format(coco, path)
    _check_categories(coco, path)
    check_classes(coco, path, classes)
    note = _skip_note(coco, path, masks)
    if note:
        print_log(note, logger='current', level=logging.WARNING)


def drop_degenerate_polygons(ann: dict) -> bool:
    """Apply LoadAnnotations' rule to one annotation's polygons, in place:
    drop the degenerate ones; with none left, outline the object's box.
    True if anything changed. Box, area and ``iscrowd`` stay as in the
    file, so bbox evaluation is pycocotools' own on the user's file."""
    polygons = _polygons(ann)
    kept = [p for p in polygons if not _degenerate(p)]
    if len(kept) == len(polygons):
        return False
    if not kept:
        x, y, w, h = ann['bbox']
        kept = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    ann['segmentation'] = kept
    return True
