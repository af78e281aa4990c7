from .fasternet import FasterNet
from .onnx_detector import OnnxDetector
from .variants import ARCH_SETTINGS

__all__ = ['ARCH_SETTINGS', 'FasterNet', 'OnnxDetector']
