"""Two runs' detections are the same detections: compared as sets, since
another runtime or CPU may rank near-tied scores the other way."""
import torch
from mmengine.structures import InstanceData

from mmdet_fasternet.apis.numerics import pair_detections


def assert_same_detections(got: InstanceData, want: InstanceData,
                           box_atol: float, score_atol: float) -> None:
    """Each detection of ``want`` has one of ``got`` (``pair_detections``),
    but for the few near-ties it allows, and every pair agrees: boxes and
    scores within the tolerances, labels equal, pasted masks in all but
    0.1% of their pixels."""
    outputs = [(d.bboxes, d.scores, d.labels) for d in (got, want)]
    pairs = pair_detections(*outputs)
    assert pairs.allowed(), (f'{pairs.unpaired} of {len(want)} detections '
                             'unpaired')
    g, w = torch.from_numpy(pairs.got), torch.from_numpy(pairs.expected)
    torch.testing.assert_close(
        got.bboxes[g], want.bboxes[w], atol=box_atol, rtol=0)
    torch.testing.assert_close(
        got.scores[g], want.scores[w], atol=score_atol, rtol=0)
    assert torch.equal(got.labels[g], want.labels[w])
    if 'masks' in want:
        assert got.masks.shape[1:] == want.masks.shape[1:]
        differ = (got.masks[g] != want.masks[w]).float().mean().item()
        assert differ < 1e-3
