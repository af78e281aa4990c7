"""Non-maximum suppression with mmcv 2.1.0's CPU kernel semantics.

mmcv-lite has no compiled ``mmcv._ext``; ``mmcv.ops.nms`` calls
``ext_module.nms(boxes, scores, iou_threshold=..., offset=...)``, which this
module provides. The kept indices are those of mmcv's greedy loop
(``mmcv/ops/csrc/pytorch/cpu/nms.cpp``), in the same order:

- boxes are visited in the order of ``scores.sort(0, descending=True)``
  (the same ATen sort, so ties break the same way);
- areas are ``(x2 - x1 + offset) * (y2 - y1 + offset)``; the overlap is
  ``inter / ((area_i + area_j) - inter)`` in float32, with
  ``w = max(0, (min x2 - max x1) + offset)`` (same for h);
- a box is suppressed when that overlap is strictly greater than the
  threshold (rounded to float32, as the kernel's ``float`` argument).
  A NaN overlap (two empty boxes, offset 0) suppresses nothing.

Greedy NMS is computed block by block: a block of boxes is first suppressed
by every box kept in earlier blocks, then resolved inside itself by
iterating ``keep = not any(kept earlier box in the block overlaps)`` to its
fixed point, which is the greedy answer (entry k is final once the entries
before it are). No per-box Python loop; memory is O(kept x block).
"""
from typing import Optional, Union

import torch
from torch import Tensor

BLOCK = 256


def _overlaps(x1: Tensor, y1: Tensor, x2: Tensor, y2: Tensor, area: Tensor,
              rows: Union[slice, Tensor], cols: slice, offset: int) -> Tensor:
    """IoU of boxes ``rows`` (higher scored) with boxes ``cols``, float32,
    in the kernel's operation order (the overlap is symmetric bit for bit:
    max, min and the sum of two areas commute)."""
    w = (torch.minimum(x2[rows, None], x2[None, cols]) -
         torch.maximum(x1[rows, None], x1[None, cols]))
    h = (torch.minimum(y2[rows, None], y2[None, cols]) -
         torch.maximum(y1[rows, None], y1[None, cols]))
    if offset:
        w = w + offset
        h = h + offset
    inter = w.clamp_(min=0) * h.clamp_(min=0)
    return inter / ((area[rows, None] + area[None, cols]) - inter)


def nms_cpu(boxes: Tensor,
            scores: Tensor,
            iou_threshold: float,
            offset: int = 0,
            block: int = BLOCK) -> Tensor:
    """Indices (int64) of the boxes greedy NMS keeps, highest score first,
    exactly as mmcv 2.1.0's ``nms`` kernel on the CPU (any device works)."""
    if boxes.numel() == 0:
        return boxes.new_empty((0, ), dtype=torch.long)
    order = scores.sort(0, descending=True)[1]
    sorted_boxes = boxes.float()[order]
    x1, y1, x2, y2 = (sorted_boxes[:, k].contiguous() for k in range(4))
    area = (x2 - x1 + offset) * (y2 - y1 + offset)
    threshold = torch.tensor(
        float(iou_threshold), dtype=torch.float32, device=boxes.device)
    num = order.numel()
    keep = torch.zeros(num, dtype=torch.bool, device=boxes.device)
    kept_positions: Optional[Tensor] = None
    for start in range(0, num, block):
        cols = slice(start, min(start + block, num))
        alive = torch.ones(
            cols.stop - start, dtype=torch.bool, device=boxes.device)
        if kept_positions is not None and kept_positions.numel():
            earlier = _overlaps(x1, y1, x2, y2, area, kept_positions,
                                     cols, offset)
            alive = ~(earlier > threshold).any(0)
        inside = _overlaps(x1, y1, x2, y2, area, cols, cols, offset)
        suppresses = (inside > threshold).triu_(diagonal=1)
        suppresses &= alive[:, None]
        block_keep = alive
        while True:
            # keep j unless a kept, earlier box of the block suppresses it.
            new_keep = alive & ~(suppresses & block_keep[:, None]).any(0)
            if torch.equal(new_keep, block_keep):
                break
            block_keep = new_keep
        keep[cols] = block_keep
        new_positions = block_keep.nonzero().squeeze(1) + start
        kept_positions = new_positions if kept_positions is None else \
            torch.cat([kept_positions, new_positions])
    return order[keep]
