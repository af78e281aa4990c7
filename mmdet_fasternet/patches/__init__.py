"""Every place this package relies on a private internal of mmengine, mmdet,
mmcv, torch or numpy, or changes what they do, and why: one module per
upstream, and nowhere else.

``register.UPSTREAM_SYMBOLS`` lists each private symbol with its reason;
code elsewhere reaches one only through a name exported here, and
``tests/test_patches.py`` resolves every one, so an upgrade that renames
one fails there by name. Where it can, a symbol is read when a function
runs, not on import, so the package still imports after such an upgrade
(numpy's pickling names, allow-listed on import, and torch's
``_BatchNorm``, which mmcv imports too, are read on import).
``apply_patches`` runs once when ``mmdet_fasternet`` is imported.

Only the register is imported here: ``ops/`` imports ``mmcv.py`` and
``torch_numpy.py`` before mmcv's ops may load, and must stay importable
with torch alone (``tests/measure/check_cuda.py`` runs on a GPU machine
without mmengine); ``mmdet.py`` imports ``mmdet.apis`` (and so
``mmcv.ops``).
"""
from .register import UPSTREAM_SYMBOLS

__all__ = ['UPSTREAM_SYMBOLS', 'apply_patches']

_applied = False


def apply_patches() -> None:
    """Make mmengine load every checkpoint path and URL through
    ``safe_loading.read_checkpoint``, let weights-only loading read the
    checkpoints mmengine writes, and import ``torch.distributed.nn`` while
    no process group exists (idempotent).

    ``torch.distributed.nn.functional`` binds ``group.WORLD`` as default
    arguments when first imported; imported after ``init_process_group``
    (DDP does so), it keeps the group and its threads alive to the end of
    the interpreter (see ``engine/distributed.py``).
    """
    global _applied
    if _applied:
        return
    import torch.distributed.nn  # noqa: F401

    from .mmengine import (allow_mmengine_checkpoint_globals,
                           replace_checkpoint_loaders)
    replace_checkpoint_loaders()
    allow_mmengine_checkpoint_globals()
    _applied = True
