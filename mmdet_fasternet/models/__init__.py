from .fasternet import FasterNet
from .onnx_detector import OnnxDetector
from .openvino_detector import OpenVinoDetector
from .variants import ARCH_SETTINGS

__all__ = ['ARCH_SETTINGS', 'FasterNet', 'OnnxDetector', 'OpenVinoDetector']
