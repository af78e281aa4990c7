"""An exported detector checked against the model it came from.

Two runtimes' detections are compared as sets (``numerics``: other
kernels may rank near-tied scores the other way). Untrained weights score
below the score threshold everywhere, and two empty lists agree whatever
the graph computes: where the reference finds nothing, both run again with
the threshold lowered to ``CHECK_SCORE_THRESHOLD``, so that the check
compares boxes. The exported graph holds that threshold as a named tensor
(``DetectorGraph.score_threshold``) for this.
"""
from contextlib import contextmanager
from functools import lru_cache
from typing import (TYPE_CHECKING, Callable, Iterator, List, NamedTuple,
                    Optional, Sequence, Tuple)

import numpy as np
import torch

from ..errors import ToolError
from ..models.detector_graph import DetectorGraph
from .numerics import detection_error

if TYPE_CHECKING:
    import onnx

CHECK_SCORE_THRESHOLD = 0.0
# DetectorGraph.score_threshold in an exported file (ExportedPart's
# detector_graph holds the graph).
SCORE_THRESHOLD_TENSOR = 'detector_graph.score_threshold'

Run = Callable[[np.ndarray], Sequence[np.ndarray]]


class Agreement(NamedTuple):
    """One runtime against another at one input size."""
    shape: Tuple[int, int]
    error: float  # largest relative difference (of paired detections)
    unpaired: Optional[int] = None  # detectors: detections left unpaired
    detections: Optional[int] = None  # detectors: how many the reference gave
    # detectors: the file's score threshold, where nothing scored above it
    # and both ran at CHECK_SCORE_THRESHOLD instead
    lowered_from: Optional[float] = None
    runtimes: str = 'onnxruntime vs PyTorch'

    def __str__(self) -> str:
        text = (f'{self.runtimes} at {self.shape[0]}x{self.shape[1]}: max '
                f'relative difference {self.error:.1e}')
        if self.detections is None:
            return text
        if self.detections == 0:
            text += ' (no detection to compare)'
        else:
            text += (f' over {self.detections} detections, {self.unpaired} '
                     f'unpaired (near-tied scores)')
        if self.lowered_from is not None:
            text += (f'; nothing scored above the score threshold '
                     f'{self.lowered_from:g}, so both ran at '
                     f'{CHECK_SCORE_THRESHOLD:g}')
        return text


class Runs(NamedTuple):
    """A detector as it is, and how to build it scoring at
    ``CHECK_SCORE_THRESHOLD``."""
    as_is: Run
    lowered: Callable[[], Run]


def compare_detections(runs: Runs, reference: Runs,
                       inputs: Sequence[np.ndarray], threshold: float,
                       runtimes: str) -> List[Agreement]:
    """``runs`` against ``reference`` on each of ``inputs`` (images of one
    batch); ``threshold``: the detector's score threshold, for the
    report."""
    lowered, lowered_reference = (lru_cache(None)(runs.lowered),
                                  lru_cache(None)(reference.lowered))
    found = []
    for x in inputs:
        shape = tuple(x.shape[2:])
        agreement = Agreement(
            shape,
            *detection_error(runs.as_is(x), reference.as_is(x)),
            runtimes=runtimes)
        if agreement.detections == 0 and agreement.error == 0:
            agreement = Agreement(
                shape,
                *detection_error(lowered()(x),
                                 lowered_reference()(x)),
                lowered_from=threshold,
                runtimes=runtimes)
        found.append(agreement)
    return found


@contextmanager
def lowered_score_threshold(graph: DetectorGraph) -> Iterator[None]:
    """``graph`` scoring at ``CHECK_SCORE_THRESHOLD`` within the block."""
    kept = graph.score_threshold.clone()
    graph.score_threshold.fill_(CHECK_SCORE_THRESHOLD)
    try:
        yield
    finally:
        graph.score_threshold.copy_(kept)


def torch_runs(graph: DetectorGraph) -> Runs:
    """The detector graph in PyTorch."""

    def run(x: np.ndarray) -> List[np.ndarray]:
        with torch.no_grad():
            return [t.numpy() for t in graph(torch.from_numpy(x))]

    def run_lowered(x: np.ndarray) -> List[np.ndarray]:
        with lowered_score_threshold(graph):
            return run(x)

    return Runs(run, lambda: run_lowered)


def score_threshold_tensor(model: 'onnx.ModelProto',
                           what: str) -> 'onnx.TensorProto':
    """The exported detector ``model``'s score threshold (``what`` names
    the file in an error)."""
    for tensor in model.graph.initializer:
        if tensor.name == SCORE_THRESHOLD_TENSOR:
            return tensor
    raise ToolError(f'{what} has no {SCORE_THRESHOLD_TENSOR!r} tensor (an '
                    f'older export); export it again with '
                    f'tools/export_onnx.py --part detector.')


def score_threshold(model: 'onnx.ModelProto', what: str) -> float:
    import onnx
    return float(
        onnx.numpy_helper.to_array(score_threshold_tensor(model, what)))


def with_lowered_score_threshold(model: 'onnx.ModelProto',
                                 what: str) -> 'onnx.ModelProto':
    """A copy of the exported detector ``model`` scoring at
    ``CHECK_SCORE_THRESHOLD``."""
    import onnx
    lowered = onnx.ModelProto()
    lowered.CopyFrom(model)
    score_threshold_tensor(lowered, what).CopyFrom(
        onnx.numpy_helper.from_array(
            np.array(CHECK_SCORE_THRESHOLD, np.float32),
            SCORE_THRESHOLD_TENSOR))
    return lowered


def onnxruntime_runs(onnx_file: str) -> Runs:
    """``onnx_file`` in onnxruntime on the CPU."""
    import onnx
    import onnxruntime

    def runs_of(model) -> Run:
        session = onnxruntime.InferenceSession(
            model, providers=['CPUExecutionProvider'])
        return lambda x: session.run(None, {'image': x})

    return Runs(
        runs_of(onnx_file), lambda: runs_of(
            with_lowered_score_threshold(onnx.load(onnx_file), onnx_file).
            SerializeToString()))
