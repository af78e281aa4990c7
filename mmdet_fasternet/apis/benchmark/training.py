"""The cost of a training step: its median time, alternating between the
models, and its peak memory, each model in a fresh process."""
import argparse
import multiprocessing
from typing import Callable, List, Optional, Sequence

import torch
from mmengine.utils import ProgressBar

from ...config_files import load_model_config
from ...models.build import build_detector
from .inputs import training_batch
from .settings import training_models
from .timing import median_ms, sync, time_alternating


def training_step(config: str, backbone_options: dict, shape: Sequence[int],
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


def training_peak_memory(config: str, backbone_options: dict,
                         shape: Sequence[int], device: str) -> Optional[int]:
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


def _training_peak_memory(config: str, backbone_options: dict,
                          shape: Sequence[int], device: str) -> Optional[int]:
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


def measure_training(args: argparse.Namespace, device: torch.device,
                     progress: ProgressBar) -> List[dict]:
    """One row per model: median ms of a training step and peak memory."""
    models = training_models(args.arch)
    steps = {
        label: training_step(config, options, args.shape, device)
        for label, (config, options) in models.items()
    }
    times = time_alternating(steps, args.train_runs, 1, progress)
    rows = []
    for label, (config, options) in models.items():
        peak = training_peak_memory(config, options, args.shape, str(device))
        rows.append(
            dict(
                model=label,
                ms=median_ms(times[label]),
                peak_mib=None if peak is None else peak / 2**20,
                times_s=times[label]))
        progress.update()
    return rows
