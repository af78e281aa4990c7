"""RoIAlign (average pooling) with mmcv 2.1.0's CPU kernel semantics.

``mmcv.ops.roi_align`` calls ``ext_module.roi_align_forward`` and
``roi_align_backward`` and expects them to write into the tensors it
allocated (``output``, ``grad_input``); this module provides both. What
``mmcv/ops/csrc/pytorch/cpu/roi_align.cpp`` does, kept here:

- a RoI ``(batch, x1, y1, x2, y2)`` is scaled by ``spatial_scale``, minus
  0.5 when ``aligned``; when not aligned, its width and height are at
  least 1; when aligned, a negative size is an error;
- each output bin averages a grid of samples, ``sampling_ratio`` per axis,
  or ``ceil(roi_size / pooled_size)`` when ``sampling_ratio <= 0``; the sum
  is divided by ``max(grid_h * grid_w, 1)`` (an empty grid gives 0);
- a sample ``y < -1 or y > height`` (same for x) adds 0; otherwise it is
  clamped to ``[0, height - 1]`` and interpolated bilinearly.

Bilinear weights are separable: a bin is ``Ay[i, :] @ window @ Ax[j, :].T``
over the rows and columns the RoI touches, so each RoI gathers its window
once (instead of four reads per sample) and the sums are two batched matrix
products, rows first (one GEMM of ``pooled_h x win_h x win_w * C`` per RoI,
then ``pooled_h`` small ones). Per group of channels, the whole batch is
copied channels last (under ``CHUNK_BYTES / 2``) and windows are read as
runs of ``BLOCK`` pixels; RoIs of all images are sorted by window size and
processed in chunks of similar windows (padding at most ``PADDING`` times,
plus ``SLACK`` elements) that stay under ``CHUNK_BYTES``. The backward pass
is the adjoint: the same products transposed, added into such a copy
(``index_add_``), which is then added into ``grad_input``. Only average
pooling (``pool_mode=1``, what mmdet uses) is provided.
"""
from typing import Iterator, List, Optional, Tuple

import torch
from torch import Tensor

CHUNK_BYTES = 64 * 2**20
# Pixels per contiguous run read or written at once (channels last).
BLOCK = 8
# A chunk's padded windows hold at most PADDING times their RoIs' pixels,
# plus SLACK elements (about what a chunk's fixed cost would process).
PADDING = 1.5
SLACK = 2**15


def _box_geometry(rois: Tensor, pooled: Tensor, spatial_scale: float,
                  sampling_ratio: int,
                  aligned: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """Per axis (y, x) and RoI, each (2, R): start, bin size and grid
    (float32 ops in the kernel's order)."""
    scale = torch.tensor(spatial_scale, dtype=rois.dtype, device=rois.device)
    offset = 0.5 if aligned else 0.0
    # y1, x1, y2, x2
    corners = rois[:, (2, 1, 4, 3)].t() * scale - offset
    start = corners[:2]
    length = corners[2:] - start
    if aligned:
        if bool((length < 0).any()):
            raise RuntimeError(
                'ROIs in ROIAlign cannot have non-negative size!')
    else:
        length = length.clamp(min=1.0)
    bin_size = length / pooled
    if sampling_ratio > 0:
        grid = torch.full_like(length, sampling_ratio, dtype=torch.long)
    else:
        grid = torch.ceil(length / pooled).long()
    return start, bin_size, grid


def _axis_weights(start: Tensor, bin_size: Tensor, grid: Tensor,
                  pooled: Tensor, size: Tensor,
                  align: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Interpolation weights of both axes at once (axis first; ``pooled``,
    ``size`` and ``align`` per axis, (2, 1) long).

    Returns ``(weights, first, length)``: ``weights[a, r, p, k]`` is the
    weight of pixel ``first[a, r] + k`` in output bin ``p`` (summed over
    the bin's samples, not divided by the count), ``length[a, r]`` the
    pixels spanned; ``first`` is a multiple of ``align``.
    """
    device, dtype = start.device, start.dtype
    num = start.size(1)
    max_grid = max(int(grid.max()), 1)
    p = torch.arange(int(pooled.max()), device=device)
    k = torch.arange(max_grid, device=device)
    edge = size[:, :, None, None]
    bin_size = bin_size[:, :, None, None]
    # roi_start + p * bin_size + (k + .5) * bin_size / grid, in that order.
    coord = ((start[:, :, None, None] + p.to(dtype)[:, None] * bin_size) +
             ((k.to(dtype) + 0.5) * bin_size) /
             grid.to(dtype).clamp(min=1)[:, :, None, None])
    valid = ((k < grid[:, :, None, None]) &
             (p[:, None] < pooled[:, :, None, None]) & (coord >= -1.0) &
             (coord <= edge))
    coord = coord.clamp(min=0.0)
    low = coord.long()  # truncation; coord >= 0
    at_edge = low >= edge - 1
    low = torch.where(at_edge, edge - 1, low)
    coord = torch.where(at_edge, low.to(dtype), coord)
    high = torch.where(at_edge, low, low + 1)
    frac = coord - low.to(dtype)
    first = torch.where(valid, low, torch.iinfo(torch.long).max).amin((2, 3))
    last = torch.where(valid, high, -1).amax((2, 3))
    first = torch.where(last >= 0, first, 0)
    first = first - first % align
    length = torch.where(last >= 0, last - first + 1, 1)
    width = int(length.max())
    weights = start.new_zeros(2, num, p.numel(), width + 1)
    # Invalid samples have weight 0; park them on the spare last column.
    first_local = first[:, :, None, None]
    weights.scatter_add_(3, torch.where(valid, low - first_local, width),
                         (1.0 - frac) * valid)
    weights.scatter_add_(3, torch.where(valid, high - first_local, width),
                         frac * valid)
    return weights[..., :width], first, length


def _chunks(rows: List[int], cols: List[int], pixel_bytes: int,
            pixel_elements: int) -> Iterator[Tuple[int, int, int, int]]:
    """Runs of RoIs (sorted by window size; ``rows``, ``cols``: their
    windows) whose padded windows fit in CHUNK_BYTES and waste little (see
    PADDING): (begin, end, window height, window width)."""
    slack = SLACK / pixel_elements
    begin = 0
    height = width = area = 0
    for end in range(len(rows)):
        new_h = max(height, rows[end])
        new_w = max(width, cols[end])
        new_area = area + rows[end] * cols[end]
        padded = (end - begin + 1) * new_h * new_w
        if end > begin and (padded * pixel_bytes > CHUNK_BYTES
                            or padded > PADDING * new_area + slack):
            yield begin, end, height, width
            begin, new_h, new_w = end, rows[end], cols[end]
            new_area = new_h * new_w
        height, width, area = new_h, new_w, new_area
    if begin < len(rows):
        yield begin, len(rows), height, width


class _Plan:
    """Per-axis weights and windows of every RoI, sorted by window size
    (``order``) and cut into chunks; ``blocks`` views the batch's
    channels-last copy as runs of ``BLOCK`` pixels, so a window row is
    read or written as whole runs."""

    def __init__(self, shape: torch.Size, rois: Tensor, pooled_h: int,
                 pooled_w: int, spatial_scale: float, sampling_ratio: int,
                 aligned: bool, dtype: torch.dtype, element_size: int) -> None:
        batch, self.channels, self.height, self.width = shape
        self.padded_width = -(-self.width // BLOCK) * BLOCK
        rois = rois.float()
        axes = dict(dtype=torch.long, device=rois.device)
        pooled = torch.tensor([[pooled_h], [pooled_w]], **axes)
        start, bin_size, grid = _box_geometry(rois, pooled, spatial_scale,
                                              sampling_ratio, aligned)
        weights, first, length = _axis_weights(
            start, bin_size, grid, pooled,
            torch.tensor([[self.height], [self.width]], **axes),
            torch.tensor([[1], [BLOCK]], **axes))
        blocks_x = (length[1] + BLOCK - 1) // BLOCK
        spare = int(blocks_x.max()) * BLOCK - weights.size(3)
        weights = torch.nn.functional.pad(weights, (0, max(spare, 0)))
        count = (grid[0] * grid[1]).clamp(min=1).to(rois.dtype)
        self.order = (length[0] * blocks_x).argsort()
        self.inverse = self.order.argsort()
        # Sorted; ay divided by the sample count (mmcv divides the sum).
        self.ay = (weights[0, :, :pooled_h] /
                   count[:, None, None])[self.order].to(dtype)
        self.ax = weights[1, self.order, :pooled_w].to(dtype)
        self.len_y = length[0, self.order].tolist()
        self.blocks_x = blocks_x[self.order].tolist()
        # Each window's rows (of the batch, times the blocks of a row) and
        # blocks (of a row), clamped to its image.
        device = rois.device
        row_blocks = self.padded_width // BLOCK
        image = rois[self.order, 0].long() * self.height
        span_y = torch.arange(max(self.len_y), device=device)
        self.rows = torch.minimum(
            image[:, None] + first[0, self.order, None] + span_y,
            image[:, None] + self.height - 1) * row_blocks
        span_x = torch.arange(max(self.blocks_x), device=device)
        self.cols = (first[1, self.order, None] // BLOCK +
                     span_x).clamp(max=row_blocks - 1)
        self.element_size = element_size
        # Channels per pass: the batch's channels-last copy of one group
        # stays under half of CHUNK_BYTES.
        plane = batch * self.height * self.padded_width * element_size
        groups = -(-self.channels * plane // max(CHUNK_BYTES // 2, 1))
        self.group = -(-self.channels // max(groups, 1))

    def channel_groups(self) -> Iterator[Tuple[int, int]]:
        """(first, last + 1) channel of each pass."""
        for first in range(0, self.channels, self.group):
            yield first, min(first + self.group, self.channels)

    def chunks(self) -> Iterator[Tuple[slice, Tensor, int, int]]:
        """(sorted RoIs, block index (r, win_h, blocks), window height,
        width)."""
        elements = self.group * BLOCK
        for begin, end, win_h, blocks in _chunks(
                self.len_y, self.blocks_x, elements * self.element_size * 3,
                elements):
            part = slice(begin, end)
            index = (
                self.rows[part, :win_h, None] + self.cols[part, None, :blocks])
            yield part, index.flatten(), win_h, blocks * BLOCK


def _channels_last(maps: Tensor, padded_width: int) -> Tensor:
    """(N, H, padded_width, C) copy of (N, C, H, W) maps, zero-padded
    right."""
    width = maps.size(3)
    if padded_width != width:
        maps = torch.nn.functional.pad(maps, (0, padded_width - width))
    # torch's channels-last conversion copies blockwise, fast.
    return maps.contiguous(memory_format=torch.channels_last).permute(
        0, 2, 3, 1)


def _add_channels_first(target: Tensor, pixels: Tensor) -> None:
    """``target`` (N, C, H, W) += ``pixels`` (N, H, padded W, C), image by
    image: torch copies 2-D transposes blockwise (adding a permuted 4-D view
    is 2-3x slower on large maps)."""
    channels, height, width = target.shape[1:]
    for planar, image in zip(target, pixels):
        planar += image.view(-1, channels).t().contiguous().view(
            channels, height, -1)[:, :, :width]


def _check_mode(pool_mode: int) -> None:
    if pool_mode != 1:
        from .errors import missing_op_error
        raise missing_op_error('roi_align_forward (pool_mode=max)')


def _plan(features: Tensor, rois: Tensor, aligned_height: int,
          aligned_width: int, spatial_scale: float, sampling_ratio: int,
          pool_mode: int, aligned: bool) -> Optional[_Plan]:
    """The plan for ``features`` (the input, or its gradient); None for an
    empty RoI set."""
    _check_mode(pool_mode)
    if rois.size(0) == 0:
        return None
    return _Plan(features.shape, rois, aligned_height, aligned_width,
                 spatial_scale, sampling_ratio, aligned, features.dtype,
                 features.element_size())


def roi_align_forward(input: Tensor,
                      rois: Tensor,
                      output: Tensor,
                      argmax_y: Tensor,
                      argmax_x: Tensor,
                      aligned_height: int = 0,
                      aligned_width: int = 0,
                      spatial_scale: float = 1.0,
                      sampling_ratio: int = 0,
                      pool_mode: int = 1,
                      aligned: bool = True) -> None:
    """Fill ``output`` (R, C, aligned_height, aligned_width) with the RoI
    averages of ``input`` (N, C, H, W); ``rois`` is (R, 5)."""
    plan = _plan(input, rois, aligned_height, aligned_width, spatial_scale,
                 sampling_ratio, pool_mode, aligned)
    if plan is None:
        return
    chunks = list(plan.chunks())
    for first, last in plan.channel_groups():
        channels = last - first
        blocks = _channels_last(input[:, first:last],
                                plan.padded_width).view(-1, BLOCK * channels)
        pooled = []
        for part, index, win_h, win_w in chunks:
            # (r, win_h, win_w * C): each RoI's window, channels last.
            window = blocks.index_select(0, index)
            # Rows first, one GEMM per RoI: sum_h Ay[i, h] window[h, w, c]
            # -> (r, pooled_h, win_w, C)
            partial = torch.bmm(plan.ay[part, :, :win_h],
                                window.view(-1, win_h, win_w * channels))
            # sum_w Ax[j, w] partial[i, w, c] -> (r, pooled_h, pooled_w, C)
            pooled.append(
                torch.matmul(plan.ax[part, None, :, :win_w],
                             partial.view(-1, aligned_height, win_w,
                                          channels)))
        output[:, first:last] = torch.cat(pooled).index_select(
            0, plan.inverse).permute(0, 3, 1, 2)


def roi_align_backward(grad_output: Tensor,
                       rois: Tensor,
                       argmax_y: Tensor,
                       argmax_x: Tensor,
                       grad_input: Tensor,
                       aligned_height: int = 0,
                       aligned_width: int = 0,
                       spatial_scale: float = 1.0,
                       sampling_ratio: int = 0,
                       pool_mode: int = 1,
                       aligned: bool = True) -> None:
    """Add the gradient of ``roi_align_forward`` with respect to its input
    into ``grad_input`` (N, C, H, W)."""
    plan = _plan(grad_input, rois, aligned_height, aligned_width,
                 spatial_scale, sampling_ratio, pool_mode, aligned)
    if plan is None:
        return
    chunks = list(plan.chunks())
    batch = grad_input.size(0)
    for first, last in plan.channel_groups():
        channels = last - first
        pixels = grad_input.new_zeros(batch, plan.height, plan.padded_width,
                                      channels)
        blocks = pixels.view(-1, BLOCK * channels)
        # (R, pooled_h, pooled_w, C), sorted.
        grads = grad_output[:, first:last].index_select(0, plan.order).to(
            grad_input.dtype).permute(0, 2, 3, 1)
        for part, index, win_h, win_w in chunks:
            # sum_j Ax[j, w] grad[i, j, c] -> (r, pooled_h, win_w * C)
            partial = torch.matmul(
                plan.ax[part, :, :win_w].transpose(1, 2)[:, None],
                grads[part]).flatten(2)
            # sum_i Ay[i, h] partial[i, w, c] -> (r, win_h, win_w * C)
            window = torch.bmm(plan.ay[part, :, :win_h].transpose(1, 2),
                               partial)
            blocks.index_add_(0, index, window.view(-1, BLOCK * channels))
        _add_channels_first(grad_input[:, first:last], pixels)
