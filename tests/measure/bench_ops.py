"""Time this package's kernels against compiled mmcv 2.1.0, side by side.

Not collected by pytest. Run where full mmcv is installed::

    python tests/measure/bench_ops.py [--repeat 7] [--detector s]

or call ``compare_ops()``. Each case calls mmcv's Python op (NMS,
batched_nms, roi_align, BitmapMasks.crop_and_resize) with the compiled
``mmcv._ext`` and with our stand-in in turn (alternating, after a warm-up)
and prints the median times and their ratio (ours / mmcv). ``--detector
ARCH`` times the whole Mask R-CNN FasterNet-ARCH at 1280x800 instead:
``predict`` at score threshold 0 (100 detections, as tools/benchmark.py
runs it) and a training step (tools/benchmark.py's, 8 objects).
"""
import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List

import numpy as np
import torch


@contextmanager
def extension(module) -> Iterator[None]:
    """Let every mmcv op module use ``module`` as its ``ext_module``."""
    import mmcv.ops  # noqa: F401

    # mmcv.ops.nms is also a function: the modules come from sys.modules.
    owners = [
        sys.modules[f'mmcv.ops.{name}']
        for name in ('nms', 'roi_align', 'focal_loss')
    ]
    saved = [owner.ext_module for owner in owners]
    for owner in owners:
        owner.ext_module = module
    try:
        yield
    finally:
        for owner, ext in zip(owners, saved):
            owner.ext_module = ext


def rpn_boxes(count_per_level: int, gen: torch.Generator):
    """RPN-like proposals on a 1280x800 image: jittered anchors of five
    levels, the best ``count_per_level`` of each by a random score."""
    from mmdet.models.task_modules.prior_generators import AnchorGenerator
    anchors = AnchorGenerator(
        strides=[4, 8, 16, 32, 64], ratios=[0.5, 1.0, 2.0],
        scales=[8]).grid_priors([(200, 320), (100, 160), (50, 80), (25, 40),
                                 (13, 20)],
                                device='cpu')
    boxes, scores, levels = [], [], []
    for level, a in enumerate(anchors):
        size = (a[:, 2:] - a[:, :2]).repeat(1, 2)
        jittered = a + torch.randn(a.shape, generator=gen) * 0.1 * size
        score = torch.rand(len(a), generator=gen)
        top = score.topk(min(count_per_level, len(a)))[1]
        boxes.append(jittered[top])
        scores.append(score[top])
        levels.append(torch.full((len(top), ), level))
    boxes = torch.cat(boxes)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes, torch.cat(scores), torch.cat(levels)


def cases(gen: torch.Generator) -> Dict[str, Callable[[], object]]:
    from mmcv.ops import batched_nms, roi_align
    from mmdet.structures.mask import BitmapMasks
    boxes, scores, levels = rpn_boxes(1000, gen)
    train_boxes, train_scores, train_levels = rpn_boxes(2000, gen)
    det = torch.rand(1000, 2, generator=gen) * torch.tensor([1280., 800.])
    det_boxes = torch.cat(
        [det, det + torch.rand(1000, 2, generator=gen) * 300 + 4], 1)
    det_boxes = det_boxes.repeat_interleave(80, 0)
    det_scores = torch.rand(80000, generator=gen)
    det_labels = torch.arange(80).repeat(1000)
    keep = det_scores > 0.875  # 10k boxes, as after a score threshold
    feats = torch.randn(2, 256, 200, 336, generator=gen)
    centre = torch.rand(512, 2, generator=gen) * torch.tensor([1344., 800.])
    half = torch.rand(512, 2, generator=gen) * 56 + 4
    rois = torch.cat([
        torch.randint(0, 2, (512, 1), generator=gen).float(), centre - half,
        centre + half
    ], 1)
    grad = torch.randn(512, 256, 7, 7, generator=gen)
    mask_rois = rois[:100]
    mask_grad = torch.randn(100, 256, 14, 14, generator=gen)
    masks = (torch.rand(64, 800, 1280, generator=gen)
             > 0.5).numpy().astype(np.uint8)
    mc = torch.rand(64, 2, generator=gen) * torch.tensor([1000., 600.])
    mask_boxes = torch.cat(
        [mc, mc + torch.rand(64, 2, generator=gen) * 250 + 30], 1).numpy()

    def roi_fwd_bwd(rois, grad, size):
        x = feats.clone().requires_grad_()
        roi_align(x, rois, size, 0.25, 0, 'avg', True).backward(grad)

    return {
        'nms 5k RPN boxes (batched_nms offset path, iou 0.7)':
        lambda: batched_nms(boxes, scores, levels, dict(iou_threshold=0.7)),
        f'nms {len(train_boxes)} RPN training boxes (iou 0.7)':
        lambda: batched_nms(train_boxes, train_scores, train_levels,
                            dict(iou_threshold=0.7)),
        '1000 boxes x 80 classes, score > 0.875 (batched_nms, iou 0.5)':
        lambda: batched_nms(det_boxes[keep], det_scores[keep], det_labels[
            keep], dict(iou_threshold=0.5)),
        'RoIAlign fwd+bwd 512 RoIs x 256 ch 7x7, 200x336 level':
        lambda: roi_fwd_bwd(rois, grad, (7, 7)),
        'mask RoIAlign fwd+bwd 100 RoIs 14x14':
        lambda: roi_fwd_bwd(mask_rois, mask_grad, (14, 14)),
        'BitmapMasks.crop_and_resize 64 masks 800x1280 -> 28x28':
        lambda: BitmapMasks(masks, 800, 1280).crop_and_resize(
            mask_boxes, (28, 28), np.arange(64), device='cpu'),
    }


def detector_cases(arch: str) -> Dict[str, Callable[[], object]]:
    from mmdet_fasternet.apis.benchmark import (SETTINGS, image_batch,
                                                inference_step, pair_of_models,
                                                training_step)
    from mmdet_fasternet.config_files import find_config
    shape, device = (800, 1280), torch.device('cpu')
    label = f'FasterNet-{arch.upper()}'
    detector = pair_of_models('mask_rcnn', arch)[label].detector.eval()
    x = image_batch(shape, device, SETTINGS['eval'])
    config = find_config(f'mask_rcnn_fasternet_{arch}.py')
    return {
        f'Mask R-CNN {label} 1280x800 predict (eval, threshold 0)':
        inference_step(detector, x, SETTINGS['eval'], device),
        f'Mask R-CNN {label} 1280x800 training step':
        training_step(config, {}, shape, device),
    }


def compare_ops(repeat: int = 7,
                warmup: int = 1,
                threads: int = 0,
                only: str = '',
                detector: str = '') -> List[tuple]:
    """Median seconds of compiled mmcv and ours per case, and the ratio
    (``threads`` > 0: torch's intra-op threads; ``only``: the cases whose
    name contains it; ``detector``: a variant's whole Mask R-CNN instead
    of the op cases)."""
    if threads > 0:
        torch.set_num_threads(threads)
    import mmdet_fasternet  # noqa: F401
    from mmdet_fasternet.ops.extension import is_stand_in, make_extension
    compiled = sys.modules['mmcv._ext']
    if is_stand_in(compiled):
        raise SystemExit('compiled mmcv._ext is not installed here')
    ours = make_extension()
    gen = torch.Generator().manual_seed(0)
    rows = []
    print(f'torch threads: {torch.get_num_threads()}; median of {repeat}')
    timed = detector_cases(detector) if detector else cases(gen)
    for name, run in timed.items():
        if only not in name:
            continue
        times = {'mmcv': [], 'ours': []}
        for i in range(warmup + repeat):
            for label, module in (('mmcv', compiled), ('ours', ours)):
                with extension(module):
                    start = time.perf_counter()
                    run()
                    elapsed = time.perf_counter() - start
                if i >= warmup:
                    times[label].append(elapsed)
        mmcv_s = statistics.median(times['mmcv'])
        ours_s = statistics.median(times['ours'])
        rows.append((name, mmcv_s, ours_s, ours_s / mmcv_s))
        print(f'{name:62s} mmcv {mmcv_s * 1e3:8.1f} ms  ours '
              f'{ours_s * 1e3:8.1f} ms  ratio {ours_s / mmcv_s:5.2f}')
    return rows


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--only', default='')
    parser.add_argument('--detector', default='', metavar='ARCH')
    args = parser.parse_args()
    compare_ops(
        args.repeat,
        threads=args.threads,
        only=args.only,
        detector=args.detector)
