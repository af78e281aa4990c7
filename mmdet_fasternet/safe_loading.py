"""Let ``torch.load(weights_only=True)`` read the checkpoints mmengine writes.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine
0.10.7's checkpoints pickle a ``HistoryBuffer`` and numpy arrays in their
``message_hub``. Allow-listing exactly those types keeps the safety on for
everything else. The buffer pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')``; instead of allowing ``builtins.getattr``
(attribute access to anything a file can name), a stand-in answers only
those lookups.
"""
import pickle
from typing import Any, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

# HistoryBuffer fills its registry of statistics lazily, on first use; a
# fresh process that loads a checkpoint has not used one yet.
DEFAULT_STATISTICS = frozenset(('min', 'max', 'current', 'mean'))


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to HistoryBuffer's statistics methods."""
    allowed = DEFAULT_STATISTICS.union(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        f'only HistoryBuffer statistics methods are allowed')


def _numpy_globals() -> List[Any]:
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


def allow_mmengine_checkpoint_globals() -> None:
    """Register the allow-list with torch (idempotent).

    torch < 2.4 has no allow-list and does not load weights-only by default;
    torch < 2.6 cannot bind a name to a stand-in, so there getattr and the
    numpy.core aliases stay refused (such loads fail loudly).
    """
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    entries = [
        HistoryBuffer,
        bytes,  # protocol-2 pickles of empty numpy arrays (unused buffers)
        (history_buffer_getattr, 'builtins.getattr'),
        *_numpy_globals(),
    ]
    try:
        torch.serialization.add_safe_globals(entries)
    except TypeError:  # torch < 2.6: no (object, name) pairs
        torch.serialization.add_safe_globals(
            [e for e in entries if not isinstance(e, tuple)])
