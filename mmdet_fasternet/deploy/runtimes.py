"""The runtimes exported detectors run in: one entry each.

An entry names a runtime's session class (``Session``), its check (is it
installed, can it run on the device) and, where its files are made from
the ONNX file, its conversion. Everything that runs an exported file opens
it here, by its suffix: tools/test.py and tools/demo.py
(``exported_detector.py``), the benchmark, and the exporters' checks
(which open a model in memory with the runtime's session class itself).

A new runtime is one module (``<name>_runtime.py``: the session class, the
check, and a ``convert_onnx`` where it has a format of its own) and one
line in ``RUNTIMES``; the benchmark times it once a setting there names it.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from ..errors import ToolError
from .onnxruntime_runtime import OnnxSession, check_onnxruntime
from .openvino_runtime import (PRECISIONS, OpenVinoSession, check_openvino,
                               convert_onnx)


class Session(Protocol):
    """An exported file, ready to run on one image."""

    def run(self, image: np.ndarray) -> List[np.ndarray]:
        """The outputs for ``image``, float32 (1, 3, H, W)."""

    def metadata(self) -> Dict[str, str]:
        """What the file records besides the network (``file_metadata``)."""

    def precisions(self) -> Optional[Dict[str, int]]:
        """How many weighted layers run in which precision, read back from
        the runtime where it decides per CPU; None where it runs the file
        as exported."""

    def report(self) -> Optional[str]:
        """One line on what the runtime decided on this CPU, where it
        decides (``precisions``); None elsewhere."""

    def record_profile(self) -> None:
        """For a session opened with ``profile``, after each run, outside
        its timing: keep that run's node times where the runtime does not
        keep them itself."""

    def node_times(self, runs: int) -> Dict[Tuple[str, ...], float]:
        """For a session opened with ``profile``: mean ms per node over the
        last ``runs`` recorded runs, each node by the names of the ONNX
        node it may have come from."""


@dataclass(frozen=True)
class Runtime:
    """``session(file, device, threads, profile, options)`` opens a file;
    ``check(device)`` refuses in one line what cannot run; ``convert(onnx,
    out, precision, calibration)`` writes the runtime's own file from an
    ONNX file (None: it runs the ONNX file)."""
    name: str
    suffix: str
    session: Callable[..., Session]
    check: Callable[[str], None]
    precisions: Tuple[str, ...] = ('fp32', )
    convert: Optional[Callable[..., None]] = None


# By the format name the export API takes.
RUNTIMES: Dict[str, Runtime] = {
    'onnx':
    Runtime('onnxruntime', '.onnx', OnnxSession, check_onnxruntime),
    'openvino':
    Runtime('OpenVINO', '.xml', OpenVinoSession, check_openvino, PRECISIONS,
            convert_onnx),
}
SUFFIXES: Sequence[str] = tuple(r.suffix for r in RUNTIMES.values())


def runtime_of(path: str) -> Runtime:
    """The runtime of the file ``path``, by its suffix."""
    for runtime in RUNTIMES.values():
        if path.endswith(runtime.suffix):
            return runtime
    raise ToolError(f'{path!r} is no exported file: they end with '
                    f'{" or ".join(SUFFIXES)}.')


def is_exported_file(path: str) -> bool:
    """Whether tools take ``path`` for an exported detector (by suffix)."""
    return path.endswith(tuple(SUFFIXES))


def open_session(file: str,
                 device: Optional[str] = None,
                 threads: Optional[int] = None,
                 profile: Optional[str] = None,
                 options: Optional[dict] = None) -> Session:
    """``file`` opened by its runtime on ``device`` (None: the runtime's
    choice) with ``threads`` (None: its default); ``profile``: a path
    prefix, to profile every run (``Session.node_times``); ``options``:
    the runtime's own settings (onnxruntime's SessionOptions attributes,
    OpenVINO's properties)."""
    return runtime_of(file).session(file, device, threads, profile, options)
