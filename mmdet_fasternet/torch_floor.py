"""The torch floor, checked when the package is imported (it imports this
module first).

pip enforces setup.cfg's ``torch>=`` when it installs this package, not
when torch changes afterwards (``pip install torch==...``, ``--no-deps``,
conda); an older torch then fails far from the cause, at the first
training checkpoint it cannot load weights-only. The floor is read from
the installed package's metadata, so setup.cfg stays the one place that
states it.
"""
import re
from importlib import metadata
from typing import Optional, Tuple

import torch

from .errors import UnsupportedTorchError

DISTRIBUTION = 'mmdet-fasternet'


def release(version: str) -> Tuple[int, ...]:
    """The numbers a version starts with: '2.6.0+cpu' -> (2, 6, 0)."""
    found = re.match(r'\d+(\.\d+)*', version)
    return tuple(int(n) for n in found.group().split('.')) if found else ()


def torch_floor() -> Optional[str]:
    """The ``torch>=`` floor the package was installed with, or None for
    a source tree used without installing it."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        torch_specifiers = re.fullmatch(r'torch\s*([<>=!~,.\d\s]*)',
                                        requirement.strip())
        if torch_specifiers:
            found = re.search(r'>=\s*([\d.]+)', torch_specifiers.group(1))
            return found.group(1) if found else None
    return None


def check_torch_version() -> None:
    """Refuse, in one line, a torch older than the floor."""
    floor = torch_floor()
    if floor is not None and release(torch.__version__) < release(floor):
        raise UnsupportedTorchError(
            f'mmdet-fasternet needs torch >= {floor} (checkpoints load '
            f'weights-only) but torch {torch.__version__} is installed: '
            f"pip install 'torch>={floor}'")


check_torch_version()
