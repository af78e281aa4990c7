"""Is a file a whole checkpoint (if not, what is it?), and which one does
``--resume`` continue?

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

from .errors import ToolError

_RESUMABLE = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
HEAD_BYTES = 512
# Pickles of protocol 2 and later (torch's legacy format) open with PROTO.
PICKLE_PROTO = b'\x80'


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a loadable checkpoint, or None if it looks like
    one: what the file is instead, and the likely fix.

    Reads the first bytes and, for a zip, its directory (at the very end:
    any truncation removes it): a few kilobytes whatever the file's size.
    torch's legacy pickle format is left to the unpickler.
    """
    if not osp.isfile(path):
        return 'it does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'it is empty (0 bytes): a save or download that never wrote'
    with open(path, 'rb') as f:
        head = f.read(HEAD_BYTES)
    if head.startswith(b'PK\x03\x04'):
        return _zip_problem(path)
    if head.startswith(PICKLE_PROTO):
        return None
    if looks_like_safetensors(head):
        return _safetensors_problem(head, size)
    return _foreign_file(head)


def _zip_problem(path: str) -> Optional[str]:
    if not zipfile.is_zipfile(path):
        return ('it is truncated: the archive lacks its end record (a save '
                'or copy that was interrupted)')
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith('/data.pkl') for n in names):
        return None
    listed = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
    return (f'it is a zip archive but not a torch checkpoint (it holds '
            f'{listed or "nothing"}); unpack it and pass the checkpoint '
            f'inside')


def looks_like_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header size, then a JSON header."""
    return len(head) > 9 and head[8:10] in (b'{"', b'{}')


def is_safetensors_file(path: str) -> bool:
    with open(path, 'rb') as f:
        return looks_like_safetensors(f.read(HEAD_BYTES))


def _safetensors_problem(head: bytes, size: int) -> Optional[str]:
    header_size = int.from_bytes(head[:8], 'little')
    if 8 + header_size > size:
        return (f'it is a truncated safetensors file ({size} bytes; its '
                f'header alone claims {8 + header_size})')
    return None


def _foreign_file(head: bytes) -> str:
    """What a file that is neither a torch nor a safetensors file is."""
    text = head.decode('utf-8', errors='ignore')
    start = text.lstrip().lower()
    if start.startswith(('<!doctype html', '<html')) or '<html' in start:
        return ('it is an HTML page, not a checkpoint: a download that '
                'saved an error or sign-in page; download the file again '
                'from its release page')
    if start.startswith('version https://git-lfs'):
        return ('it is a Git LFS pointer, not the weights: run `git lfs '
                'pull` in the repository it came from')
    if head.startswith(b'\x1f\x8b'):
        return 'it is gzip-compressed: unpack it (gunzip) first'
    printable = sum(c.isprintable() or c.isspace() for c in text)
    if b'\x00' not in head and printable >= 0.95 * max(len(text), 1):
        first = text.strip().splitlines()[0][:40] if text.strip() else ''
        return f'it is a text file, not a checkpoint (it starts {first!r})'
    return (f'it is not a checkpoint: it starts with the bytes '
            f'{head[:8].hex(" ")}, which neither torch nor safetensors '
            f'writes')


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
