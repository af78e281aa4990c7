"""How a step is timed: synchronised, warmed up, alternating with the other
steps of its row; and the peak a backbone's GFLOPS are set against."""
import time
from statistics import median
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.utils import ProgressBar

PEAK_PREFIX = '1x1 conv '


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_alternating(
        steps: Dict[str, Callable[[], object]],
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


def peak_conv_steps(embed_dim: int, shape: Sequence[int], bf16: bool,
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
        dtype = torch.bfloat16 if bf16 else torch.float32
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
