"""FasterNet (CVPR 2023, partial convolution) as an MMDetection 3.x backbone.

Importing this package registers ``FasterNet`` in mmdet's ``MODELS``.
"""
from .models import ARCH_SETTINGS, FasterNet

__version__ = '0.1.0'
__all__ = ['ARCH_SETTINGS', 'FasterNet', '__version__']
