"""The process group's life: a CPU (gloo) start and a clean end.

The end matters because of how a finished run can still abort. A gloo or
NCCL worker thread that drops the last reference to a tensor Python has
already released (the last collective's buffers) must take the GIL; once
the interpreter is finalising, Python answers with ``pthread_exit``, whose
forced unwind through a ``noexcept`` destructor calls ``std::terminate``:
"terminate called without an active exception", SIGABRT, after a run that
succeeded. Destroying the process group joins those threads, but only if
nothing holds the group any more; ``destroy_process_group`` merely
unregisters it. Two holders outlive a run: the Runner's DDP wrapper, and
``torch.distributed.nn.functional`` if first imported after the group
exists (``patches.apply_patches`` imports it before). A program that
keeps its Runner in a global until it exits keeps the group too: ``del
runner`` (or call ``release_process_group``) before the end.
"""
import atexit
import gc
import sys

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from ..errors import ToolError


def start_cpu_process_group(cfg: Config) -> None:
    """Start CPU-only distributed runs on gloo before the Runner does.

    mmengine's own start calls ``torch.cuda.set_device`` and its DDP wrapper
    passes ``device_ids=[LOCAL_RANK]``; both fail without CUDA. Once the
    process group exists, the Runner skips its own initialisation.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ToolError(
            f'--launcher {cfg.launcher} needs CUDA; on a CPU-only machine '
            f'start distributed runs with torchrun and --launcher pytorch '
            f'(tools/dist_train.sh).')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    cfg.env_cfg = {**cfg.get('env_cfg', {}), 'dist_cfg': dict(backend='gloo')}
    cfg.setdefault('model_wrapper_cfg',
                   dict(type='MMDistributedDataParallel', device_ids=None))


def release_process_group() -> None:
    """Destroy the default process group and, with it, its threads.

    Call it once the Runner is out of reach (a collection frees one caught
    in reference cycles) and only after a run that ended normally: a rank
    that failed inside a collective could wait on its peers here.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    gc.collect()
    torch_dist.destroy_process_group()


def _release_at_exit() -> None:
    """For entry points that never destroy the group (mmdet's own tools,
    a notebook): at exit, while Python is still whole. Not after an
    uncaught exception, whose rank may be stuck in a collective."""
    if getattr(sys, 'last_value', None) is None:
        release_process_group()


atexit.register(_release_at_exit)
