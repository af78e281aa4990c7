"""The detector graph's two custom ops (``graph.py``) in ONNX:
``fasternet::batched_nms`` as ``NonMaxSuppression``, ``fasternet::roi_align``
as ``RoiAlign`` (opset 18), which onnxruntime runs without a plug-in.

Written in onnxscript, imported when a translation runs: the package
imports without it.
"""
import torch

from . import graph  # noqa: F401  defines torch.ops.fasternet


def onnx_batched_nms(boxes, scores, groups, num_groups: int,
                     iou_threshold: float, score_threshold):
    """``fasternet::batched_nms`` as ONNX NonMaxSuppression with one class
    per group: the candidates' scores spread over (group, box), -1 where a
    box is not of the group. NMS then runs group by group, on the boxes as
    they are (mmcv moves the groups apart instead, which costs a float's
    precision, and with many candidates runs group by group as well).
    ``score_threshold`` is applied once, before NMS, so that it stays one
    tensor in the file (``checks.py`` lowers it); NMS's own
    threshold only drops the -1 fill (scores are at least 0)."""
    from onnxscript import opset18 as op
    candidates = op.Reshape(
        op.NonZero(op.Greater(scores, score_threshold)), [-1])
    scores = op.Gather(scores, candidates, axis=0)
    in_group = op.Equal(
        op.Unsqueeze(op.Gather(groups, candidates, axis=0), [0]),
        op.Unsqueeze(
            op.Range(
                op.Constant(value_int=0), op.Constant(value_int=num_groups),
                op.Constant(value_int=1)), [1]))
    selected = op.NonMaxSuppression(
        op.Unsqueeze(op.Gather(boxes, candidates, axis=0), [0]),
        op.Unsqueeze(
            op.Where(in_group, op.Unsqueeze(scores, [0]),
                     op.Constant(value_float=-1.0)), [0]),
        op.Constant(value_ints=[2**31 - 1]),
        op.Constant(value_floats=[iou_threshold]),
        op.Constant(value_floats=[-0.5]))
    kept = op.Reshape(op.Slice(selected, [2], [3], [1]), [-1])
    kept_scores = op.Gather(scores, kept, axis=0)
    _, by_score = op.TopK(kept_scores, op.Shape(kept_scores), axis=0)
    return op.Gather(candidates, op.Gather(kept, by_score, axis=0), axis=0)


def onnx_roi_align(features, rois, output_size: int, spatial_scale: float,
                   sampling_ratio: int):
    """``fasternet::roi_align`` as ONNX RoiAlign: half-pixel alignment is
    mmcv's ``aligned=True``."""
    from onnxscript import opset18 as op
    batch_indices = op.Cast(
        op.Squeeze(op.Slice(rois, [0], [1], [1]), [1]), to=7)  # int64
    return op.RoiAlign(
        features,
        op.Slice(rois, [1], [5], [1]),
        batch_indices,
        mode='avg',
        output_height=output_size,
        output_width=output_size,
        sampling_ratio=sampling_ratio,
        spatial_scale=spatial_scale,
        coordinate_transformation_mode='half_pixel')


# torch.onnx.export's ``custom_translation_table``.
ONNX_TRANSLATIONS = {
    torch.ops.fasternet.batched_nms.default: onnx_batched_nms,
    torch.ops.fasternet.roi_align.default: onnx_roi_align
}
