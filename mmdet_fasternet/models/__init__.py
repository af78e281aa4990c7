from .fasternet import ARCH_SETTINGS, FasterNet

__all__ = ['ARCH_SETTINGS', 'FasterNet']
