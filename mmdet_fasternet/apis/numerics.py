"""How far one model's outputs are from another's."""
from typing import Sequence, Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]


def _as_float64(x: Array) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        # bf16 has no numpy dtype: go through fp32.
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def max_relative_error(got: Union[Array, Sequence[Array]],
                       expected: Union[Array, Sequence[Array]]) -> float:
    """Largest absolute difference over the largest magnitude of
    ``expected``: one scale per output, so values near zero do not blow it
    up. For sequences of outputs (arrays or tensors, mixed freely), the
    worst pair. Empty outputs of the same shape (no detections) agree."""
    if isinstance(got, (list, tuple)):
        if len(got) != len(expected):
            raise ValueError(f'{len(got)} outputs against {len(expected)}')
        return max(max_relative_error(g, e) for g, e in zip(got, expected))
    g, e = _as_float64(got), _as_float64(expected)
    if e.size == 0:
        return 0.0 if g.shape == e.shape else float('inf')
    return float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-12))
