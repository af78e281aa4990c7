"""A whole detector, image in and detections out, as one traceable graph.

What mmdet computes with mmcv's C++ ops and Python control flow (NMS,
multi-level RoIAlign, score filtering) is written here with two custom
ops, ``fasternet::nms`` and ``fasternet::roi_align``: in PyTorch they call
mmcv (so the graph is checked against mmdet), exported they become ONNX's
standard ``NonMaxSuppression`` and ``RoiAlign`` (``apis/onnx_export.py``),
which onnxruntime runs without a plug-in. The image normalisation and
padding are inside the graph; resizing to the test scale and pasting
masks into the original image stay on the host (``onnx_detector.py``).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import delta2bbox
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from torch import Tensor, nn

from ..errors import ConfigError
from ..patches import image_preprocessing


@torch.library.custom_op('fasternet::nms', mutates_args=())
def nms(boxes: Tensor, scores: Tensor, iou_threshold: float,
        score_threshold: float) -> Tensor:
    """Indices of the boxes NMS keeps among those scoring above
    ``score_threshold``, by descending score."""
    candidates = (scores > score_threshold).nonzero().squeeze(1)
    if candidates.numel() == 0:
        return candidates
    _, kept = mmcv_nms(boxes[candidates], scores[candidates], iou_threshold)
    return candidates[kept]


@nms.register_fake
def _(boxes, scores, iou_threshold, score_threshold):
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


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor,
                iou_threshold: float, score_threshold: float) -> Tensor:
    """NMS within each group (class or level), as mmcv's batched_nms:
    the groups' boxes are moved apart so that they never overlap."""
    offsets = groups.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold,
               score_threshold)


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
             'sigmoid classifier) and Faster/Mask R-CNN (RPN and a standard '
             'RoI head)')


def unsupported(detector: nn.Module) -> Optional[str]:
    """What in ``detector`` the graph cannot express, or None."""
    if hasattr(detector, 'roi_head'):
        roi_head = detector.roi_head
        if type(roi_head).__name__ != 'StandardRoIHead':
            return f'a {type(roi_head).__name__}'
        box_head = roi_head.bbox_head
        if box_head.reg_class_agnostic or box_head.custom_cls_channels:
            return 'a class-agnostic box head or custom class channels'
        dense_head, heads = detector.rpn_head, [detector.rpn_head, box_head]
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
        self.with_mask = self.two_stage and detector.roi_head.with_mask

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
        keep = batched_nms(boxes, scores, labels, cfg.nms.iou_threshold,
                           cfg.score_thr)[:cfg.max_per_img]
        return boxes[keep], scores[keep], labels[keep]

    def rpn_proposals(self, feats: Sequence[Tensor], img_h, img_w) -> Tensor:
        """mmdet's RPNHead predict: per-level NMS, ``max_per_img``."""
        cfg = self.detector.rpn_head.test_cfg
        boxes, scores, _, levels = self.level_candidates(
            self.detector.rpn_head, feats, cfg.nms_pre, img_h, img_w)
        scores = scores * box_sizes_valid(boxes, cfg.get('min_bbox_size', 0))
        keep = batched_nms(boxes, scores, levels, cfg.nms.iou_threshold,
                           0.0)[:cfg.max_per_img]
        # For the tracer, which cannot decide delta2bbox's shortcut for no
        # boxes: its general path gives the same (empty) result.
        torch._check(keep.shape[0] > 0)
        return boxes[keep]

    @staticmethod
    def pool(extractor: nn.Module, feats: Sequence[Tensor],
             boxes: Tensor) -> Tensor:
        """mmdet's SingleRoIExtractor: each box pooled from the level its
        size maps to."""
        rois = torch.cat([boxes.new_zeros((boxes.shape[0], 1)), boxes], 1)
        num_levels = len(extractor.featmap_strides)
        levels = extractor.map_roi_levels(rois, num_levels)
        pooled = None
        for level in range(num_levels):
            layer = extractor.roi_layers[level]
            out = roi_align(feats[level], rois, layer.output_size[0],
                            layer.spatial_scale, layer.sampling_ratio)
            chosen = (levels == level)[:, None, None, None]
            pooled = out * chosen if pooled is None else torch.where(
                chosen, out, pooled)
        return pooled

    def roi_detections(self, feats: Sequence[Tensor], proposals: Tensor, img_h,
                       img_w) -> Tuple[Tensor, Tensor, Tensor]:
        """mmdet's BBoxHead predict and multiclass_nms."""
        roi_head = self.detector.roi_head
        head, cfg = roi_head.bbox_head, roi_head.test_cfg
        cls_score, bbox_pred = head(
            self.pool(roi_head.bbox_roi_extractor,
                      feats[:len(roi_head.bbox_roi_extractor.featmap_strides)],
                      proposals))
        num_classes = head.num_classes
        scores = F.softmax(cls_score, dim=-1)[:, :num_classes].reshape(-1)
        boxes = decode(head.bbox_coder, proposals, bbox_pred,
                       (img_h, img_w)).reshape(-1, 4)
        labels = torch.arange(
            num_classes, device=boxes.device).repeat(proposals.shape[0])
        keep = batched_nms(boxes, scores, labels, cfg.nms.iou_threshold,
                           cfg.score_thr)[:cfg.max_per_img]
        return boxes[keep], scores[keep], labels[keep]

    def mask_probabilities(self, feats: Sequence[Tensor], boxes: Tensor,
                           labels: Tensor) -> Tensor:
        roi_head = self.detector.roi_head
        extractor = roi_head.mask_roi_extractor
        logits = roi_head.mask_head(
            self.pool(extractor, feats[:len(extractor.featmap_strides)],
                      boxes))
        return logits[torch.arange(labels.shape[0]), labels].sigmoid()
