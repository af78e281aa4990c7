"""Our numbers are pycocotools' numbers on the user's annotation file:
degenerate polygons change only what the masks are evaluated against."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmdet.evaluation import CocoMetric
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmdet_fasternet.engine.hooks import DegeneratePolygonsHook

SIZE = 64
# Object 1 has a proper polygon, object 2 only one of 2 points (4
# numbers, which pycocotools' mask evaluation would take for a box).
GROUND_TRUTH = dict(
    images=[dict(id=1, file_name='a.png', width=SIZE, height=SIZE)],
    categories=[dict(id=1, name='thing')],
    annotations=[
        dict(
            id=i + 1,
            image_id=1,
            category_id=1,
            bbox=bbox,
            area=400,
            iscrowd=0,
            segmentation=[polygon]) for i, (bbox, polygon) in enumerate([
                ([4, 4, 20, 20], [4, 4, 24, 4, 24, 24, 4, 24]),
                ([36, 36, 20, 20], [36, 36, 56, 56]),
            ])
    ])
# A confident false positive, then both objects found.
DETECTIONS = [([30, 2, 8, 8], 0.95), ([4, 4, 20, 20], 0.9),
              ([36, 36, 20, 20], 0.8)]


def pycocotools_bbox_map(ann_file: str) -> float:
    gt = COCO(ann_file)
    dt = gt.loadRes([
        dict(image_id=1, category_id=1, bbox=b, score=s) for b, s in DETECTIONS
    ])
    evaluation = COCOeval(gt, dt, 'bbox')
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation.stats[0]


def prediction() -> dict:
    boxes = torch.tensor([[x, y, x + w, y + h]
                          for (x, y, w, h), _ in DETECTIONS]).float()
    masks = torch.zeros(len(DETECTIONS), SIZE, SIZE, dtype=torch.bool)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes.long().tolist()):
        mask[y1:y2, x1:x2] = True
    return dict(
        img_id=1,
        ori_shape=(SIZE, SIZE),
        pred_instances=dict(
            bboxes=boxes,
            scores=torch.tensor([s for _, s in DETECTIONS]),
            labels=torch.zeros(len(DETECTIONS), dtype=torch.long),
            masks=masks))


def test_degenerate_polygons_leave_bbox_map_to_pycocotools(
        tmp_path, monkeypatch):
    ann_file = tmp_path / 'annotations.json'
    ann_file.write_text(json.dumps(GROUND_TRUTH))
    expected = pycocotools_bbox_map(str(ann_file))

    metric = CocoMetric(ann_file=str(ann_file), metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=('thing', ))
    runner = SimpleNamespace(val_evaluator=SimpleNamespace(metrics=[metric]))
    logged = []
    monkeypatch.setattr(
        'mmdet_fasternet.engine.hooks.degenerate_polygons_hook.print_log',
        lambda msg, **kwargs: logged.append(msg))
    DegeneratePolygonsHook().before_val(runner)
    log = '\n'.join(logged)
    assert '1 objects have polygons of fewer than 3 points' in log
    assert 'bbox mAP are unaffected' in log
    metric.process({}, [prediction()])
    result = metric.compute_metrics(metric.results)
    assert result['bbox_mAP'] == pytest.approx(round(expected, 3))
    assert np.isfinite(result['segm_mAP'])  # pycocotools took the masks
    # Object 2 is now outlined by its box, as its detection's mask is: any
    # other outline (its 4 numbers taken as x, y, w, h, say) scores lower.
    assert result['segm_mAP'] == result['bbox_mAP']
    # The file itself is never edited.
    assert json.loads(ann_file.read_text()) == GROUND_TRUTH
