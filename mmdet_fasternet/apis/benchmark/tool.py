"""tools/benchmark.py's one call: check the options, measure, report."""
import argparse

import torch
from mmengine.utils import ProgressBar

from ...errors import ToolError, refuse_overwrite
from ..cli import check_device, check_shape
from .measure import measure_inference
from .report import plot, print_inference, print_training, save_json
from .runtimes import check_runtimes
from .training import measure_training


def check_args(args: argparse.Namespace) -> torch.device:
    """Every option, before a model is built; the device to run on."""
    check_shape(args.shape, 32)
    runs = (args.runs, args.train_runs, args.breakdown_runs)
    if min(runs) < 1 or args.warmup < 0:
        raise ToolError('--runs, --train-runs and --breakdown-runs must be '
                        '>= 1, --warmup >= 0.')
    for option, path in (('--json', args.json), ('--plot', args.plot)):
        if path:
            refuse_overwrite(path, option, args.force)
    device = check_device(args.device)
    check_runtimes(args.settings, device)
    if args.threads is not None:
        if args.threads < 1:
            raise ToolError(f'--threads must be >= 1, got {args.threads}.')
        torch.set_num_threads(args.threads)
    return device


def benchmark(args: argparse.Namespace) -> None:
    """tools/benchmark.py: time FasterNet against ResNet-50, print the
    table, and save it as JSON and a bar chart if asked."""
    device = check_args(args)
    n_infer = sum((args.warmup + args.runs) * (6 if part == 'backbone' else 2)
                  for part in args.parts for _ in args.settings)
    n_train = 3 * (2 + args.train_runs) if args.train else 0
    progress = ProgressBar(n_infer + n_train)
    results = dict(
        arch=args.arch,
        shape=list(args.shape),
        device=str(device),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        runs=args.runs,
        warmup=args.warmup,
        inference=measure_inference(args, device, progress))
    if args.train:
        results['training'] = measure_training(args, device, progress)
    print_inference(results['inference'], args, device)
    if args.train:
        print_training(results['training'], args)
    if args.json:
        save_json(results, args.json)
        print(f'measurements saved to {args.json}')
    if args.plot:
        plot(results['inference'], args, args.plot)
        print(f'bar chart saved to {args.plot}')
