"""Kernels for the compiled mmcv ops mmdet's detectors use (NMS, RoIAlign,
sigmoid focal loss), in PyTorch, and the stand-in for ``mmcv._ext`` that
serves them when mmcv-lite is installed instead of full mmcv."""
from .errors import MissingOpError
from .extension import install_extension, is_stand_in
from .focal_loss import sigmoid_focal_loss_backward, sigmoid_focal_loss_forward
from .nms import nms_cpu
from .roi_align import roi_align_backward, roi_align_forward

__all__ = [
    'MissingOpError', 'install_extension', 'is_stand_in', 'nms_cpu',
    'roi_align_backward', 'roi_align_forward', 'sigmoid_focal_loss_backward',
    'sigmoid_focal_loss_forward'
]
