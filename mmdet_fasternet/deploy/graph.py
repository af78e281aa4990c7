"""A whole detector, image in and detections out, as one traceable graph.

What mmdet computes with mmcv's C++ ops and Python control flow (NMS,
multi-level RoIAlign, score filtering) is written here with two custom
ops, ``fasternet::batched_nms`` and ``fasternet::roi_align``: in PyTorch
they call mmcv (so the graph is checked against mmdet), exported they
become ONNX's standard ``NonMaxSuppression`` and ``RoiAlign``
(``graph_onnx.py``), which onnxruntime runs without a plug-in.
The image normalisation and padding are inside the graph; resizing to
the test scale and pasting masks into the original image stay on the
host (``exported_detector.py``). ``DetectorGraph.names_in`` says where
its named pieces end up in an exported file, for the tools that read
them back (the checks, the time breakdown).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import batched_nms as mmcv_batched_nms
from mmcv.ops import roi_align as mmcv_roi_align
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import delta2bbox
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from torch import Tensor, nn

from ..errors import ConfigError
from ..patches.mmengine import preprocessor_switches
from ..patches.torch_numpy import tell_exporter

# The parts of a detector whose module paths an exported file records
# (``DetectorGraph.names_in``): the time breakdown names nodes by them.
NAMED_PARTS = ('backbone', 'neck')


def image_preprocessing(preprocessor: nn.Module) -> Dict[str, Any]:
    """What mmdet's DetDataPreprocessor does to one test image, for a
    graph that does it itself: ``mean``/``std`` (None if it does not
    normalise), ``swap_channels``, ``pad_size_divisor`` and ``pad_value``."""
    normalises, swap_channels = preprocessor_switches(preprocessor)
    return dict(
        mean=preprocessor.mean.clone() if normalises else None,
        std=preprocessor.std.clone() if normalises else None,
        swap_channels=swap_channels,
        pad_size_divisor=preprocessor.pad_size_divisor,
        pad_value=preprocessor.pad_value)


@torch.library.custom_op('fasternet::batched_nms', mutates_args=())
def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, num_groups: int,
                iou_threshold: float, score_threshold: Tensor) -> Tensor:
    """Indices of the boxes that NMS within each group (class or level)
    keeps among those scoring above ``score_threshold`` (a 0-d tensor),
    by descending score: mmcv's batched_nms, as mmdet calls it.
    ``groups`` are 0 to ``num_groups - 1``; the ONNX translation needs
    their number."""
    candidates = (scores > score_threshold).nonzero().squeeze(1)
    if candidates.numel() == 0:
        return candidates
    _, kept = mmcv_batched_nms(boxes[candidates], scores[candidates],
                               groups[candidates],
                               dict(iou_threshold=iou_threshold))
    return candidates[kept]


@batched_nms.register_fake
def _(boxes, scores, groups, num_groups, iou_threshold, score_threshold):
    return boxes.new_empty((torch.library.get_ctx().new_dynamic_size(), ),
                           dtype=torch.long)


@torch.library.custom_op('fasternet::roi_align', mutates_args=())
def roi_align(features: Tensor, rois: Tensor, output_size: int,
              spatial_scale: float, sampling_ratio: int) -> Tensor:
    """mmcv's RoIAlign as mmdet's extractors configure it (average,
    ``aligned=True``); ``rois`` are (batch index, x1, y1, x2, y2)."""
    return mmcv_roi_align(features, rois, output_size, spatial_scale,
                          sampling_ratio, 'avg', True)


@roi_align.register_fake
def _(features, rois, output_size, spatial_scale, sampling_ratio):
    return features.new_empty(
        (rois.shape[0], features.shape[1], output_size, output_size))


def decode(coder: nn.Module, anchors: Tensor, deltas: Tensor,
           max_shape: Tuple) -> Tensor:
    """The coder's decode, without the ONNX branch mmdet takes while
    exporting (written for mmdet 2.x, it imports ``mmdet.core``)."""
    return delta2bbox(anchors, deltas, coder.means, coder.stds, max_shape,
                      16 / 1000, coder.clip_border, coder.add_ctr_clamp,
                      coder.ctr_clamp)


def box_sizes_valid(boxes: Tensor, min_size: float) -> Tensor:
    return ((boxes[:, 2] - boxes[:, 0]) > min_size) & (
        (boxes[:, 3] - boxes[:, 1]) > min_size)


SUPPORTED = ('RetinaNet-like single-stage detectors (anchors, deltas, '
             'sigmoid classifier) and Faster/Mask R-CNN and Cascade (Mask) '
             'R-CNN (RPN and standard RoI heads)')
ROI_HEADS = ('StandardRoIHead', 'CascadeRoIHead')


def stages(roi_head: nn.Module, kind: str) -> List[Tuple[nn.Module, ...]]:
    """(RoI extractor, head) of each stage of a RoI head: one for a
    standard head, one per stage for a cascade; ``kind``: 'bbox' or
    'mask'."""
    extractors = getattr(roi_head, f'{kind}_roi_extractor')
    heads = getattr(roi_head, f'{kind}_head')
    if isinstance(heads, nn.ModuleList):
        if not isinstance(extractors, nn.ModuleList):  # share_roi_extractor
            extractors = [extractors] * len(heads)
        return list(zip(extractors, heads))
    return [(extractors, heads)]


def unsupported(detector: nn.Module) -> Optional[str]:
    """What in ``detector`` the graph cannot express, or None."""
    if hasattr(detector, 'roi_head'):
        roi_head = detector.roi_head
        if type(roi_head).__name__ not in ROI_HEADS:
            return f'a {type(roi_head).__name__}'
        box_heads = [head for _, head in stages(roi_head, 'bbox')]
        if any(head.custom_cls_channels for head in box_heads):
            return 'a box head with custom class channels'
        dense_head, heads = detector.rpn_head, [detector.rpn_head, *box_heads]
    else:
        dense_head = detector.bbox_head
        heads = [dense_head]
        if not getattr(dense_head, 'use_sigmoid_cls', False):
            return f'a {type(dense_head).__name__} without sigmoid classifier'
    if not isinstance(
            getattr(dense_head, 'prior_generator', None), AnchorGenerator):
        return f'a {type(dense_head).__name__} without anchors'
    coders = [type(getattr(h, 'bbox_coder', None)) for h in heads]
    if any(c is not DeltaXYWHBBoxCoder for c in coders):
        return f'boxes coded by {", ".join(c.__name__ for c in coders)}'
    return None


class DetectorGraph(nn.Module):
    """``image`` (1, 3, H, W), float BGR pixels of the resized image as
    mmcv loads them -> boxes (N, 4) in its coordinates, scores (N,),
    labels (N,) and, for Mask R-CNN, mask probabilities (N, 28, 28) of
    each box's class."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.preprocessing = image_preprocessing(detector.data_preprocessor)
        if self.preprocessing['mean'] is None:
            raise ConfigError('ONNX export: the data preprocessor must '
                              'normalise (mean and std).')
        problem = unsupported(detector)
        if problem:
            raise ConfigError(
                f'ONNX export: {type(detector).__name__} with {problem} is '
                f'not supported; supported are {SUPPORTED}.')
        self.detector = detector
        self.register_buffer('mean', self.preprocessing['mean'])
        self.register_buffer('std', self.preprocessing['std'])
        self.two_stage = hasattr(detector, 'roi_head')
        # The detections' score threshold, a tensor rather than a constant:
        # it keeps its name in an exported file, where a check can lower it
        # (untrained weights score below it everywhere).
        head = detector.roi_head if self.two_stage else detector.bbox_head
        self.register_buffer('score_threshold',
                             torch.tensor(float(head.test_cfg.score_thr)))
        self.with_mask = self.two_stage and detector.roi_head.with_mask

    def names_in(self, root: nn.Module) -> Dict[str, str]:
        """The names the graph's pieces get when ``root``, a module holding
        it, is exported: the score threshold's tensor, and the module path
        of each of ``NAMED_PARTS`` (found by identity, so that renaming an
        attribute anywhere changes what is recorded, not what is found)."""
        names = {
            'score_threshold':
            next(name for name, buffer in root.named_buffers()
                 if buffer is self.score_threshold)
        }
        for part in NAMED_PARTS:
            module = getattr(self.detector, part, None)
            found = [name for name, m in root.named_modules() if m is module]
            if found:
                names[part] = found[0]
        return names

    def forward(self, image: Tensor) -> Tuple[Tensor, ...]:
        img_h, img_w = image.shape[2], image.shape[3]
        feats = self.detector.extract_feat(self.preprocess(image))
        if not self.two_stage:
            return self.dense_detections(feats, img_h, img_w)
        proposals = self.rpn_proposals(feats, img_h, img_w)
        boxes, scores, labels = self.roi_detections(feats, proposals, img_h,
                                                    img_w)
        if not self.with_mask:
            return boxes, scores, labels
        return boxes, scores, labels, self.mask_probabilities(
            feats, boxes, labels)

    def preprocess(self, image: Tensor) -> Tensor:
        """mmdet's DetDataPreprocessor for one image: RGB, normalised,
        zero-padded to the size divisor."""
        if self.preprocessing['swap_channels']:
            image = image.flip(1)
        image = (image - self.mean) / self.std
        divisor = self.preprocessing['pad_size_divisor']
        return F.pad(
            image,
            (0, (-image.shape[3]) % divisor, 0, (-image.shape[2]) % divisor),
            value=self.preprocessing['pad_value'])

    @staticmethod
    def level_candidates(head: nn.Module, feats: Sequence[Tensor],
                         nms_pre: int, img_h, img_w) -> Tuple[Tensor, ...]:
        """Every level's ``nms_pre`` best (anchor, class) pairs, decoded:
        boxes, scores, classes, levels."""
        cls_scores, bbox_preds = head(feats)[:2]
        priors = head.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores],
            dtype=cls_scores[0].dtype,
            device=cls_scores[0].device)
        num_classes = head.cls_out_channels
        found: List[List[Tensor]] = [[], [], [], []]
        for level, (cls, reg,
                    anchors) in enumerate(zip(cls_scores, bbox_preds, priors)):
            scores = cls[0].permute(1, 2, 0).reshape(-1).sigmoid()
            deltas = reg[0].permute(1, 2, 0).reshape(-1, 4)
            top, pairs = scores.topk(min(nms_pre, scores.shape[0]))
            anchor = pairs // num_classes
            boxes = decode(head.bbox_coder, anchors[anchor], deltas[anchor],
                           (img_h, img_w))
            for out, value in zip(found, (boxes, top, pairs % num_classes,
                                          torch.full_like(pairs, level))):
                out.append(value)
        return tuple(torch.cat(values) for values in found)

    def dense_detections(self, feats: Sequence[Tensor], img_h,
                         img_w) -> Tuple[Tensor, Tensor, Tensor]:
        """A single-stage head's predict: mmdet's filter_scores_and_topk,
        small boxes dropped, class-wise NMS, ``max_per_img``."""
        head = self.detector.bbox_head
        cfg = head.test_cfg
        boxes, scores, labels, _ = self.level_candidates(
            head, feats, cfg.nms_pre, img_h, img_w)
        scores = scores * box_sizes_valid(boxes, cfg.get('min_bbox_size', 0))
        keep = batched_nms(boxes, scores, labels, head.cls_out_channels,
                           cfg.nms.iou_threshold,
                           self.score_threshold)[:cfg.max_per_img]
        return boxes[keep], scores[keep], labels[keep]

    def rpn_proposals(self, feats: Sequence[Tensor], img_h, img_w) -> Tensor:
        """mmdet's RPNHead predict: per-level NMS, ``max_per_img``."""
        cfg = self.detector.rpn_head.test_cfg
        boxes, scores, _, levels = self.level_candidates(
            self.detector.rpn_head, feats, cfg.nms_pre, img_h, img_w)
        scores = scores * box_sizes_valid(boxes, cfg.get('min_bbox_size', 0))
        keep = batched_nms(boxes, scores, levels,
                           len(feats), cfg.nms.iou_threshold,
                           scores.new_zeros(()))[:cfg.max_per_img]
        if torch.compiler.is_exporting():
            # For the tracer, which cannot decide delta2bbox's shortcut for
            # no boxes: its general path gives the same (empty) result.
            tell_exporter(keep.shape[0] > 0)
        return boxes[keep]

    @staticmethod
    def pool(extractor: nn.Module, feats: Sequence[Tensor],
             boxes: Tensor) -> Tensor:
        """mmdet's SingleRoIExtractor: each box pooled from the level its
        size maps to, and from that level alone."""
        rois = torch.cat([boxes.new_zeros((boxes.shape[0], 1)), boxes], 1)
        num_levels = len(extractor.featmap_strides)
        levels = extractor.map_roi_levels(rois, num_levels)
        pooled, order = [], []
        for level in range(num_levels):
            layer = extractor.roi_layers[level]
            chosen = (levels == level).nonzero().squeeze(1)
            pooled.append(
                roi_align(feats[level], rois[chosen], layer.output_size[0],
                          layer.spatial_scale, layer.sampling_ratio))
            order.append(chosen)
        # Back from level order to the boxes' order. Each box's position is
        # scattered into a tensor of the boxes' length, which the tracer
        # knows, rather than sorted, which it could not relate to it.
        order = torch.cat(order)
        position = order.new_zeros(rois.shape[0]).index_put(
            (order, ), torch.arange(order.shape[0], device=order.device))
        return torch.cat(pooled)[position]

    def roi_detections(self, feats: Sequence[Tensor], proposals: Tensor, img_h,
                       img_w) -> Tuple[Tensor, Tensor, Tensor]:
        """mmdet's RoI head predict: each stage's box head on the boxes the
        one before refined (a cascade), their scores averaged, the last
        one's boxes, and multiclass_nms."""
        roi_head = self.detector.roi_head
        rois, stage_scores = proposals, []
        box_stages = stages(roi_head, 'bbox')
        for stage, (extractor, head) in enumerate(box_stages):
            cls_score, bbox_pred = head(
                self.pool(extractor, feats[:len(extractor.featmap_strides)],
                          rois))
            stage_scores.append(cls_score)
            if stage < len(box_stages) - 1:
                rois = self.refine(head, rois, cls_score, bbox_pred, img_h,
                                   img_w)
        # As mmdet averages: sum() from 0, then a float division (exact for
        # one stage).
        cls_score = sum(stage_scores) / float(len(stage_scores))
        num_classes, cfg = head.num_classes, roi_head.test_cfg
        scores = F.softmax(cls_score, dim=-1)[:, :num_classes].reshape(-1)
        boxes = decode(head.bbox_coder, rois, bbox_pred, (img_h, img_w))
        if head.reg_class_agnostic:
            boxes = boxes[:, None].expand(-1, num_classes, 4)
        boxes = boxes.reshape(-1, 4)
        labels = torch.arange(
            num_classes, device=boxes.device).repeat(rois.shape[0])
        keep = batched_nms(boxes, scores, labels, num_classes,
                           cfg.nms.iou_threshold,
                           self.score_threshold)[:cfg.max_per_img]
        return boxes[keep], scores[keep], labels[keep]

    @staticmethod
    def refine(head: nn.Module, rois: Tensor, cls_score: Tensor,
               bbox_pred: Tensor, img_h, img_w) -> Tensor:
        """A cascade stage's boxes for the next: mmdet's regress_by_class
        with each box's best class."""
        if not head.reg_class_agnostic:
            label = cls_score[:, :-1].argmax(dim=1) * 4
            bbox_pred = bbox_pred.gather(
                1, label[:, None] + torch.arange(4, device=label.device))
        return decode(head.bbox_coder, rois, bbox_pred, (img_h, img_w))

    def mask_probabilities(self, feats: Sequence[Tensor], boxes: Tensor,
                           labels: Tensor) -> Tensor:
        """Each box's mask probabilities of its class; a cascade's, averaged
        over the stages as mmdet's merge_aug_masks does."""
        probabilities = []
        for extractor, head in stages(self.detector.roi_head, 'mask'):
            logits = head(
                self.pool(extractor, feats[:len(extractor.featmap_strides)],
                          boxes))
            probabilities.append(logits[torch.arange(labels.shape[0]),
                                        labels].sigmoid())
        return torch.stack(probabilities).mean(dim=0)
