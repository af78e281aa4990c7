"""Parameters and FLOPs of a backbone or detector at a fixed input size.

mmdet 3.3's own get_flops averages over real validation images and has no
size option. This follows mmdet 2.x's ``forward_dummy``, the convention
behind the published FasterNet figures (Mask R-CNN S: 258G at 1280x800):
backbone, neck and dense heads, plus for two-stage detectors the RoI heads on
1000 proposals (the mask head on the first 100). mmengine counts one
multiply-add as one FLOP and skips ops it has no formula for (RoIAlign, NMS,
elementwise additions).
"""
import argparse
import logging
import re
from contextlib import contextmanager
from typing import Iterator, NamedTuple, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import BaseDetector
from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.structures import DetDataSample
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from mmengine.utils import ProgressBar

from ..config_files import load_model_config
from ..models.build import build_detector
from .cli import add_shape_argument, check_shape

NUM_PROPOSALS = 1000
MASK_PROPOSALS = 100  # mmdet's StandardRoIHead.forward: rois[:100]


def fixed_proposals(height: int, width: int) -> torch.Tensor:
    """``NUM_PROPOSALS`` seeded boxes inside the image, as (x1, y1, x2, y2)."""
    g = torch.Generator().manual_seed(0)
    corners = torch.rand(NUM_PROPOSALS, 2, 2, generator=g)
    corners = corners * torch.tensor([width, height])
    return torch.cat(
        (corners.min(dim=1).values, corners.max(dim=1).values + 1), dim=1)


class DummyForward(nn.Module):
    """A detector's network without post-processing, for tracing."""

    def __init__(self, detector: BaseDetector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor) -> tuple:
        detector = self.detector
        feats = detector.extract_feat(x)
        if not hasattr(detector, 'roi_head'):
            return detector.bbox_head(feats)
        proposals = InstanceData(bboxes=fixed_proposals(*x.shape[-2:]))
        sample = DetDataSample(metainfo=dict(img_shape=tuple(x.shape[-2:])))
        return detector.rpn_head(feats) + detector.roi_head.forward(
            feats, [proposals], [sample])


@contextmanager
def _quiet_mmengine() -> Iterator[None]:
    """The analyser warns about every op it does not count; the module
    docstring lists them once."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Complexity(NamedTuple):
    params: int
    flops: int
    # The published totals (S/M/L 258/344/484G, ResNet-50 253G) equal
    # ``flops`` minus the mask head's upsampling deconv and 1x1 logits conv
    # on 100 RoIs (5.1G + 1.6G), which mmdet 2.x's counts evidently left
    # out (why was not checked: no mmcv 1.x here).
    flops_mmdet2: int


# The mask head's layers (of each Cascade stage) mmdet 2.x did not count.
MMDET2_UNCOUNTED = ('upsample', 'conv_logits')
_UNCOUNTED = re.compile(r'roi_head\.mask_head(\.\d+)?\.(' +
                        '|'.join(MMDET2_UNCOUNTED) + ')')


def complexity(model: nn.Module, shape: Tuple[int, int]) -> Complexity:
    """Parameters and FLOPs of one forward of a (1, 3, H, W) input."""
    detector = isinstance(model, BaseDetector)
    module = DummyForward(model) if detector else model
    module.eval()
    with torch.no_grad(), _quiet_mmengine():
        analyzer = FlopAnalyzer(module, (torch.zeros(1, 3, *shape), ))
        by_module = analyzer.by_module()
        flops = analyzer.total()
    prefix = 'detector.' if detector else ''
    uncounted = sum(count for name, count in by_module.items()
                    if name.startswith(prefix)
                    and _UNCOUNTED.fullmatch(name[len(prefix):]))
    if isinstance(getattr(model, 'roi_head', None), CascadeRoIHead):
        # mmdet 3's Cascade forward runs each stage's mask head on every
        # proposal; mmdet 2.x's forward_dummy, like Mask R-CNN here, on
        # the first 100. The count is linear in the RoIs.
        share = MASK_PROPOSALS / NUM_PROPOSALS
        flops -= round(
            by_module.get(prefix + 'roi_head.mask_head', 0) * (1 - share))
        uncounted = round(uncounted * share)
    return Complexity(
        params=parameter_count(model)[''],
        flops=flops,
        flops_mmdet2=flops - uncounted)


def get_flops(args: argparse.Namespace) -> None:
    """tools/get_flops.py: print a table of the parameters and FLOPs of each
    config's backbone and detector at ``args.shape``."""
    check_shape(args.shape, 32)
    rows = []
    progress = ProgressBar(2 * len(args.configs))
    for name in args.configs:
        detector = build_detector(load_model_config(name))
        for part, model in (('backbone', detector.backbone), ('detector',
                                                              detector)):
            result = complexity(model, tuple(args.shape))
            rows.append((name, part, result))
            progress.update()
    print(f'\n\nat {args.shape[0]}x{args.shape[1]}, batch 1; detector = '
          f'backbone + neck + dense heads + RoI heads on {NUM_PROPOSALS} '
          f'proposals (mask head on 100), as mmdet 2.x get_flops')
    print('| config | part | params | FLOPs | FLOPs as mmdet 2.x counted |')
    print('|---|---|---|---|---|')
    for name, part, result in rows:
        print(f'| {name} | {part} | {result.params / 1e6:.2f}M | '
              f'{result.flops / 1e9:.1f}G | '
              f'{result.flops_mmdet2 / 1e9:.1f}G |')
    print(f'(the last column leaves out the mask head\'s '
          f'{" and ".join(MMDET2_UNCOUNTED)}, which the authors\' mmdet 2.x '
          f'counts evidently did not count)')


def flops_parser() -> argparse.ArgumentParser:
    """tools/get_flops.py's command line."""
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs (1 multiply-add = 1 FLOP, '
        "mmengine's convention) at a fixed input size")
    parser.add_argument(
        'configs',
        nargs='+',
        help='config files, or mmdet::NAME for configs shipped with mmdet')
    add_shape_argument(parser, (800, 1280), 'input height and width')
    return parser
