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
products. Per image and group of channels, the map is copied channels last
(under ``CHUNK_BYTES / 2``) and windows are read as runs of ``BLOCK``
pixels; RoIs are sorted by window size and processed in chunks whose
gathered windows stay under ``CHUNK_BYTES``. The backward pass is the
adjoint: the same products transposed, added into such a copy
(``index_add_``), which is then added into ``grad_input``. Only average
pooling (``pool_mode=1``, what mmdet uses) is provided.
"""
from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor

CHUNK_BYTES = 64 * 2**20
# Pixels per contiguous run read or written at once (channels last).
BLOCK = 8


def _box_geometry(rois: Tensor, pooled: int, size_index: Tuple[int, int],
                  spatial_scale: float, sampling_ratio: int,
                  aligned: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """Per RoI along one axis: start, bin size and grid (float32 ops in the
    kernel's order)."""
    scale = torch.tensor(spatial_scale, dtype=rois.dtype, device=rois.device)
    offset = 0.5 if aligned else 0.0
    start = rois[:, size_index[0]] * scale - offset
    end = rois[:, size_index[1]] * scale - offset
    length = end - start
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


def _axis_weights(start: Tensor,
                  bin_size: Tensor,
                  grid: Tensor,
                  pooled: int,
                  size: int,
                  align: int = 1) -> Tuple[Tensor, Tensor, Tensor]:
    """Interpolation weights of one axis.

    Returns ``(weights, first, length)``: ``weights[r, p, k]`` is the weight
    of pixel ``first[r] + k`` in output bin ``p`` (summed over the bin's
    samples, not divided by the count), ``length[r]`` the pixels spanned;
    ``first`` is a multiple of ``align``.
    """
    num = start.numel()
    max_grid = max(int(grid.max()), 1) if num else 1
    device = start.device
    p = torch.arange(pooled, device=device, dtype=start.dtype)
    k = torch.arange(max_grid, device=device)
    gridf = grid.to(start.dtype).clamp(min=1)
    # roi_start + p * bin_size + (k + .5) * bin_size / grid, in that order.
    coord = (
        (start[:, None, None] + p[None, :, None] * bin_size[:, None, None]) +
        ((k.to(start.dtype) + 0.5)[None, None, :] * bin_size[:, None, None]) /
        gridf[:, None, None])
    used = (k[None, None, :] < grid[:, None, None]).expand_as(coord)
    valid = used & (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0.0)
    low = coord.long()  # truncation; coord >= 0
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    coord = torch.where(at_edge, low.to(coord.dtype), coord)
    high = torch.where(at_edge, low, low + 1)
    frac = coord - low.to(coord.dtype)
    w_low = (1.0 - frac) * valid
    w_high = frac * valid
    big = torch.iinfo(torch.long).max
    first = torch.where(valid, low, torch.full_like(low, big)).amin((1, 2))
    last = torch.where(valid, high, torch.full_like(high, -1)).amax((1, 2))
    first = torch.where(last >= 0, first, torch.zeros_like(first))
    first = first - first % align
    length = torch.where(last >= 0, last - first + 1, torch.ones_like(last))
    width = int(length.max()) if num else 1
    weights = torch.zeros(
        num, pooled, width + 1, dtype=start.dtype, device=device)
    # Invalid samples have weight 0; park them on the spare last column.
    low_local = torch.where(valid, low - first[:, None, None],
                            torch.full_like(low, width))
    high_local = torch.where(valid, high - first[:, None, None],
                             torch.full_like(high, width))
    weights.scatter_add_(2, low_local, w_low)
    weights.scatter_add_(2, high_local, w_high)
    return weights[:, :, :width], first, length


def _chunks(order: Tensor, rows: Tensor, cols: Tensor,
            bytes_per_pixel: int) -> Iterator[Tuple[Tensor, int, int]]:
    """Runs of ``order`` (RoIs sorted by window area) whose padded windows
    fit in CHUNK_BYTES: (indices, window height, window width)."""
    rows_l = rows[order].tolist()
    cols_l = cols[order].tolist()
    begin = 0
    height = width = 0
    for end in range(len(rows_l)):
        new_h = max(height, rows_l[end])
        new_w = max(width, cols_l[end])
        if end > begin and ((end - begin + 1) * new_h * new_w * bytes_per_pixel
                            > CHUNK_BYTES):
            yield order[begin:end], height, width
            begin, new_h, new_w = end, rows_l[end], cols_l[end]
        height, width = new_h, new_w
    if begin < len(rows_l):
        yield order[begin:], height, width


class _Plan:
    """Per-axis weights and windows of every RoI, grouped by image into
    chunks; ``blocks`` views an image's channels-last copy as runs of
    ``BLOCK`` pixels, so a window row is read or written as whole runs."""

    def __init__(self, shape: torch.Size, rois: Tensor, pooled_h: int,
                 pooled_w: int, spatial_scale: float, sampling_ratio: int,
                 aligned: bool, element_size: int) -> None:
        _, self.channels, self.height, self.width = shape
        self.padded_width = -(-self.width // BLOCK) * BLOCK
        rois = rois.float()
        start_h, bin_h, grid_h = _box_geometry(rois, pooled_h, (2, 4),
                                               spatial_scale, sampling_ratio,
                                               aligned)
        start_w, bin_w, grid_w = _box_geometry(rois, pooled_w, (1, 3),
                                               spatial_scale, sampling_ratio,
                                               aligned)
        self.ay, self.y0, len_y = _axis_weights(start_h, bin_h, grid_h,
                                                pooled_h, self.height)
        self.ax, self.x0, len_x = _axis_weights(start_w, bin_w, grid_w,
                                                pooled_w, self.width, BLOCK)
        self.count = (grid_h * grid_w).clamp(min=1).to(rois.dtype)
        self.len_y = len_y
        self.blocks_x = (len_x + BLOCK - 1) // BLOCK
        spare = int(self.blocks_x.max()) * BLOCK - self.ax.size(2)
        self.ax = torch.nn.functional.pad(self.ax, (0, max(spare, 0)))
        self.batch = rois[:, 0].long()
        self.element_size = element_size
        # Channels per pass: an image's channels-last copy of one group
        # stays under half of CHUNK_BYTES.
        plane = self.height * self.padded_width * element_size
        groups = -(-self.channels * plane // max(CHUNK_BYTES // 2, 1))
        self.group = -(-self.channels // max(groups, 1))

    def channel_groups(self) -> Iterator[Tuple[int, int]]:
        """(first, last + 1) channel of each pass."""
        for first in range(0, self.channels, self.group):
            yield first, min(first + self.group, self.channels)

    def images(self) -> Iterator[Tuple[int, Tensor]]:
        """(image index, its RoIs sorted by window area)."""
        for image in self.batch.unique().tolist():
            idx = (self.batch == image).nonzero().squeeze(1)
            area = self.len_y[idx] * self.blocks_x[idx]
            yield image, idx[area.argsort()]

    def chunks(self, idx: Tensor) -> Iterator[Tuple[Tensor, Tensor, int, int]]:
        """(RoIs, block index (r, win_h, blocks), window height, width)."""
        bytes_per_pixel = self.group * self.element_size * 3
        row_blocks = self.padded_width // BLOCK
        for part, win_h, blocks in _chunks(idx, self.len_y, self.blocks_x,
                                           bytes_per_pixel * BLOCK):
            span_y = torch.arange(win_h, device=idx.device)
            rows = (self.y0[part, None] + span_y).clamp(max=self.height - 1)
            span_x = torch.arange(blocks, device=idx.device)
            cols = (self.x0[part, None] // BLOCK +
                    span_x).clamp(max=row_blocks - 1)
            index = rows[:, :, None] * row_blocks + cols[:, None, :]
            yield part, index, win_h, blocks * BLOCK


def _channels_last(image: Tensor, padded_width: int) -> Tensor:
    """(H, padded_width, C) copy of a (C, H, W) map, zero-padded right."""
    channels, height, width = image.shape
    if padded_width != width:
        image = torch.nn.functional.pad(image, (0, padded_width - width))
    # A 2-D transpose: torch copies those blockwise, fast.
    return image.reshape(channels,
                         -1).t().contiguous().view(height, padded_width,
                                                   channels)


def _add_channels_first(target: Tensor, pixels: Tensor) -> None:
    """``target`` (C, H, W) += ``pixels`` (H, padded W, C)."""
    channels, height, width = target.shape
    planar = pixels.view(-1,
                         channels).t().contiguous().view(channels, height, -1)
    target += planar[:, :, :width]


def _check_mode(pool_mode: int) -> None:
    if pool_mode != 1:
        from .errors import missing_op_error
        raise missing_op_error('roi_align_forward (pool_mode=max)')


def _prepare(
        features: Tensor, rois: Tensor, aligned_height: int,
        aligned_width: int, spatial_scale: float, sampling_ratio: int,
        pool_mode: int,
        aligned: bool) -> Optional[Tuple['_Plan', Tensor, Tensor, Tensor]]:
    """What forward and backward share: the plan for ``features`` (the
    input, or its gradient) and its weights and sample counts in the
    features' dtype; None for an empty RoI set."""
    _check_mode(pool_mode)
    if rois.size(0) == 0:
        return None
    dtype = features.dtype
    plan = _Plan(features.shape, rois, aligned_height,
                 aligned_width, spatial_scale, sampling_ratio, aligned,
                 features.element_size())
    count = plan.count.to(dtype)[:, None, None, None]
    return plan, plan.ay.to(dtype), plan.ax.to(dtype), count


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
    prepared = _prepare(input, rois, aligned_height, aligned_width,
                        spatial_scale, sampling_ratio, pool_mode, aligned)
    if prepared is None:
        return
    plan, ay, ax, count = prepared
    for image, idx in plan.images():
        chunks = list(plan.chunks(idx))
        for first, last in plan.channel_groups():
            channels = last - first
            pixels = _channels_last(input[image, first:last],
                                    plan.padded_width)
            blocks = pixels.view(-1, BLOCK * channels)
            for part, index, win_h, win_w in chunks:
                num = part.numel()
                # (r, win_h, win_w, C): each RoI's window, channels last.
                window = blocks.index_select(0, index.flatten()).view(
                    num, win_h, win_w, channels)
                # sum_w Ax[j, w] window[h, w, c] -> (r, win_h, pooled_w, C)
                partial = torch.matmul(ax[part, None, :, :win_w], window)
                # sum_h Ay[i, h] partial[h, j, c] -> (r, pooled_h, ...)
                pooled = torch.bmm(ay[part, :, :win_h],
                                   partial.flatten(2)).view(
                                       num, aligned_height, aligned_width,
                                       channels)
                output[part, first:last] = (
                    pooled.permute(0, 3, 1, 2) / count[part])


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
    prepared = _prepare(grad_input, rois, aligned_height, aligned_width,
                        spatial_scale, sampling_ratio, pool_mode, aligned)
    if prepared is None:
        return
    plan, ay, ax, count = prepared
    for image, idx in plan.images():
        chunks = list(plan.chunks(idx))
        for first, last in plan.channel_groups():
            channels = last - first
            pixels = grad_input.new_zeros(plan.height, plan.padded_width,
                                          channels)
            blocks = pixels.view(-1, BLOCK * channels)
            for part, index, win_h, win_w in chunks:
                num = part.numel()
                grad = grad_output[part, first:last].to(
                    grad_input.dtype) / count[part]
                # (r, pooled_h, pooled_w * C)
                grad = grad.permute(0, 2, 3, 1).flatten(2)
                # sum_i Ay[i, h] grad[i, j, c] -> (r, win_h, pooled_w, C)
                partial = torch.bmm(ay[part, :, :win_h].transpose(1, 2),
                                    grad).view(num, win_h, aligned_width,
                                               channels)
                # sum_j Ax[j, w] partial[h, j, c] -> (r, win_h, win_w, C)
                window = torch.matmul(
                    ax[part, :, :win_w].transpose(1, 2)[:, None], partial)
                blocks.index_add_(0, index.flatten(),
                                  window.reshape(-1, BLOCK * channels))
            _add_channels_first(grad_input[image, first:last], pixels)
