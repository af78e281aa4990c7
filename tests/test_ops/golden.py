"""Access to golden_mmcv_2.1.0.pt (written by make_golden.py with compiled
mmcv 2.1.0) and to compiled mmcv itself where it is installed."""
import functools
import os.path as osp
import sys
from typing import Any, Optional

import torch

GOLDEN = osp.join(osp.dirname(osp.abspath(__file__)), 'golden_mmcv_2.1.0.pt')


@functools.lru_cache()
def golden() -> dict:
    return torch.load(GOLDEN, weights_only=True)


def compiled_ext() -> Optional[Any]:
    """Compiled ``mmcv._ext`` if it is the one mmcv uses, else None."""
    import mmdet_fasternet  # noqa: F401  installs the stand-in if needed
    ext = sys.modules.get('mmcv._ext')
    if ext is None or getattr(ext, 'STAND_IN', False):
        return None
    return ext
