"""An exported detector checked against the model it came from.

Two runtimes' detections are compared as sets (``numerics``: other
kernels may rank near-tied scores the other way). Untrained weights score
below the score threshold everywhere, and two empty lists agree whatever
the graph computes: where the reference finds nothing, both run again with
the threshold lowered to ``CHECK_SCORE_THRESHOLD``, so that the check
compares boxes. The exported graph holds that threshold as a named tensor
(``DetectorGraph.score_threshold``), whose name the file records.

Every export is checked the same way: at the traced input size and at one
that is not (``check_shapes``), on seeded inputs (``check_inputs``),
within ``RTOL`` where it is meant to be exact.
"""
import os.path as osp
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from typing import (TYPE_CHECKING, Callable, Iterator, List, NamedTuple,
                    Optional, Sequence, Tuple)

import numpy as np
import torch

from ..errors import ToolError
from .file_metadata import model_metadata, recorded_names
from .graph import DetectorGraph
from .numerics import detection_error
from .onnxruntime_runtime import OnnxSession
from .runtimes import open_session, runtime_of

if TYPE_CHECKING:
    import onnx

CHECK_SCORE_THRESHOLD = 0.0
# The input size an export is traced at unless the caller says otherwise.
DEFAULT_SHAPE = (320, 512)
# Exports meant to be exact (fp32) differ from their reference by no more.
RTOL = 1e-4
# The second size an export is checked at, added to the traced one: odd,
# so that padding and dynamic shapes are exercised.
SECOND_SHAPE_OFFSET = (97, 45)

Run = Callable[[np.ndarray], Sequence[np.ndarray]]


def check_shapes(shape: Sequence[int]) -> List[Tuple[int, int]]:
    """The input sizes an export traced at ``shape`` is checked at."""
    h, w = shape
    return [(h, w), (h + SECOND_SHAPE_OFFSET[0], w + SECOND_SHAPE_OFFSET[1])]


def check_inputs(shapes: Sequence[Sequence[int]],
                 pixels: bool = True,
                 seed: int = 0) -> List[np.ndarray]:
    """One seeded input per size: pixels (0 to 255) for a whole detector,
    else normalised values."""
    generator = torch.Generator().manual_seed(seed)
    return [(torch.rand(1, 3, *shape, generator=generator) * 255 if pixels else
             torch.randn(1, 3, *shape, generator=generator)).numpy()
            for shape in shapes]


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
    """The exported detector ``model``'s score threshold, by the name the
    file records (``what`` names the file in an error)."""
    name = recorded_names(model_metadata(model))['score_threshold']
    for tensor in model.graph.initializer:
        if tensor.name == name:
            return tensor
    raise ToolError(f'{what} has no {name!r} tensor (an older export); '
                    f'export it again with tools/export_onnx.py --part '
                    f'detector.')


def with_lowered_score_threshold(model: 'onnx.ModelProto',
                                 what: str) -> 'onnx.ModelProto':
    """A copy of the exported detector ``model`` scoring at
    ``CHECK_SCORE_THRESHOLD``."""
    import onnx
    lowered = onnx.ModelProto()
    lowered.CopyFrom(model)
    tensor = score_threshold_tensor(lowered, what)
    tensor.CopyFrom(
        onnx.numpy_helper.from_array(
            np.array(CHECK_SCORE_THRESHOLD, np.float32), tensor.name))
    return lowered


def exported_runs(file: str, onnx_file: str) -> Runs:
    """``file`` (an exported detector, ``onnx_file`` or made from it) in
    its runtime on the CPU; lowered: ``onnx_file`` with its threshold
    lowered, made into the runtime's file the same way (a converter may
    fold the threshold into unnamed constants)."""
    import onnx
    runtime = runtime_of(file)

    def lowered() -> Run:
        model = with_lowered_score_threshold(onnx.load(onnx_file), onnx_file)
        if runtime.convert is None:
            return OnnxSession(model.SerializeToString(), 'cpu').run
        with tempfile.TemporaryDirectory() as folder:
            lowered_onnx = osp.join(folder, 'lowered.onnx')
            onnx.save(model, lowered_onnx)
            target = osp.join(folder, 'lowered' + runtime.suffix)
            runtime.convert(lowered_onnx, target)
            return open_session(target, 'cpu').run

    return Runs(open_session(file, 'cpu').run, lowered)


def recorded_score_threshold(onnx_file: str) -> float:
    """The score threshold the exported detector ``onnx_file`` holds."""
    import onnx
    return float(
        onnx.numpy_helper.to_array(
            score_threshold_tensor(onnx.load(onnx_file), onnx_file)))
