"""What mmdet and pycocotools quietly do with odd COCO annotations.

mmdet drops annotations whose category id is not in ``categories`` and
those whose box has no area inside the image, and LoadAnnotations drops
polygons of fewer than 3 points (ignoring an object left with none), all
without a word. ``AuditedCocoDataset`` (mmdet's CocoDataset, as the configs
here declare it) audits the annotation file it has just parsed, so the
check costs no second read: an unknown category id is an error, the
skipped boxes and polygons are counted in the run's log.
``drop_degenerate_polygons`` applies the training rule to the evaluators'
ground truth (``DegeneratePolygonsHook``).
"""
import logging
from typing import List, Optional, Tuple

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


def audit_coco(coco: object, path: str, masks: bool) -> None:
    """Audit a parsed COCO annotation file: a DataError for what mmdet would
    drop silently or crash on, a log line counting what it skips.
    ``masks``: the pipeline loads masks."""
    _check_format(coco, path)
    _check_categories(coco, path)
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
