"""Checkpoints that survive ``kill -9``: whole or absent.

mmengine writes a checkpoint straight to its final name and never fsyncs,
so a kill (or a crash before the data reach the disk) during a save leaves
a truncated ``epoch_N.pth``, which ``last_checkpoint`` may already name:
mmengine rewrites ``epoch_N.pth`` when a new best score arrives. Here the
bytes go to a temporary file in the same folder, are fsynced, and are
renamed into place (``atomic_files.atomic_write``).
"""
import os
import os.path as osp
from typing import Union

from mmdet.registry import HOOKS
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from ...atomic_files import atomic_write

ATOMIC_BACKEND = 'atomic_local'


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` is atomic and durable."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        # clear_stale: the leftovers of an earlier save that was killed.
        with atomic_write(filepath, durable=True, clear_stale=True) as tmp:
            with open(tmp, 'wb') as f:
                f.write(obj)


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
