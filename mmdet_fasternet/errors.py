"""Errors a user can fix, and the checks that raise them more than once.

Each error is a ``UserError`` (the tools print it as one line, no
traceback) and the builtin it would otherwise be, so code that catches
``ValueError`` or ``TypeError`` keeps working.
"""
import os.path as osp
from typing import Optional


class UserError(Exception):
    """Base of every error whose message says what was wrong and the fix."""


class ToolError(UserError, RuntimeError):
    """A bad command line or a run that would overwrite something."""


class DataError(UserError, ValueError):
    """A dataset file or folder a config points at is missing or broken."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be read, fetched or loaded as configured."""


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (a diverged loss); checkpoints are kept."""


class ConfigError(UserError, ValueError):
    """A config gives a component a value it cannot take."""


class UnknownArgumentError(ConfigError, TypeError):
    """A config gives a component an argument it does not take."""


class UnsupportedTorchError(UserError, ImportError):
    """The installed torch is older than this package needs."""


def require_file(path: str, what: str) -> None:
    """``what`` (e.g. 'config file') must exist as a file."""
    if not osp.isfile(path):
        raise ToolError(f'{what} {path!r} does not exist.')


def refuse_overwrite(path: str,
                     what: str,
                     force: Optional[bool] = None) -> None:
    """Never replace an existing output silently; ``force`` None means the
    tool has no ``--force``."""
    if not osp.exists(path) or force:
        return
    fix = 'remove it' if force is None else 'pass --force to overwrite it'
    raise ToolError(f'{what} {path!r} already exists; {fix} or choose '
                    f'another file.')
