"""FasterNet (CVPR 2023, partial convolution) as an MMDetection 3.x backbone.

Importing this package registers ``FasterNet`` in mmdet's ``MODELS`` and the
demo's ``SyntheticShapesDataset`` in ``DATASETS``, lets torch's
weights-only loading read the checkpoints mmengine writes, and makes
mmengine load checkpoint URLs weights-only too.
"""
from .datasets import SyntheticShapesDataset
from .models import ARCH_SETTINGS, FasterNet
from .safe_loading import allow_mmengine_checkpoint_globals
from .weights import load_pretrained

__version__ = '0.1.0'
__all__ = [
    'ARCH_SETTINGS', 'FasterNet', 'SyntheticShapesDataset', 'load_pretrained',
    '__version__'
]

allow_mmengine_checkpoint_globals()
