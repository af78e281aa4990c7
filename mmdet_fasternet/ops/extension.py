"""A stand-in for mmcv's compiled extension ``mmcv._ext`` (mmcv-lite).

Every ``mmcv/ops/*.py`` gets its kernels with
``mmcv.utils.ext_loader.load_ext('_ext', names)``, which imports
``mmcv._ext`` and checks that each name exists; without the compiled
module, ``import mmcv.ops`` (and so ``mmdet.models``) fails. The stand-in
answers every name: those in ``KERNELS`` run this package's kernels, any
other returns a callable that raises ``MissingOpError`` (one line, naming
the op) when called, so an unsupported op stops a run instead of
computing something else. It is installed only when the compiled module
cannot be imported; with full mmcv nothing is replaced.

This module imports neither mmcv.ops nor mmdet: ``mmdet_fasternet``
installs the stand-in before anything imports them. The private names
it relies on are in ``patches/mmcv.py``.
"""
import contextlib
import importlib
import importlib.machinery
import sys
import types
from typing import Any, Callable, Dict, Iterator, Optional

import torch
from torch import Tensor

from ..patches.mmcv import EXT_NAME, install_ext
from ..patches.torch_numpy import torchvision_roi_align_backward
from .errors import missing_op_error
from .focal_loss import sigmoid_focal_loss_backward, sigmoid_focal_loss_forward
from .nms import nms_cpu
from .roi_align import roi_align_backward as roi_align_backward_cpu
from .roi_align import roi_align_forward as roi_align_forward_cpu
from .torchvision_kernels import use_torchvision

LITE = 'mmcv-lite has no compiled mmcv._ext'
STAND_IN_ORIGIN = 'mmdet_fasternet.ops (stand-in for mmcv._ext)'


@contextlib.contextmanager
def one_thread(tensor: Tensor) -> Iterator[None]:
    """Run a CPU kernel on one thread.

    The kernels are sequences of many short torch operations; with two or
    more intra-op threads, every operation waits at a barrier for all of
    them, and on a busy machine (other processes on the cores) those waits
    cost more than the work (measured here: 2-4x slower with 2 threads on
    2 loaded cores, and no faster on idle ones). mmcv's own CPU kernels
    are single-threaded loops too.
    """
    threads = torch.get_num_threads()
    if tensor.device.type != 'cpu' or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def nms(boxes: Tensor,
        scores: Tensor,
        iou_threshold: float,
        offset: int = 0) -> Tensor:
    """``ext_module.nms``: indices kept by greedy NMS, best first."""
    ops = use_torchvision(boxes)
    if ops is not None and offset == 0:
        return ops.nms(boxes, scores, float(iou_threshold))
    with one_thread(boxes):
        return nms_cpu(boxes, scores, iou_threshold, offset)


def roi_align_forward(input: Tensor, rois: Tensor, output: Tensor,
                      argmax_y: Tensor, argmax_x: Tensor, aligned_height: int,
                      aligned_width: int, spatial_scale: float,
                      sampling_ratio: int, pool_mode: int,
                      aligned: bool) -> None:
    """``ext_module.roi_align_forward``: fills ``output`` in place."""
    ops = use_torchvision(input)
    if ops is not None and pool_mode == 1:
        output.copy_(
            ops.roi_align(input, rois, spatial_scale, aligned_height,
                          aligned_width, sampling_ratio, aligned))
        return
    with one_thread(input):
        roi_align_forward_cpu(input, rois, output, argmax_y, argmax_x,
                              aligned_height, aligned_width, spatial_scale,
                              sampling_ratio, pool_mode, aligned)


def roi_align_backward(grad_output: Tensor, rois: Tensor, argmax_y: Tensor,
                       argmax_x: Tensor, grad_input: Tensor,
                       aligned_height: int, aligned_width: int,
                       spatial_scale: float, sampling_ratio: int,
                       pool_mode: int, aligned: bool) -> None:
    """``ext_module.roi_align_backward``: adds into ``grad_input``."""
    ops = use_torchvision(grad_output)
    if ops is not None and pool_mode == 1:
        batch, channels, height, width = grad_input.shape
        grad_input += torchvision_roi_align_backward()(
            grad_output, rois, spatial_scale, aligned_height, aligned_width,
            batch, channels, height, width, sampling_ratio, aligned)
        return
    with one_thread(grad_output):
        roi_align_backward_cpu(grad_output, rois, argmax_y, argmax_x,
                               grad_input, aligned_height, aligned_width,
                               spatial_scale, sampling_ratio, pool_mode,
                               aligned)


def get_compiler_version() -> str:
    return f'none (mmcv-lite; kernels from {STAND_IN_ORIGIN})'


def get_compiling_cuda_version() -> str:
    return 'none (mmcv-lite)'


# What this package computes itself; every other name is missing_op.
KERNELS: Dict[str, Callable[..., Any]] = {
    'nms': nms,
    'roi_align_forward': roi_align_forward,
    'roi_align_backward': roi_align_backward,
    'sigmoid_focal_loss_forward': sigmoid_focal_loss_forward,
    'sigmoid_focal_loss_backward': sigmoid_focal_loss_backward,
    'get_compiler_version': get_compiler_version,
    'get_compiling_cuda_version': get_compiling_cuda_version,
}


def missing_op(name: str, reason: str = '') -> Callable[..., Any]:
    """A kernel that raises ``MissingOpError`` naming ``name`` when run."""

    def kernel(*args: Any, **kwargs: Any) -> Any:
        raise missing_op_error(name, reason)

    kernel.__name__ = kernel.__qualname__ = name
    return kernel


def make_extension(reason: str = '') -> types.ModuleType:
    """A module that answers every name ``load_ext`` asks ``mmcv._ext``
    for (names starting with '_' excepted, so introspection behaves)."""
    module = types.ModuleType(EXT_NAME, __doc__)
    # No loader: mmengine's mmcv_full_available() (find_loader) stays False.
    module.__spec__ = importlib.machinery.ModuleSpec(
        EXT_NAME, None, origin=STAND_IN_ORIGIN)
    module.__dict__.update(KERNELS)
    module.STAND_IN = True

    def __getattr__(name: str) -> Callable[..., Any]:
        if name.startswith('_'):
            raise AttributeError(f'module {EXT_NAME!r} has no attribute '
                                 f'{name!r}')
        kernel = missing_op(name, reason)
        setattr(module, name, kernel)
        return kernel

    module.__getattr__ = __getattr__
    return module


def compiled_extension_error() -> Optional[str]:
    """Why the compiled ``mmcv._ext`` cannot be used, or None if it can."""
    try:
        importlib.import_module('mmcv')
    except ModuleNotFoundError as exc:
        if exc.name != 'mmcv':
            raise
        raise ImportError(
            'mmdet-fasternet needs mmcv 2.0 to 2.1, which is not installed: '
            "pip install mmcv-lite==2.1.0 (no compiler; this package's "
            'kernels serve its ops), or full mmcv (see '
            'docs/troubleshooting.md).') from None
    try:
        module = importlib.import_module(EXT_NAME)
    except ModuleNotFoundError as exc:
        if exc.name != EXT_NAME:
            raise
        return LITE
    except ImportError as exc:  # compiled, but it does not load
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f'the compiled mmcv._ext does not load: {message}'
    # The start-up hook (startup_hook/) answers the import without one.
    return LITE if is_stand_in(module) else None


def install_extension() -> bool:
    """Put the stand-in at ``sys.modules['mmcv._ext']`` unless a compiled
    one imports (idempotent); True if a stand-in (this one, or the start-up
    hook's, which calls this one) is in place."""
    if EXT_NAME not in sys.modules:
        reason = compiled_extension_error()
        if reason is not None and EXT_NAME not in sys.modules:
            install_ext(stand_in(reason))
    return is_stand_in()


_stand_in: Optional[types.ModuleType] = None


def stand_in(reason: str = '') -> types.ModuleType:
    """The stand-in module, made once (the start-up hook's kernels call
    into it)."""
    global _stand_in
    if _stand_in is None:
        _stand_in = make_extension(reason)
    return _stand_in


def is_stand_in(module: Optional[types.ModuleType] = None) -> bool:
    """Whether ``module`` (default: the current ``mmcv._ext``) is ours."""
    module = module if module is not None else sys.modules.get(EXT_NAME)
    return bool(getattr(module, 'STAND_IN', False))


# Installed on import: ``mmdet_fasternet`` imports this module second.
STAND_IN_INSTALLED = install_extension()
