"""An exported detector run by onnxruntime (``exported_detector.py``)."""
from typing import List, Optional, Sequence

import numpy as np
from mmdet.registry import MODELS

from ..errors import ConfigError, ToolError
from .exported_detector import ExportedDetector, recorded_classes


def onnx_providers(device: Optional[str] = None) -> List:
    """The execution providers a session on ``device`` asks for ('cpu',
    'cuda[:N]'; None: CUDA where onnxruntime has it), or a one-line error
    where this onnxruntime cannot run on ``device``."""
    import onnxruntime
    if device is not None and not (device == 'cpu'
                                   or device.startswith('cuda')):
        raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got "
                          f'{device!r}.')
    available = onnxruntime.get_available_providers()
    providers: List = ['CPUExecutionProvider']
    if device is None or device.startswith('cuda'):
        index = int(device.split(':')[1]) if device and ':' in device else 0
        if 'CUDAExecutionProvider' in available:
            providers.insert(0,
                             ('CUDAExecutionProvider', dict(device_id=index)))
        elif device is not None:
            raise ToolError(
                f'onnxruntime has no CUDA provider here (it has '
                f'{", ".join(available)}); install onnxruntime-gpu or run on '
                f'the CPU.')
    return providers


def onnx_session(onnx_file: str,
                 device: Optional[str] = None,
                 session_options: Optional[dict] = None):
    """An onnxruntime session on ``device`` (see ``onnx_providers``);
    ``session_options``: attributes of its SessionOptions, e.g.
    ``intra_op_num_threads``."""
    import onnxruntime
    providers = onnx_providers(device)
    options = onnxruntime.SessionOptions()
    for name, value in (session_options or {}).items():
        if not hasattr(options, name):
            raise ConfigError(
                f'session_options: onnxruntime.SessionOptions has no '
                f'{name!r} (e.g. intra_op_num_threads, enable_profiling).')
        setattr(options, name, value)
    session = onnxruntime.InferenceSession(
        onnx_file, options, providers=providers)
    if (device or '').startswith('cuda') and ('CUDAExecutionProvider'
                                              not in session.get_providers()):
        raise ToolError(
            'onnxruntime could not load its CUDA provider (its log above '
            'says why; usually a missing CUDA or cuDNN library of the '
            'version onnxruntime-gpu was built for); fix that or run on the '
            'CPU.')
    return session


def onnx_classes(session) -> Optional[List[str]]:
    """The class names an exported file records, or None."""
    return recorded_classes(session.get_modelmeta().custom_metadata_map)


@MODELS.register_module()
class OnnxDetector(ExportedDetector):
    """``file``, exported with ``--part detector``, run by onnxruntime;
    ``device`` and ``session_options``: see ``onnx_session``; the rest:
    see ``ExportedDetector``."""

    def __init__(self,
                 file: str,
                 classes: Sequence[str],
                 mask_head: Optional[dict] = None,
                 rcnn_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 device: Optional[str] = None,
                 session_options: Optional[dict] = None) -> None:
        session = onnx_session(file, device, session_options)
        super().__init__(file, onnx_classes(session), classes, mask_head,
                         rcnn_test_cfg, data_preprocessor)
        self.session = session

    def run(self, image: np.ndarray) -> Sequence[np.ndarray]:
        return self.session.run(None, {'image': image})
