"""Checkpoints that survive ``kill -9``: whole or absent.

mmengine writes a checkpoint straight to its final name and never fsyncs,
so a kill (or a crash before the data reach the disk) during a save leaves
a truncated ``epoch_N.pth``, which ``last_checkpoint`` may already name:
mmengine rewrites ``epoch_N.pth`` when a new best score arrives. Here the
bytes go to a temporary file in the same folder, are fsynced, and are
renamed into place.
"""
import glob
import os
import os.path as osp
import uuid
from typing import Union

from mmdet.registry import HOOKS
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

ATOMIC_BACKEND = 'atomic_local'


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (where directories can be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` is atomic and durable."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        filepath = os.fspath(filepath)
        directory = osp.dirname(osp.abspath(filepath))
        os.makedirs(directory, exist_ok=True)
        prefix = osp.join(directory, f'.{osp.basename(filepath)}.')
        # Leftovers of an earlier save of this name that was killed.
        for stale in glob.glob(glob.escape(prefix) + '*.tmp'):
            os.remove(stale)
        tmp = f'{prefix}{uuid.uuid4().hex}.tmp'
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        _fsync_dir(directory)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook whose local saves are atomic and durable.

    Saves that go elsewhere (``backend_args``, a remote ``out_dir``) are
    left as configured.
    """

    def before_train(self, runner) -> None:
        out_dir = str(self.out_dir or runner.work_dir)
        if (self.backend_args is None and self.file_client_args is None
                and '://' not in out_dir):
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
