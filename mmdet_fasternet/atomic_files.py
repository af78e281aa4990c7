"""Files written whole or not at all: checkpoints, exported models, written
configs, converted weights.

The bytes go to a temporary file beside the target, which takes the
target's name only once it is complete: a crash, a kill or an error while
writing leaves the old file (or none), never a partial one.
"""
import glob
import os
import os.path as osp
import uuid
from contextlib import contextmanager
from typing import Iterator, Union

PathLike = Union[str, os.PathLike]


def _fsync(path: str) -> None:
    """Flush ``path`` (a file, or a folder where folders can be opened) to
    the disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: PathLike,
                 suffix: str = '',
                 *,
                 exclusive: bool = False,
                 durable: bool = False,
                 clear_stale: bool = False) -> Iterator[str]:
    """Yield a temporary file's path, ``.<name>.<random>.tmp<suffix>`` in
    ``path``'s folder, for the block to write; when the block succeeds it
    becomes ``path``, else it is removed.

    ``suffix``: for writers and readers that go by the extension.
    ``exclusive``: fail (FileExistsError) rather than replace an existing
    ``path``. ``durable``: fsync the file before, and the folder after, the
    rename, so that a power cut cannot undo it. ``clear_stale``: first
    remove the temporaries a killed write of ``path`` left.
    """
    path = os.fspath(path)
    prefix = osp.join(
        osp.dirname(osp.abspath(path)), f'.{osp.basename(path)}.')
    if clear_stale:
        for stale in glob.glob(
                glob.escape(prefix) + '*.tmp' + glob.escape(suffix)):
            os.remove(stale)
    tmp = f'{prefix}{uuid.uuid4().hex}.tmp{suffix}'
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    if durable:
        _fsync(osp.dirname(prefix))
