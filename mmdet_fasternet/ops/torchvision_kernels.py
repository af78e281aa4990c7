"""torchvision's CUDA kernels, where they load, for tensors on a GPU.

torchvision's ``nms`` and ``roi_align`` follow the same rules as mmcv's
CUDA kernels (sort by score, strict ``>``; RoIAlign's sampling grid, the
``aligned`` half-pixel offset, the ``[-1, size]`` bounds and clamping,
``count = max(grid, 1)``); both round differently from mmcv's CPU kernel,
as mmcv's own CUDA kernels do. NMS goes there only with ``offset == 0``
(torchvision has no offset), RoIAlign only in average mode. Never used for
CPU tensors: on the CPU our PyTorch code is exact to mmcv's kernel.
"""
from typing import Optional

import torch
from torch import Tensor

from ..patches.torch_numpy import torchvision_roi_align_backward


def torchvision_ops() -> Optional[object]:
    """``torch.ops.torchvision`` if its nms and roi_align kernels load."""
    try:
        import torchvision  # noqa: F401
        ops = torch.ops.torchvision
        ops.nms, ops.roi_align, torchvision_roi_align_backward()
    except (ImportError, RuntimeError, AttributeError):
        return None
    return ops


def use_torchvision(tensor: Tensor) -> Optional[object]:
    """torchvision's ops for a CUDA ``tensor``, else None."""
    if tensor.device.type != 'cuda':
        return None
    return torchvision_ops()
