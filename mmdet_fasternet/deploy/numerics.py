"""How far one model's outputs are from another's."""
from typing import NamedTuple, Sequence, Tuple, Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]
# Two detections are the same one when box and score agree this closely,
# relative to the largest box coordinate and the largest score; how
# closely they then agree is measured separately.
PAIRING_TOLERANCE = 1e-2
# Near-tied scores may be ranked the other way by another runtime or CPU
# (a different top-k or proposal): a detection may then go unpaired, if
# its score is within the pairing tolerance of one that took its place or
# of the other list's cut-off, and at most this share of each list (and
# at least one) does.
UNPAIRED_SHARE = 0.05


def _as_float64(x: Array) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        # bf16 has no numpy dtype: go through fp32.
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def max_relative_error(got: Union[Array, Sequence[Array]],
                       expected: Union[Array, Sequence[Array]]) -> float:
    """Largest absolute difference over the largest magnitude of
    ``expected``: one scale per output, so values near zero do not blow it
    up. For sequences of outputs (arrays or tensors, mixed freely), the
    worst pair. Empty outputs of the same shape (no detections) agree."""
    if isinstance(got, (list, tuple)):
        if len(got) != len(expected):
            raise ValueError(f'{len(got)} outputs against {len(expected)}')
        return max(max_relative_error(g, e) for g, e in zip(got, expected))
    g, e = _as_float64(got), _as_float64(expected)
    if e.size == 0:
        return 0.0 if g.shape == e.shape else float('inf')
    return float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-12))


class DetectionPairs(NamedTuple):
    """Which detection of ``got`` is which of ``expected``, and the scores
    of those paired with nothing."""
    got: np.ndarray  # indices into got
    expected: np.ndarray  # the paired indices into expected, same order
    unpaired_got: np.ndarray  # the scores of got's unpaired detections
    unpaired_expected: np.ndarray  # and expected's
    cut_offs: Tuple[float, float]  # the lowest score of got, of expected
    score_tolerance: float  # what pairing allows between two scores

    @property
    def unpaired(self) -> int:
        """Unpaired detections, on both sides."""
        return len(self.unpaired_got) + len(self.unpaired_expected)

    def allowed(self) -> bool:
        """Only near-ties unpaired: each within the score tolerance of an
        unpaired detection of the other side (ranked the other way) or of
        the other side's lowest score (fell just below its cut), and few
        of them on either side."""
        got_cut, expected_cut = self.cut_offs
        sides = ((self.unpaired_got, self.unpaired_expected, expected_cut),
                 (self.unpaired_expected, self.unpaired_got, got_cut))
        for scores, others, cut in sides:
            total = len(self.got) + len(scores)
            if len(scores) > max(1, int(UNPAIRED_SHARE * total)):
                return False
            near = np.append(others, cut)
            gaps = np.abs(scores[:, None] - near[None]).min(-1, initial=np.inf)
            if np.any(gaps > self.score_tolerance):
                return False
        return True


def pair_detections(got: Sequence[Array],
                    expected: Sequence[Array]) -> DetectionPairs:
    """Pair two runs' detections ``(boxes, scores, labels, ...)`` one to
    one: the same label, box and score within ``PAIRING_TOLERANCE``.

    Floating point does not promise the order of near-equal scores (other
    kernels round differently), so the lists are compared as sets: each
    expected detection, best score first, takes the closest unpaired one.
    """
    boxes, scores = _as_float64(expected[0]), _as_float64(expected[1])
    other_boxes, other_scores = _as_float64(got[0]), _as_float64(got[1])
    box_scale = max(np.abs(boxes).max(initial=0), 1e-12)
    score_scale = max(np.abs(scores).max(initial=0), 1e-12)
    distance = np.maximum(
        np.abs(boxes[:, None] - other_boxes[None]).max(-1, initial=0) /
        box_scale,
        np.abs(scores[:, None] - other_scores[None]) / score_scale)
    distance[_as_float64(expected[2])[:, None] != _as_float64(got[2])
             [None]] = np.inf
    pairs = []
    for i in np.argsort(-scores, kind='stable'):
        j = int(np.argmin(distance[i])) if distance.shape[1] else 0
        if distance.shape[1] and distance[i, j] <= PAIRING_TOLERANCE:
            pairs.append((j, i))
            distance[:, j] = np.inf
    paired = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return DetectionPairs(
        paired[:, 0], paired[:, 1], np.delete(other_scores, paired[:, 0]),
        np.delete(scores, paired[:, 1]),
        (other_scores.min(initial=np.inf), scores.min(initial=np.inf)),
        PAIRING_TOLERANCE * score_scale)


def detection_error(got: Sequence[Array],
                    expected: Sequence[Array]) -> Tuple[float, int, int]:
    """For a detector's outputs ``(boxes, scores, labels[, masks])``: the
    largest relative error of the paired detections, how many went
    unpaired on either side (the error is inf unless near-ties explain
    them), and how many were expected."""
    pairs = pair_detections(got, expected)
    if not pairs.allowed():
        return float('inf'), pairs.unpaired, len(expected[0])
    error = max_relative_error(
        [_as_float64(g)[pairs.got] for g in got],
        [_as_float64(e)[pairs.expected] for e in expected])
    return error, pairs.unpaired, len(expected[0])
