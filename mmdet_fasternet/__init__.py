"""FasterNet (CVPR 2023, partial convolution) as an MMDetection 3.x backbone.

Importing this package (the configs' ``custom_imports`` do) checks the
torch version, registers ``FasterNet``, the demo's
``SyntheticShapesDataset`` and the safeguard hooks in mmdet's registries,
lets torch's weights-only loading read the checkpoints mmengine writes,
and applies the few changes to upstream behaviour listed in ``patches/``.
"""
# First: a torch below the floor stops the import here, in one line.
from . import torch_floor  # noqa: F401  isort: skip
# Then, before mmengine is imported (see the module).
from . import upstream_warnings  # noqa: F401  isort: skip
# Then, before anything imports mmcv.ops: with mmcv-lite (no compiled
# mmcv._ext), our kernels serve mmcv's ops (see ops/extension.py).
from .ops.extension import STAND_IN_INSTALLED  # noqa: F401  isort: skip
from . import engine
from .datasets import SyntheticShapesDataset
from .models import ARCH_SETTINGS, FasterNet
from .models.pretrained import load_pretrained
from .patches import apply_patches

__version__ = '0.1.0'
__all__ = [
    'ARCH_SETTINGS', 'FasterNet', 'SyntheticShapesDataset', 'engine',
    'load_pretrained', '__version__'
]

apply_patches()
