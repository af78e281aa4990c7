"""Write golden_mmcv_2.1.0.pt: small seeded inputs and what compiled mmcv
2.1.0's CPU kernels return for them (NMS, batched NMS, RoIAlign forward
and backward, BitmapMasks.crop_and_resize).

Run with full mmcv (compiled ``mmcv._ext``) importable::

    python tests/test_ops/make_golden.py

The tests compare our kernels with this file, so they run with mmcv-lite
too. Focal loss is not here: mmcv has no CPU kernel for it.
"""
import os.path as osp
import sys

import numpy as np
import torch

GOLDEN = osp.join(osp.dirname(osp.abspath(__file__)), 'golden_mmcv_2.1.0.pt')


def nms_cases(gen: torch.Generator) -> list:
    """(name, boxes, scores, iou_threshold, offset) cases."""
    cases = []
    for n, offset, threshold in ((300, 0, 0.5), (300, 1, 0.5), (200, 0, 0.3),
                                 (600, 0, 0.7), (150, 1, 0.0)):
        xy = torch.randint(0, 30, (n, 2), generator=gen).float()
        wh = torch.randint(0, 10, (n, 2), generator=gen).float()
        boxes = torch.cat([xy, xy + wh], 1)  # zero-area boxes included
        scores = torch.randint(0, 6, (n, ), generator=gen).float() / 6
        cases.append((f'random_{n}_{offset}_{threshold}', boxes, scores,
                      threshold, offset))
    # Spread out (the sparse path by default), ties, half-pixel corners.
    for offset in (0, 1):
        xy = torch.randint(0, 600, (500, 2), generator=gen).float() / 2
        wh = torch.randint(0, 24, (500, 2), generator=gen).float() / 2
        scores = torch.randint(0, 6, (500, ), generator=gen).float() / 6
        for threshold in (0.4, 0.0):
            cases.append((f'sparse_{offset}_{threshold}',
                          torch.cat([xy, xy + wh],
                                    1), scores, threshold, offset))
    # IoU exactly at the threshold: 50 / 100 = 0.5 (offset 0 and 1), kept.
    for offset in (0, 1):
        e = 1 - offset
        boxes = torch.tensor(
            [[0, 0, 10 - offset, 10 - offset], [0, 0, 10 - offset, 5 - offset],
             [0, 0, 5 - offset, 10 - offset],
             [0, 0, 10 - offset, 10 - offset + e * 0.25]],
            dtype=torch.float32)
        scores = torch.tensor([0.9, 0.8, 0.8, 0.7])
        cases.append((f'at_threshold_{offset}', boxes, scores, 0.5, offset))
    # Zero-area boxes only (NaN overlaps with offset 0) and empty input.
    boxes = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1], [2, 2, 2, 5]],
                         dtype=torch.float32)
    cases.append(('zero_area_0', boxes, torch.tensor([0.5, 0.5, 0.4]), 0.5, 0))
    cases.append(('zero_area_1', boxes, torch.tensor([0.5, 0.5, 0.4]), 0.5, 1))
    cases.append(('empty', torch.zeros(0, 4), torch.zeros(0), 0.5, 0))
    # Float coordinates, all scores tied.
    xy = torch.rand(400, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + torch.rand(400, 2, generator=gen) * 30], 1)
    cases.append(('float_ties', boxes, torch.full((400, ), 0.5), 0.45, 0))
    return cases


def batched_cases(gen: torch.Generator) -> list:
    """(name, boxes, scores, idxs, nms_cfg, class_agnostic) cases."""
    n = 500
    xy = torch.rand(n, 2, generator=gen) * 200
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 60], 1)
    scores = (torch.rand(n, generator=gen) * 20).round() / 20
    idxs = torch.randint(0, 6, (n, ), generator=gen)
    return [
        ('offset_trick', boxes, scores, idxs, dict(iou_threshold=0.5), False),
        ('split', boxes, scores, idxs, dict(iou_threshold=0.5,
                                            split_thr=100), False),
        ('class_agnostic', boxes, scores, idxs, dict(iou_threshold=0.6), True),
    ]


def roi_align_inputs(gen: torch.Generator) -> dict:
    feats = torch.randn(2, 3, 13, 17, generator=gen)
    n = 24
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([90., 70.]) - 12
    wh = torch.rand(n, 2, generator=gen) * 50
    rois = torch.cat(
        [torch.randint(0, 2, (n, 1), generator=gen).float(), xy, xy + wh], 1)
    rois[0, 1:] = torch.tensor([-30., -30., -2., -2.])  # wholly outside
    rois[1, 1:] = torch.tensor([10., 10., 10., 10.])  # zero size
    rois[2, 1:] = torch.tensor([60., 40., 90., 70.])  # past the far edge
    # Samples exactly on the bounds -1 and width/height (bin size 2 on a
    # 13 x 17 map at scale 0.25, two samples per bin): unaligned, aligned.
    rois[3] = torch.tensor([0., 62., 46., 94., 86.])
    rois[4] = torch.tensor([1., 64., 48., 96., 88.])
    rois[5] = torch.tensor([0., -6., -6., 26., 34.])
    return dict(feats=feats, rois=rois, grad=None)


def main() -> None:
    from golden import compiled_ext
    if compiled_ext() is None:  # 'from mmcv import _ext' finds ours too
        sys.exit("make_golden.py records compiled mmcv's kernels, but "
                 "mmcv._ext here is mmdet_fasternet's stand-in (mmcv-lite): "
                 'install full mmcv 2.1.0 and run it again; nothing written.')
    from mmcv.ops import batched_nms, nms, roi_align
    from mmdet.structures.mask import BitmapMasks
    gen = torch.Generator().manual_seed(20261204)
    golden = {'nms': [], 'batched_nms': [], 'roi_align': []}
    for name, boxes, scores, threshold, offset in nms_cases(gen):
        _, keep = nms(boxes, scores, threshold, offset=offset)
        golden['nms'].append(
            dict(
                name=name,
                boxes=boxes,
                scores=scores,
                iou_threshold=threshold,
                offset=offset,
                keep=keep))
    for name, boxes, scores, idxs, cfg, agnostic in batched_cases(gen):
        dets, keep = batched_nms(boxes, scores, idxs, dict(cfg), agnostic)
        golden['batched_nms'].append(
            dict(
                name=name,
                boxes=boxes,
                scores=scores,
                idxs=idxs,
                nms_cfg=cfg,
                class_agnostic=agnostic,
                dets=dets,
                keep=keep))
    inputs = roi_align_inputs(gen)
    for aligned in (True, False):
        for sampling_ratio in (0, 2):
            for rois in (inputs['rois'], inputs['rois'][:0]):
                feats = inputs['feats'].clone().requires_grad_()
                out = roi_align(feats, rois, (5, 4), 0.25, sampling_ratio,
                                'avg', aligned)
                grad = torch.randn(out.shape, generator=gen)
                out.backward(grad)
                golden['roi_align'].append(
                    dict(
                        feats=inputs['feats'],
                        rois=rois,
                        output_size=(5, 4),
                        spatial_scale=0.25,
                        sampling_ratio=sampling_ratio,
                        aligned=aligned,
                        output=out.detach(),
                        grad_output=grad,
                        grad_input=feats.grad))
    masks = (torch.rand(3, 40, 60, generator=gen)
             > 0.5).numpy().astype(np.uint8)
    bboxes = np.array([[3, 4, 30, 35], [-5, 10, 70, 39], [20, 0, 21, 1]],
                      dtype=np.float32)
    resized = BitmapMasks(masks, 40, 60).crop_and_resize(
        bboxes, (8, 8), np.array([0, 1, 2]), device='cpu', binarize=False)
    golden['crop_and_resize'] = dict(
        masks=torch.from_numpy(masks),
        bboxes=torch.from_numpy(bboxes),
        out_shape=(8, 8),
        resized=torch.from_numpy(resized.masks))
    torch.save(golden, GOLDEN)
    print(f'wrote {GOLDEN}')


if __name__ == '__main__':
    sys.exit(main())
