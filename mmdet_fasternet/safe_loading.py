"""Reading checkpoints without running code from them.

Pickles are read with ``weights_only=True`` and safetensors without pickle
at all; URLs are downloaded once into torch's hub cache (mmengine's too).

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine
0.10.7's checkpoints pickle a ``HistoryBuffer`` and numpy arrays in their
``message_hub``. Allow-listing exactly those types keeps the safety on for
everything else. The buffer pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')``; instead of allowing ``builtins.getattr``
(attribute access to anything a file can name), a stand-in answers only
those lookups.
"""
import os
import os.path as osp
import pickle
import re
from typing import Any, List
from urllib.error import URLError
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info, get_local_rank
from mmengine.logging import print_log
from mmengine.logging.history_buffer import HistoryBuffer
from torch import nn

from .errors import CheckpointError

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


def download_cached(url: str) -> str:
    """The local copy of ``url`` in torch's hub cache (mmengine's too).

    Rank 0 downloads first (atomically), into a cache the nodes may share;
    then the first rank of each node fetches what its node still lacks.
    No other rank downloads. Reading is left to :func:`read_checkpoint`.
    """
    cache_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urlparse(url).path)
    if not name:
        raise CheckpointError(f'checkpoint URL {url!r} names no file.')
    path = osp.join(cache_dir, name)
    rank, world_size = get_dist_info()
    for downloads in (rank == 0, get_local_rank() == 0):
        try:
            if downloads:
                _download_once(url, path)
        finally:
            if world_size > 1:
                barrier()  # reached even if a download failed: no hang
    return path


def _download_once(url: str, path: str) -> None:
    if osp.isfile(path):
        return
    os.makedirs(osp.dirname(path), exist_ok=True)
    print_log(f'Downloading {url} to {path}', logger='current')
    try:
        # Writes a temporary file and renames it when complete.
        torch.hub.download_url_to_file(url, path, progress=True)
    except (URLError, OSError) as exc:
        raise CheckpointError(
            f'cannot fetch checkpoint {url}: {exc}. Check the URL and your '
            f'connection, or download the file and set the checkpoint to '
            f'its local path.') from exc


def read_checkpoint(source: str) -> object:
    """Load a path or URL without running code from the file."""
    path = download_cached(source) if source.startswith(
        ('http://', 'https://')) else source
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint {source!r} does not exist.')
    with open(path, 'rb') as f:
        head = f.read(16)
    try:
        if _looks_like_safetensors(head):
            from safetensors.torch import load_file
            return load_file(path, device='cpu')
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        forbidden = re.search(r'GLOBAL ([\w.]+)|refusing getattr\([^)]*\)',
                              str(exc))
        if forbidden is None:
            reason = [line for line in str(exc).splitlines() if line.strip()]
            raise CheckpointError(
                f'cannot read checkpoint {source!r} weights-only: '
                f'{reason[-2] if len(reason) > 1 else exc} (a truncated '
                f'file, not a checkpoint, or objects torch refuses).') from exc
        raise CheckpointError(
            f'refusing to load checkpoint {source!r}: unpickling it would '
            f'use {forbidden.group(1) or forbidden.group(0)}, which '
            f'weights-only loading does not allow. Only load files you '
            f'trust.') from exc
    except Exception as exc:
        raise CheckpointError(
            f'cannot read checkpoint {source!r}: {exc}') from exc


def load_from_http_weights_only(filename: str,
                                map_location: object = None,
                                **_: object) -> object:
    """mmengine's loader for URLs (``load_from``, ``tools/test.py URL``,
    ``open-mmlab://``, ``torchvision://``, other modules' Pretrained init),
    replaced: mmengine's own unpickles downloads with ``weights_only=False``.
    Tensors land on the CPU; mmengine moves the model afterwards."""
    return read_checkpoint(filename)


def _looks_like_safetensors(head: bytes) -> bool:
    # 8-byte little-endian header size, then a JSON header starting "{".
    return len(head) > 8 and head[8:9] == b'{'


def check_state_fits(model: nn.Module, ckpt: object, source: str) -> dict:
    """The state dict of ``ckpt`` (read by ``read_checkpoint``) if it fits
    ``model`` tensor for tensor; else a CheckpointError naming the first
    missing, unexpected or reshaped tensor. A DDP ``module.`` prefix is
    dropped, as mmengine does when it loads."""
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    state_dict = {
        re.sub(r'^module\.', '', k): v
        for k, v in state_dict.items()
    }
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    reshaped = [
        k for k in own if k in state_dict
        and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing:
        first = f'missing {missing[0]}'
    elif unexpected:
        first = f'unexpected {unexpected[0]}'
    elif reshaped:
        key = reshaped[0]
        first = (f'{key} is {list(state_dict[key].shape)} in the '
                 f'checkpoint but {list(own[key].shape)} in the model')
    else:
        return state_dict
    raise CheckpointError(
        f'weights {source!r} do not fit this config: {len(missing)} '
        f'tensors missing, {len(unexpected)} unexpected, {len(reshaped)} of '
        f'another shape (first: {first}). Pass the config the weights were '
        f'trained with.')


def load_state_strictly(model: nn.Module, ckpt: object, source: str) -> None:
    """Load every tensor of a whole model from ``ckpt`` or raise: never a
    half-random model."""
    model.load_state_dict(check_state_fits(model, ckpt, source))
