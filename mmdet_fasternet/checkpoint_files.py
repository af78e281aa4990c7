"""Is a checkpoint file whole, and which one does ``--resume`` continue?

mmengine (without ``AtomicCheckpointHook``) writes a checkpoint straight to
its final name, so a kill during a save leaves a truncated ``epoch_N.pth``
that ``last_checkpoint`` may already name; these checks find that out
before anything is built.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional, Tuple

from mmengine.logging import print_log

from .errors import CheckpointError, ToolError

_RESUMABLE = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or None if it looks whole.

    torch saves a zip archive whose directory is at its very end, so any
    truncation removes it; reading that directory costs a few kilobytes.
    Files in torch's legacy (non-zip) format are not judged.
    """
    if not osp.isfile(path):
        return 'it does not exist'
    if osp.getsize(path) == 0:
        return 'it is empty'
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if not any(n.endswith('/data.pkl') for n in archive.namelist()):
                return 'it is a zip archive but not a torch checkpoint'
        return None
    with open(path, 'rb') as f:
        if f.read(4) == b'PK\x03\x04':
            return ('it is truncated: the archive lacks its end record '
                    '(a save or copy that was interrupted)')
    return None


def require_complete_checkpoint(path: str, what: str) -> None:
    """Raise CheckpointError naming ``path`` unless it is a whole file.

    URLs are left to the loader, which fetches them.
    """
    if '://' in path:
        return
    if not osp.isfile(path):
        raise CheckpointError(f'{what} {path!r} does not exist.')
    problem = checkpoint_problem(path)
    if problem:
        raise CheckpointError(
            f'{what} {path!r} cannot be loaded: {problem}. Use another '
            f'checkpoint; in a work dir, --resume without a path picks the '
            f'newest complete one.')


def recorded_latest(work_dir: str) -> Optional[str]:
    """The file ``last_checkpoint`` names; a relative path is tried from the
    current folder, then as a file of the work dir."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            recorded = f.read().strip()
    except FileNotFoundError:
        return None
    if not recorded:
        return ''
    if osp.isabs(recorded) or osp.exists(recorded):
        return recorded
    return osp.join(work_dir, osp.basename(recorded))


def _resumable_checkpoints(work_dir: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` of the work dir, newest first
    (``best_*`` checkpoints hold no optimizer state)."""
    found: List[Tuple[int, str]] = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = _RESUMABLE.match(name)
        if match:
            found.append((int(match.group(2)), osp.join(work_dir, name)))
    return [path for _, path in sorted(found, reverse=True)]


def latest_complete_checkpoint(work_dir: str) -> str:
    """The checkpoint ``--resume`` continues from.

    ``last_checkpoint`` names it; if that file is incomplete (a save that a
    non-atomic writer left behind) or the pointer itself is broken, the
    newest complete ``epoch_N``/``iter_N`` is used, with a warning.
    """
    recorded = recorded_latest(work_dir)
    if recorded:
        problem = checkpoint_problem(recorded)
        if problem is None:
            return recorded
        reason = f'the latest checkpoint {recorded!r} is unusable ({problem})'
    else:
        state = 'empty' if recorded == '' else 'missing'
        reason = f'{osp.join(work_dir, "last_checkpoint")!r} is {state}'
    candidates = [p for p in _resumable_checkpoints(work_dir) if p != recorded]
    for path in candidates:
        if checkpoint_problem(path) is None:
            print_log(
                f'--resume: {reason}; resuming from {path!r}, the newest '
                f'complete checkpoint.',
                logger='current',
                level=logging.WARNING)
            return path
    detail = f' ({reason}, and no older complete one)' if (
        recorded is not None or candidates) else ''
    raise ToolError(
        f'--resume: no checkpoint to resume from in work dir {work_dir!r}'
        f'{detail}. Give the path (--resume PATH) or the work dir of the '
        f'run (--work-dir).')
