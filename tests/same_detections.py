"""Two runs' detections are the same detections: compared as sets, since
another runtime or CPU may rank near-tied scores the other way."""
import torch
from mmengine.structures import InstanceData

from mmdet_fasternet.deploy.numerics import pair_detections

# Pasted masks of a paired detection may differ in this share of the
# pixels of its box, where a probability near 0.5 rounds the other way
# (up to 0.13% seen between runtimes on 800-pixel boxes), not more.
MASK_PIXELS_DIFFERING = 0.01


def assert_same_detections(got: InstanceData, want: InstanceData,
                           box_atol: float, score_atol: float) -> None:
    """Each detection of ``want`` has one of ``got`` of the same label
    (``pair_detections``), but for the near-ties it allows, and every pair
    agrees: boxes and scores within the tolerances, pasted masks within
    the box of each detection in all but ``MASK_PIXELS_DIFFERING`` of its
    pixels."""
    outputs = [(d.bboxes, d.scores, d.labels) for d in (got, want)]
    pairs = pair_detections(*outputs)
    assert pairs.allowed(), (f'{pairs.unpaired} of {len(got)} + '
                             f'{len(want)} detections unpaired')
    g, w = torch.from_numpy(pairs.got), torch.from_numpy(pairs.expected)
    torch.testing.assert_close(
        got.bboxes[g], want.bboxes[w], atol=box_atol, rtol=0)
    torch.testing.assert_close(
        got.scores[g], want.scores[w], atol=score_atol, rtol=0)
    if 'masks' in want:
        assert got.masks.shape[1:] == want.masks.shape[1:]
        for i, j in zip(g.tolist(), w.tolist()):
            x0, y0 = want.bboxes[j, :2].floor().long().clamp(min=0).tolist()
            x1, y1 = want.bboxes[j, 2:].ceil().long().tolist()
            inside = (got.masks[i, y0:y1, x0:x1], want.masks[j, y0:y1, x0:x1])
            differ = (inside[0] != inside[1]).sum().item() / max(
                inside[0].numel(), 1)
            assert differ <= MASK_PIXELS_DIFFERING, (
                f'detection {j}: the masks differ in {differ:.1%} of the '
                f'pixels of its box')
