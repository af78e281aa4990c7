"""torch (with torchvision's ops) and numpy: oneDNN's fused convolutions
for deploy mode, torch's norm base classes and forward hooks, a persistent
loader's workers, a hint to the export tracer, torchvision's RoIAlign
gradient, inductor's C++ compiler search, and how numpy pickles arrays."""
from typing import Any, Callable, List, Optional

import numpy as np
import torch
from torch import Tensor, nn

_ONE_BY_ONE = ([0, 0], [1, 1], [1, 1], 1)  # padding, stride, dilation, groups


def batch_norm_base() -> type:
    """torch's base of every BatchNorm (1d-3d, SyncBatchNorm, lazy)."""
    return nn.modules.batchnorm._BatchNorm


def running_stats_norm_base() -> type:
    """torch's base of every norm with running statistics (BatchNorm and
    InstanceNorm)."""
    return nn.modules.batchnorm._NormBase


def has_forward_hooks(module: nn.Module) -> bool:
    """Whether a forward hook, the module's own or a global one, sees the
    module's output (and may keep it)."""
    return bool(module._forward_hooks
                or nn.modules.module._global_forward_hooks)


def onednn_fusion_available() -> bool:
    """Whether this torch has oneDNN's fused pointwise convolutions."""
    return (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))


def onednn_bf16_supported() -> bool:
    """Whether oneDNN runs bf16 convolutions on this CPU."""
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def onednn_conv1x1(x: Tensor, weight: Tensor, bias: Tensor, activation: str,
                   algorithm: str) -> Tensor:
    """A 1x1 conv, its bias and activation in one oneDNN pass."""
    return torch.ops.mkldnn._convolution_pointwise(x, weight, bias,
                                                   *_ONE_BY_ONE, activation,
                                                   [], algorithm)


def onednn_conv1x1_add(x: Tensor, residual: Tensor, weight: Tensor,
                       into_residual: bool) -> Tensor:
    """``residual`` plus a bias-free 1x1 conv of ``x`` in one oneDNN pass,
    written into ``residual`` itself if ``into_residual``."""
    if into_residual:
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            residual, x, weight, None, *_ONE_BY_ONE, 'add', 1.0, None, [],
            None)
    return torch.ops.mkldnn._convolution_pointwise.binary(
        x, residual, weight, None, *_ONE_BY_ONE, 'add', 1.0, None, [], None)


def tell_exporter(condition: Any) -> None:
    """Assert ``condition`` to torch.export's tracer (``torch._check``)."""
    torch._check(condition)


def restart_persistent_workers(loader: torch.utils.data.DataLoader) -> bool:
    """End a persistent loader's workers, so the next epoch starts new ones
    seeded afresh; True if there were any."""
    iterator = getattr(loader, '_iterator', None)
    if iterator is None:
        return False
    iterator._shutdown_workers()
    loader._iterator = None
    return True


def torchvision_roi_align_backward() -> Callable[..., Tensor]:
    """torchvision's RoIAlign gradient kernel (torchvision imported)."""
    return torch.ops.torchvision._roi_align_backward


def cxx_compiler_problem() -> Optional[str]:
    """Why torch.compile (inductor) cannot build C++ kernels for the CPU
    here, by inductor's own compiler search (its ``cpp.cxx`` setting,
    ``CXX``, each tried with ``--version``), or None where it can."""
    from torch._inductor import cpp_builder, exc
    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler as error:
        return str(error)
    return None


def numpy_pickle_globals() -> List[Any]:
    """What numpy arrays, scalars and dtypes pickle as, for torch's
    weights-only allow-list."""
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    entries: List[Any] = [np.dtype, np.ndarray]
    # Files written with numpy 1.x name numpy.core, numpy 2.x numpy._core.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        entries += [
            getattr(dtypes, name) for name in dir(dtypes) if
            name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    return entries
