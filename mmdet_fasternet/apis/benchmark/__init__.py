"""tools/benchmark.py: latency and training cost of FasterNet and mmdet's
ResNet-50, measured side by side.

Shared machines are noisy, so models are only ever compared inside one run:
each gets the same warm-up, runs alternate (in reversed order every other
round, so neither always runs on a warmer cache), and the median is kept.

What is measured: ``settings`` (parts, settings, the models); how a
setting's models run: ``runtimes`` (one entry per runtime); how it is
timed: ``timing`` and ``training``; the rows: ``measure``; how they are
reported: ``report``; the tool's one call: ``tool``.
"""
from .inputs import image_batch, image_sample
from .settings import PARTS, SETTINGS, pair_of_models
from .tool import benchmark, benchmark_parser
from .torch_runtime import inference_step
from .training import training_peak_memory, training_step

__all__ = [
    'PARTS', 'SETTINGS', 'benchmark', 'benchmark_parser', 'image_batch',
    'image_sample', 'inference_step', 'pair_of_models', 'training_peak_memory',
    'training_step'
]
