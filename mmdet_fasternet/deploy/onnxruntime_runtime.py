"""onnxruntime, the runtime of ``.onnx`` files (an entry of ``runtimes.py``).

``onnx_session`` is the one place a session is made: for tools/test.py
and tools/demo.py (through ``exported_detector.py``), the benchmark, and
the export's own check.
"""
import json
import re
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from ..errors import ConfigError, ToolError

INSTALL = 'pip install onnxruntime (onnxruntime-gpu for CUDA)'
# What onnxruntime's optimiser adds to the name of a node it fuses or
# re-lays out.
FUSED_PREFIX = re.compile(r'^fused ')
LAYOUT_SUFFIX = re.compile(r'_nchwc$')


def check_onnxruntime(device: str) -> None:
    """onnxruntime is installed and can run on ``device``, or one line."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ToolError(f'exported files are made, checked and run with '
                        f'onnxruntime: {INSTALL}.')
    onnx_providers(device)


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


def onnx_session(model: Union[str, bytes],
                 device: Optional[str] = None,
                 session_options: Optional[dict] = None):
    """An onnxruntime session of ``model`` (a file, or a serialised model)
    on ``device`` (see ``onnx_providers``); ``session_options``:
    attributes of its SessionOptions, e.g. ``intra_op_num_threads``."""
    import onnxruntime
    providers = onnx_providers(device)
    options = onnxruntime.SessionOptions()
    for name, value in (session_options or {}).items():
        if not hasattr(options, name):
            raise ConfigError(
                f'session_options: onnxruntime.SessionOptions has no '
                f'{name!r} (e.g. intra_op_num_threads, enable_profiling).')
        setattr(options, name, value)
    session = onnxruntime.InferenceSession(model, options, providers=providers)
    if (device or '').startswith('cuda') and ('CUDAExecutionProvider'
                                              not in session.get_providers()):
        raise ToolError(
            'onnxruntime could not load its CUDA provider (its log above '
            'says why; usually a missing CUDA or cuDNN library of the '
            'version onnxruntime-gpu was built for); fix that or run on the '
            'CPU.')
    return session


class OnnxSession:
    """An ``.onnx`` file in onnxruntime, as ``runtimes.Session`` says;
    ``options``: attributes of its SessionOptions."""

    def __init__(self,
                 file: Union[str, bytes],
                 device: Optional[str] = None,
                 threads: Optional[int] = None,
                 profile: Optional[str] = None,
                 options: Optional[dict] = None) -> None:
        settings = dict(options or {})
        if threads:
            settings.setdefault('intra_op_num_threads', threads)
        if profile:
            settings.update(enable_profiling=True, profile_file_prefix=profile)
        self.session = onnx_session(file, device, settings)

    def run(self, image: np.ndarray) -> List[np.ndarray]:
        return self.session.run(None, {'image': image})

    def metadata(self) -> Dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def precisions(self) -> Optional[Dict[str, int]]:
        return None  # fp32 as exported: onnxruntime's CPU and CUDA providers

    def report(self) -> Optional[str]:
        return None

    def record_profile(self) -> None:
        pass  # onnxruntime's profile file records every run

    def node_times(self, runs: int) -> Dict[Tuple[str, ...], float]:
        """Mean ms per node over the last ``runs`` runs, from the profile
        (which this ends); a fused node by the name of the node it fused
        into (the FX node's name, or ``node_`` and it)."""
        with open(self.session.end_profiling()) as f:
            events = json.load(f)
        starts = sorted(
            e['ts'] for e in events
            if e.get('cat') == 'Session' and e['name'] == 'model_run')
        if len(starts) < runs:
            raise RuntimeError(f'{len(starts)} runs profiled, {runs} '
                               f'expected')
        first = starts[-runs]
        spent: Dict[Tuple[str, ...], float] = {}
        for event in events:
            name = event.get('name', '')
            if (event.get('cat') != 'Node' or event['ts'] < first
                    or not name.endswith('_kernel_time')):
                continue
            node = LAYOUT_SUFFIX.sub(
                '',
                FUSED_PREFIX.sub('',
                                 name[:-len('_kernel_time')]).split('/')[0])
            key = (node, 'node_' + node)
            spent[key] = spent.get(key, 0.0) + event['dur'] / 1e3 / runs
        return spent
