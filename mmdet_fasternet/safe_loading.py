"""Reading checkpoints without running code from them.

Pickles are read with ``weights_only=True`` and safetensors without pickle
at all; URLs are downloaded once into torch's hub cache (mmengine's too).
What mmengine's own checkpoints pickle besides tensors is allow-listed in
``patches/mmengine.py``.
"""
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Any
from urllib.error import URLError
from urllib.parse import urlparse

import torch
from mmengine.dist import barrier, get_dist_info, get_local_rank
from mmengine.logging import print_log

from .checkpoint_files import checkpoint_problem, is_safetensors_file
from .errors import CheckpointError


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


def check_checkpoint_file(path: str,
                          what: str = 'checkpoint',
                          hint: str = '') -> None:
    """Everything that can be known about ``path`` without unpickling it:
    that it exists, is whole, is a checkpoint (else what it is), and needs
    no global outside the allow-list. Cheap, so the tools run it before
    anything is built, and every load runs it again (a URL once it is
    downloaded)."""
    if '://' in path:
        return
    if not osp.isfile(path):
        raise CheckpointError(f'{what} {path!r} does not exist.')
    problem = checkpoint_problem(path)
    if problem:
        raise CheckpointError(f'{what} {path!r} cannot be loaded: '
                              f'{problem}. Nothing was loaded.{hint}')
    if zipfile.is_zipfile(path):
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        if unsafe:
            raise refusal(what, path, ', '.join(unsafe))


def refusal(what: str, path: str, needs: str) -> CheckpointError:
    """The one answer to a file that would run code (never a hint to turn
    the check off)."""
    return CheckpointError(
        f'refusing to load {what} {path!r}: unpickling it needs {needs}, '
        f'which weights-only loading does not allow. The file was not '
        f'loaded and nothing in it ran. Get the weights from a source you '
        f'trust, or save them as a state dict of tensors (.pth or '
        f'.safetensors) where they were made.')


def read_checkpoint(source: str, map_location: Any = 'cpu') -> object:
    """Load a path or URL without running code from the file: the one gate
    every checkpoint passes (mmengine's loaders are replaced by it)."""
    path = download_cached(source) if source.startswith(
        ('http://', 'https://')) else source
    what, hint = ('checkpoint', '') if path == source else (
        f'checkpoint downloaded from {source} to',
        ' Delete the downloaded copy to fetch it again.')
    check_checkpoint_file(path, what, hint)
    try:
        if is_safetensors_file(path):
            from safetensors.torch import load_file
            return load_file(path, device='cpu')
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        forbidden = re.search(r'GLOBAL ([\w.]+)|refusing getattr\([^)]*\)',
                              str(exc))
        if forbidden is not None:  # torch's text would advise unsafe loading
            raise refusal(what, path,
                          forbidden.group(1) or forbidden.group(0)) from None
        reason = [line for line in str(exc).splitlines() if line.strip()]
        raise CheckpointError(
            f'{what} {path!r} cannot be loaded: '
            f'{reason[-2] if len(reason) > 1 else exc} (a truncated file, '
            f'or not a checkpoint). Nothing was loaded.') from None
    except Exception as exc:
        raise CheckpointError(
            f'{what} {path!r} cannot be loaded: {exc}') from exc


def load_from_local_weights_only(filename: str,
                                 map_location: Any = None) -> object:
    """mmengine's loader for paths (``load_from``, ``--resume``,
    ``tools/test.py``, ``init_cfg``), replaced: mmengine's calls
    ``torch.load`` without ``weights_only`` and turns a bad file into a
    bare ``KeyError``."""
    return read_checkpoint(osp.expanduser(filename), map_location or 'cpu')


def load_from_http_weights_only(filename: str,
                                map_location: object = None,
                                **_: object) -> object:
    """mmengine's loader for URLs (``load_from``, ``tools/test.py URL``,
    ``open-mmlab://``, ``torchvision://``, other modules' Pretrained init),
    replaced: mmengine's own unpickles downloads with ``weights_only=False``.
    Tensors land on the CPU; mmengine moves the model afterwards."""
    return read_checkpoint(filename)
