"""Latency and training cost of two models measured side by side.

Shared machines are noisy, so models are only ever compared inside one run:
each gets the same warm-up, runs alternate (in reversed order every other
round, so neither always runs on a warmer cache), and the median is kept.
"""
import multiprocessing
import time
from dataclasses import dataclass
from statistics import median
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import BaseDetector
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from mmengine.utils import ProgressBar

from .analysis import build_detector, load_model_config
from .models.deploy import deploy_model

PEAK_PREFIX = '1x1 conv '


@dataclass(frozen=True)
class Setting:
    """How both models of a comparison are prepared and run."""
    name: str
    deploy: bool
    channels_last: bool
    bf16: bool
    compile: bool
    description: str


SETTINGS = {
    s.name: s
    for s in (
        Setting('eval', False, False, False, False,
                'model.eval(), fp32, NCHW'),
        Setting(
            'deploy', True, True, False, False,
            'deploy_model(): BN folded (and FasterNet\'s fused '
            'kernels), channels_last, fp32'),
        Setting('deploy-bf16', True, True, True, False,
                'deploy + bf16 autocast'),
        Setting(
            'deploy-compile', True, True, False, True,
            'deploy + torch.compile (inductor, frozen weights) of '
            'backbone and neck: the same kernel fusion for both'),
    )
}


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def prepare(model: nn.Module, setting: Setting,
            device: torch.device) -> nn.Module:
    model.to(device).eval()
    if setting.deploy:
        deploy_model(model, channels_last=setting.channels_last)
    if setting.compile:
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True  # constant weights: fused kernels
        if isinstance(model, BaseDetector):
            model.backbone = torch.compile(model.backbone)
            model.neck = torch.compile(model.neck)
        else:
            model = torch.compile(model)
    return model


def autocast(setting: Setting, device: torch.device):
    return torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=setting.bf16)


def image_batch(shape, device: torch.device, setting: Setting) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, *shape, generator=g).to(device)
    if setting.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def image_sample(shape) -> DetDataSample:
    return DetDataSample(
        metainfo=dict(
            img_shape=tuple(shape),
            ori_shape=tuple(shape),
            pad_shape=tuple(shape),
            batch_input_shape=tuple(shape),
            scale_factor=(1.0, 1.0)))


def keep_every_detection(detector: BaseDetector) -> None:
    """Score threshold 0: random weights then still produce the full 100
    detections (and mask-head work) per image, the same for both models."""
    test_cfg = detector.test_cfg
    for cfg in (test_cfg.get('rcnn'), test_cfg):
        if cfg is not None and 'score_thr' in cfg:
            cfg.score_thr = 0.0


def autocast_features(detector: BaseDetector, device: torch.device) -> None:
    """bf16 for backbone and neck only: mmcv's NMS has no bf16 kernel, so
    heads and post-processing stay fp32."""
    extract_feat = detector.extract_feat

    def extract_feat_bf16(x: torch.Tensor) -> tuple:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            feats = extract_feat(x)
        return tuple(f.float() for f in feats)

    detector.extract_feat = extract_feat_bf16


def inference_step(model: nn.Module, x: torch.Tensor, setting: Setting,
                   device: torch.device) -> Callable[[], None]:
    """One batch-1 forward: features for a backbone, ``predict`` (with
    post-processing) for a detector."""
    samples = [image_sample(x.shape[-2:])]
    detector = isinstance(model, BaseDetector)
    if detector and setting.bf16:
        autocast_features(model, device)

    def step() -> None:
        if detector:
            with torch.no_grad():
                model.predict(x, samples, rescale=False)
        else:
            with torch.no_grad(), autocast(setting, device):
                model(x)
        sync(device)

    return step


def peak_conv_steps(embed_dim: int, shape, setting: Setting,
                    device: torch.device) -> Dict[str, Tuple[Callable, int]]:
    """FasterNet's own expanding 1x1 convs (C -> 2C at each stage's size),
    channels_last, as (step, FLOPs) named like ``1x1 conv 512->1024
    @50x80``: the fastest of them stands for the machine's peak.

    (A fixed large shape is no peak: on the CPU, a fresh output above
    glibc's 32 MB mmap threshold costs page faults that a conv with a
    smaller output does not pay.)
    """
    steps = {}
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        c, stride = embed_dim * 2**i, 4 * 2**i
        h, w = shape[0] // stride, shape[1] // stride
        # bf16: converted once here, not by autocast inside the timing.
        dtype = torch.bfloat16 if setting.bf16 else torch.float32
        x = torch.randn(1, c, h, w, generator=g).to(device, dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = torch.randn(2 * c, c, 1, 1, generator=g).to(device, dtype)

        def step(x=x, weight=weight) -> None:
            with torch.no_grad():
                torch.nn.functional.conv2d(x, weight)
            sync(device)

        steps[f'{PEAK_PREFIX}{c}->{2 * c} @{h}x{w}'] = (step,
                                                        2 * c * c * h * w)
    return steps


def time_alternating(
        steps: Dict[str, Callable[[], None]],
        runs: int,
        warmup: int,
        progress: Optional[ProgressBar] = None) -> Dict[str, List[float]]:
    """Seconds per call of each step; warm-up calls are not kept."""
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
            if progress:
                progress.update()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for round_ in range(runs):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
            if progress:
                progress.update()
    return times


def median_ms(times: List[float]) -> float:
    return 1e3 * median(times)


def training_peak_memory(config: str, backbone_options: dict, shape,
                         device: str) -> Optional[int]:
    """Bytes of memory two training steps need beyond the built model.

    Measured in a fresh process: there the peak resident set (CPU, Linux)
    or the allocator's peak (CUDA) belongs to this model alone, whereas in
    a process that already ran other models the allocator's cached memory
    hides part of it. None where the platform reports no peak.
    """
    context = multiprocessing.get_context('spawn')
    with context.Pool(1) as pool:
        return pool.apply(_training_peak_memory,
                          (config, backbone_options, tuple(shape), device))


def _training_peak_memory(config: str, backbone_options: dict, shape,
                          device: str) -> Optional[int]:
    device = torch.device(device)
    step = training_step(config, backbone_options, shape, device)
    if device.type == 'cuda':
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        start = _status_kib('VmRSS')
    step()
    step()
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) - start
    peak = _status_kib('VmHWM')
    return None if None in (start, peak) else 1024 * (peak - start)


def _status_kib(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def training_batch(shape, device: torch.device, num_objects: int = 8):
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


def training_step(config: str, backbone_options: dict, shape,
                  device: torch.device) -> Callable[[], None]:
    """Forward with losses, backward and an SGD update of the detector of
    ``config`` with ``backbone_options`` applied to its backbone."""
    cfg = load_model_config(config)
    cfg.model.backbone.update(backbone_options)
    model = build_detector(cfg)
    model.to(device).train()
    x, samples = training_batch(shape, device)
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=1e-6)

    def step() -> None:
        losses = model.loss(x, samples)
        loss, _ = model.parse_losses(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sync(device)

    return step
