"""ops/nms.py keeps the indices mmcv 2.1.0's CPU kernel keeps, in order,
on both of its paths (sparse suppression graph, dense blocks)."""
import pytest
import torch
from golden import compiled_ext, golden
from mmcv.ops import batched_nms, nms

from mmdet_fasternet.ops import nms as nms_module
from mmdet_fasternet.ops.extension import nms as ext_nms
from mmdet_fasternet.ops.nms import nms_cpu

CASES = golden()['nms']


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_nms_matches_golden(case, monkeypatch):
    args = (case['boxes'], case['scores'], case['iou_threshold'])
    # The dense path in one block and in many, the default path, and the
    # sparse one however many pairs it examines.
    for block in (256, 3, 0):
        keep = nms_cpu(*args, case['offset'], block=block)
        assert torch.equal(keep, case['keep']), block
    monkeypatch.setattr(nms_module, 'DENSE_SHARE', float('inf'))
    assert torch.equal(nms_cpu(*args, case['offset']), case['keep'])
    # The way mmcv calls it, through whichever mmcv._ext is in place.
    dets, keep = nms(*args, offset=case['offset'])
    assert torch.equal(keep, case['keep'])
    assert torch.equal(dets[:, 4], case['scores'][case['keep']])


def test_iou_exactly_at_threshold_is_kept():
    case = next(c for c in CASES if c['name'] == 'at_threshold_0')
    # 0.5 is not > 0.5: the two half boxes stay; the slightly taller
    # last box overlaps the first by more and goes.
    assert case['keep'].tolist() == [0, 1, 2]
    assert ext_nms(case['boxes'], case['scores'], 0.5, 0).tolist() == [0, 1, 2]


# Thin boxes whose x ranges meet by 0.4 (offset 0) or only through the
# offset (1): IoU 0.25 and 1/3; the third box is apart. Compiled mmcv keeps
# [0, 2] of both.
THIN_BOXES = {
    0: [[0., 0., 1., 10.], [0.6, 0., 1.6, 10.], [5., 0., 6., 10.]],
    1: [[0., 0., 0., 9.], [0.5, 0., 0.5, 9.], [5., 0., 5., 9.]],
}


@pytest.mark.parametrize('offset', [0, 1])
def test_boxes_meeting_by_less_than_a_pixel_in_x_suppress(offset):
    boxes = torch.tensor(THIN_BOXES[offset])
    scores = torch.tensor([0.9, 0.8, 0.7])
    for block in (0, 1, 256):
        keep = nms_cpu(boxes, scores, 0.2, offset, block)
        assert keep.tolist() == [0, 2], block


@pytest.mark.parametrize(
    'case',
    golden()['batched_nms'],
    ids=[c['name'] for c in golden()['batched_nms']])
def test_batched_nms_matches_golden(case):
    dets, keep = batched_nms(case['boxes'], case['scores'], case['idxs'],
                             dict(case['nms_cfg']), case['class_agnostic'])
    assert torch.equal(keep, case['keep'])
    assert torch.equal(dets, case['dets'])


def test_nms_matches_compiled_mmcv_live(monkeypatch):
    ext = compiled_ext()
    if ext is None:
        pytest.skip('compiled mmcv._ext not installed (mmcv-lite)')
    gen = torch.Generator().manual_seed(0)
    for trial in range(12):
        n = int(torch.randint(1, 400, (), generator=gen))
        xy = torch.randint(0, 25, (n, 2), generator=gen).float()
        wh = torch.randint(0, 9, (n, 2), generator=gen).float()
        boxes = torch.cat([xy, xy + wh], 1)
        if trial % 2:
            boxes = boxes + torch.rand(n, 4, generator=gen)
        scores = torch.randint(0, 4, (n, ), generator=gen).float()
        for offset in (0, 1):
            for threshold in (0.5, 0.3, 2 / 3):
                expected = ext.nms(
                    boxes, scores, iou_threshold=threshold, offset=offset)
                for block in (0, 64):
                    got = nms_cpu(boxes, scores, threshold, offset, block)
                    assert torch.equal(got, expected), (trial, offset,
                                                        threshold, block)
                with monkeypatch.context() as patch:
                    patch.setattr(nms_module, 'DENSE_SHARE', float('inf'))
                    got = nms_cpu(boxes, scores, threshold, offset)
                assert torch.equal(got, expected), (trial, offset, threshold)
