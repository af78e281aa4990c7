"""The inference rows: for each part and setting, both models (and for
backbones the peak convs) timed in one alternating loop."""
import argparse
import tempfile
from typing import Dict, List, Sequence

import torch
from mmengine.utils import ProgressBar

from ...deploy.numerics import max_relative_error
from ...models import ARCH_SETTINGS
from ..flops import complexity
from .inputs import image_batch
from .runtimes import runner
from .settings import SETTINGS, Case, pair_of_models
from .timing import median_ms, peak_conv_steps, time_alternating


def measure_inference(args: argparse.Namespace, device: torch.device,
                      progress: ProgressBar) -> List[dict]:
    """One row per part and setting: median ms of both models (and for
    backbones the peak convs, GFLOPS, and the error against the first
    setting's output; for detectors with ``--breakdown``, the time by
    part)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for part in args.parts:
            rows += measure_part(args, part, device, progress, folder)
    return rows


def measure_part(args: argparse.Namespace, part: str, device: torch.device,
                 progress: ProgressBar, folder: str) -> List[dict]:
    """The rows of ``part``, one per setting; ``folder``: scratch space
    for exported models and profiles."""
    rows = []
    contenders = pair_of_models(part, args.arch)
    flops = {
        label: complexity(c.module(part), tuple(args.shape)).flops
        for label, c in contenders.items()
    } if part == 'backbone' else {}
    reference = None
    for name in args.settings:
        setting = SETTINGS[name]
        x = image_batch(args.shape, device, setting)
        runners = {
            label: runner(Case(label, c, part, setting, x, device, folder))
            for label, c in contenders.items()
        }
        peak_convs = peak_conv_steps(ARCH_SETTINGS[args.arch]['embed_dim'],
                                     args.shape, setting.bf16,
                                     device) if part == 'backbone' else {}
        timed = dict(runners)
        timed.update({k: step for k, (step, _) in peak_convs.items()})
        times = time_alternating(timed, args.runs, args.warmup, progress)
        row = dict(
            part=part,
            setting=name,
            ms={
                k: median_ms(v)
                for k, v in times.items()
            },
            times_s=times)
        ran = {label: r.precisions() for label, r in runners.items()}
        if None not in ran.values():
            row['precisions'] = ran
        if part == 'backbone':
            outs = next(iter(runners.values())).features()
            if reference is None:
                reference = [o.float() for o in outs]
            row['max_rel_error_vs_first_setting'] = max_relative_error(
                outs, reference)
            peak_flops = {k: f for k, (_, f) in peak_convs.items()}
            every_flops = {**flops, **peak_flops}
            row.update(peak_figures(row['ms'], every_flops, peak_flops))
        elif args.breakdown:
            spent = {
                label: r.breakdown(args.breakdown_runs)
                for label, r in runners.items()
            }
            if None not in spent.values():
                row['breakdown_ms'] = spent
        rows.append(row)
        del runners, timed
    return rows


def peak_figures(ms: Dict[str, float], flops: Dict[str, int],
                 peak_convs: Sequence[str]) -> dict:
    """GFLOPS of each timed step, and the peak conv's."""
    gflops = {label: f / (ms[label] / 1e3) / 1e9 for label, f in flops.items()}
    peak = max(peak_convs, key=lambda k: gflops[k])
    return dict(gflops=gflops, peak_conv=peak, peak_gflops=gflops[peak])
