from .fasternet import FasterNet
from .variants import ARCH_SETTINGS

__all__ = ['ARCH_SETTINGS', 'FasterNet']
