"""The seeded inputs every model of a comparison gets."""
from typing import List, Sequence, Tuple

import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from .settings import Setting


def image_batch(shape: Sequence[int], device: torch.device,
                setting: Setting) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, *shape, generator=g).to(device)
    if setting.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def image_sample(shape: Sequence[int]) -> DetDataSample:
    return DetDataSample(
        metainfo=dict(
            img_shape=tuple(shape),
            ori_shape=tuple(shape),
            pad_shape=tuple(shape),
            batch_input_shape=tuple(shape),
            scale_factor=(1.0, 1.0)))


def training_batch(
        shape: Sequence[int],
        device: torch.device,
        num_objects: int = 8) -> Tuple[torch.Tensor, List[DetDataSample]]:
    """One image with ``num_objects`` boxes and box-shaped masks."""
    from mmdet.structures.mask import BitmapMasks
    g = torch.Generator().manual_seed(0)
    h, w = shape
    x = torch.randn(1, 3, h, w, generator=g).to(device)
    corners = torch.rand(num_objects, 2, 2, generator=g)
    corners = corners * torch.tensor([w * 0.9, h * 0.9])
    boxes = torch.cat((corners.min(1).values, corners.max(1).values + 16), 1)
    masks = torch.zeros(num_objects, h, w, dtype=torch.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
        masks[i, y1:y2, x1:x2] = 1
    sample = image_sample(shape)
    sample.gt_instances = InstanceData(
        bboxes=boxes.to(device),
        labels=torch.randint(0, 80, (num_objects, ), generator=g).to(device),
        masks=BitmapMasks(masks.numpy(), h, w))
    return x, [sample]
