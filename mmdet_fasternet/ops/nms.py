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

Two exact ways, no per-box Python loop:

- sparse (the default): only pairs of boxes whose x ranges can meet are
  examined (sorting by x1), the pairs over the threshold form a
  suppression graph, and greedy NMS is resolved on it by propagation. Boxes
  of different classes in ``batched_nms`` (moved apart by its offset
  trick) and far-apart boxes of one image never meet, so this is much less
  work than mmcv's O(kept x N) loop;
- dense blocks (when most pairs meet, the threshold is negative or a
  coordinate is not finite): a block of boxes is first suppressed by every
  box kept in earlier blocks, then resolved inside itself by the greedy
  loop over its rows. Memory is O(kept x block). With a threshold >= 0 and
  finite boxes, the boxes are first split into groups apart in x (the
  classes or levels of ``batched_nms``), and a box is checked only against
  the kept boxes of its own group.
"""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

BLOCK = 256
PAIRS_PER_RUN = 2**21
DENSE_SHARE = 0.1


def _overlaps(x1: Tensor, y1: Tensor, x2: Tensor, y2: Tensor, area: Tensor,
              rows: Union[slice, Tensor], cols: slice, offset: int) -> Tensor:
    """IoU of boxes ``rows`` (higher scored) with boxes ``cols``, float32,
    in the kernel's operation order (the overlap is symmetric bit for bit:
    max, min and the sum of two areas commute). In place where it can be:
    each new matrix is a fresh allocation, which costs as much as the
    arithmetic at these sizes."""
    w = torch.minimum(x2[rows, None], x2[None, cols])
    w -= torch.maximum(x1[rows, None], x1[None, cols])
    h = torch.minimum(y2[rows, None], y2[None, cols])
    h -= torch.maximum(y1[rows, None], y1[None, cols])
    if offset:
        w += offset
        h += offset
    inter = w.clamp_(min=0).mul_(h.clamp_(min=0))
    union = torch.add(area[rows, None], area[None, cols], out=h).sub_(inter)
    return inter.div_(union)


def nms_cpu(boxes: Tensor,
            scores: Tensor,
            iou_threshold: float,
            offset: int = 0,
            block: int = 0) -> Tensor:
    """Indices (int64) of the boxes greedy NMS keeps, highest score first,
    exactly as mmcv 2.1.0's ``nms`` kernel on the CPU (any device works).

    ``block`` > 0 forces the dense block-by-block path with that block size
    (taken anyway for a negative threshold, coordinates that are not
    finite, or boxes that mostly overlap in x)."""
    if boxes.numel() == 0:
        return boxes.new_empty((0, ), dtype=torch.long)
    order = scores.sort(0, descending=True)[1]
    sorted_boxes = boxes.float()[order]
    x1, y1, x2, y2 = (sorted_boxes[:, k].contiguous() for k in range(4))
    area = (x2 - x1 + offset) * (y2 - y1 + offset)
    threshold = torch.tensor(
        float(iou_threshold), dtype=torch.float32, device=boxes.device)
    if iou_threshold < 0 or not bool(torch.isfinite(sorted_boxes).all()):
        keep = _dense_keep(x1, y1, x2, y2, area, offset, threshold, block
                           or BLOCK)
        return order[keep]
    if block <= 0:
        edges = _suppression_edges(x1, y1, x2, y2, area, offset, threshold)
        if edges is not None:
            return order[_greedy(*edges, order.numel())]
    # Groups apart in x are independent: each box meets only the kept boxes
    # of its own group.
    by_group, group_start = _x_groups(x1, x2, offset)
    columns = (t[by_group] for t in (x1, y1, x2, y2, area))
    keep = torch.zeros_like(by_group, dtype=torch.bool)
    keep[by_group] = _dense_keep(*columns, offset, threshold, block or BLOCK,
                                 group_start)
    return order[keep]


def _x_groups(x1: Tensor, x2: Tensor, offset: int) -> Tuple[Tensor, Tensor]:
    """Boxes (score order) by group, in score order within a group: in x1
    order, a group starts at a box whose x1 is above every earlier box's
    ``x2 + offset`` (rounded to float32: no float32 lies between that and
    the exact sum), so the overlap width of boxes of different groups is
    not positive (``batched_nms`` moves classes apart). Returns the
    permutation and, per position in it, where its group starts."""
    by_x = x1.argsort()
    reach = (x2[by_x] + offset).cummax(0)[0]
    new = torch.ones_like(by_x, dtype=torch.bool)
    new[1:] = x1[by_x[1:]] > reach[:-1]
    group = torch.empty_like(by_x)
    group[by_x] = new.cumsum(0)
    group, by_group = group.sort(stable=True)
    position = torch.arange(group.numel(), device=group.device)
    first = torch.ones_like(new)
    first[1:] = group[1:] != group[:-1]
    group_start = torch.where(first, position, 0).cummax(0)[0]
    return by_group, group_start


def _dense_keep(x1: Tensor,
                y1: Tensor,
                x2: Tensor,
                y2: Tensor,
                area: Tensor,
                offset: int,
                threshold: Tensor,
                block: int,
                group_start: Optional[Tensor] = None) -> Tensor:
    """Greedy NMS by blocks of ``block`` boxes (score order), each first
    suppressed by every box kept before it (from ``group_start[i]`` on, if
    given: no earlier box overlaps box i): O(kept x N) overlaps."""
    num = x1.numel()
    device = x1.device
    keep = torch.zeros(num, dtype=torch.bool, device=device)
    kept_positions: Optional[Tensor] = None
    starts = None if group_start is None else group_start.tolist()
    for start in range(0, num, block):
        cols = slice(start, min(start + block, num))
        alive = torch.ones(cols.stop - start, dtype=torch.bool, device=device)
        if starts is not None and kept_positions is not None:
            kept_positions = kept_positions[kept_positions >= starts[start]]
        if kept_positions is not None and kept_positions.numel():
            earlier = _overlaps(x1, y1, x2, y2, area, kept_positions, cols,
                                offset)
            alive = ~(earlier > threshold).any(0)
        inside = _overlaps(x1, y1, x2, y2, area, cols, cols, offset)
        block_keep = _greedy_in_block(inside > threshold, alive)
        keep[cols] = block_keep
        new_positions = block_keep.nonzero().squeeze(1) + start
        kept_positions = new_positions if kept_positions is None else \
            torch.cat([kept_positions, new_positions])
    return keep


def _greedy_in_block(suppresses: Tensor, alive: Tensor) -> Tensor:
    """Greedy NMS inside a block: ``suppresses[a, b]``, box a over b (score
    order), ``alive`` the boxes no earlier block suppressed. A loop over
    the block's rows in numpy: a row costs a microsecond there, against
    several tensor operations per step of any vectorised resolution."""
    rows = suppresses.cpu().numpy()
    keep = alive.cpu().numpy().copy()
    for row in range(keep.size):
        if keep[row]:
            keep[row + 1:] &= ~rows[row, row + 1:]
    return torch.from_numpy(keep).to(alive.device)


def _suppression_edges(x1: Tensor, y1: Tensor, x2: Tensor, y2: Tensor,
                       area: Tensor, offset: int,
                       threshold: Tensor) -> Optional[Tuple[Tensor, Tensor]]:
    """Every pair (a, b), a < b in score order, whose overlap exceeds the
    threshold: (a's, b's positions).

    Only pairs whose x ranges can meet are examined: boxes sorted by x1,
    box u is paired with the later boxes v whose x1 is at most u's x2 plus
    the offset and a margin above float32 rounding. Any other pair has no
    positive width, so its overlap is 0 and (threshold >= 0) suppresses
    nothing. Pairs are enumerated in runs of at most PAIRS_PER_RUN. None
    when more than DENSE_SHARE of all pairs would be examined: the dense
    path is faster then.
    """
    device = x1.device
    num = x1.numel()
    by_x = x1.argsort()
    columns = torch.stack([x1, y1, x2, y2, area], 1)[by_x]
    reach = columns[:, 2] + (offset + 1.0) + columns[:, 2].abs() * 2.0**-16
    end = torch.searchsorted(columns[:, 0].contiguous(), reach, right=True)
    start = torch.arange(1, num + 1, device=device)
    counts = (end - start).clamp(min=0)
    total = counts.cumsum(0)
    if int(total[-1]) > DENSE_SHARE * num * (num - 1) / 2:
        return None
    first, second = [], []
    begin = 0
    while begin < num:
        # The boxes u in [begin, stop) whose pairs fit in one run.
        limit = (total[begin - 1] if begin else 0) + PAIRS_PER_RUN
        stop = int(torch.searchsorted(total, limit, right=True))
        stop = min(max(stop, begin + 1), num)
        run_counts = counts[begin:stop]
        u = torch.repeat_interleave(
            torch.arange(begin, stop, device=device), run_counts)
        if u.numel():
            run_start = torch.cumsum(run_counts, 0) - run_counts
            step = torch.arange(u.numel(), device=device) - \
                torch.repeat_interleave(run_start, run_counts)
            v = u + 1 + step
            # Overlaps in x order (symmetric bit for bit).
            pu, pv = columns[u], columns[v]
            w = (
                torch.minimum(pu[:, 2], pv[:, 2]) -
                torch.maximum(pu[:, 0], pv[:, 0]))
            h = (
                torch.minimum(pu[:, 3], pv[:, 3]) -
                torch.maximum(pu[:, 1], pv[:, 1]))
            if offset:
                w = w + offset
                h = h + offset
            inter = w.clamp_(min=0) * h.clamp_(min=0)
            over = inter / ((pu[:, 4] + pv[:, 4]) - inter) > threshold
            u, v = by_x[u[over]], by_x[v[over]]
            first.append(torch.minimum(u, v))
            second.append(torch.maximum(u, v))
        begin = stop
    if not first:
        empty = x1.new_empty((0, ), dtype=torch.long)
        return empty, empty
    return torch.cat(first), torch.cat(second)


def _greedy(first: Tensor, second: Tensor, num: int) -> Tensor:
    """Greedy NMS on the suppression graph (edges first -> second, first
    scored higher): which boxes are kept.

    A box is known kept once every box that would suppress it is known
    removed, and known removed once a kept box suppresses it; the best
    undecided box can always be decided, so repeating both steps decides
    every box, as the greedy loop does.
    """
    device = first.device
    kept = torch.zeros(num, dtype=torch.bool, device=device)
    removed = torch.zeros(num, dtype=torch.bool, device=device)
    while True:
        pending = torch.zeros(num, dtype=torch.long, device=device)
        pending.index_add_(0, second, (~removed[first]).long())
        new_kept = (pending == 0) & ~removed
        hit = torch.zeros(num, dtype=torch.bool, device=device)
        hit[second[new_kept[first]]] = True
        new_removed = removed | hit
        if torch.equal(new_kept, kept) and torch.equal(new_removed, removed):
            return kept
        kept, removed = new_kept, new_removed
