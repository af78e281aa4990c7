"""tools/benchmark.py's one call: check the options, measure, report."""
import argparse

import torch
from mmengine.utils import ProgressBar

from ...cpu import cpu_description
from ...errors import ToolError, refuse_overwrite
from ...models import ARCH_SETTINGS
from ..cli import add_shape_argument, check_device, check_shape
from .measure import measure_inference
from .report import plot, print_inference, print_training, save_json
from .runtimes import check_runtimes, settings_not_run
from .settings import PARTS, SETTINGS
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
    not_run = settings_not_run(args.settings, device)
    args.settings = [s for s in args.settings if s not in not_run]
    if not args.settings:
        raise ToolError(f'no setting asked for can run here: '
                        f'{next(iter(not_run.values()))}.')
    n_infer = sum((args.warmup + args.runs) * (6 if part == 'backbone' else 2)
                  for part in args.parts for _ in args.settings)
    n_train = 3 * (2 + args.train_runs) if args.train else 0
    progress = ProgressBar(n_infer + n_train)
    results = dict(
        arch=args.arch,
        shape=list(args.shape),
        device=str(device),
        cpu=cpu_description(),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        runs=args.runs,
        warmup=args.warmup,
        inference=measure_inference(args, device, progress),
        not_run=not_run)
    if args.train:
        results['training'] = measure_training(args, device, progress)
    print_inference(results['inference'], args, device)
    for name, why in not_run.items():
        print(f'{name}: not run: {why}')
    if args.train:
        print_training(results['training'], args)
    if args.json:
        save_json(results, args.json)
        print(f'measurements saved to {args.json}')
    if args.plot:
        plot(results['inference'], args, args.plot)
        print(f'bar chart saved to {args.plot}')


def benchmark_parser() -> argparse.ArgumentParser:
    """tools/benchmark.py's command line."""
    parser = argparse.ArgumentParser(
        description='FasterNet vs ResNet-50 latency, side by side')
    parser.add_argument('--arch', default='s', choices=sorted(ARCH_SETTINGS))
    parser.add_argument(
        '--parts', nargs='+', default=list(PARTS), choices=PARTS)
    parser.add_argument(
        '--settings',
        nargs='+',
        default=['eval', 'deploy'],
        choices=sorted(SETTINGS),
        help='; '.join(f'{s.name}: {s.description}'
                       for s in SETTINGS.values()))
    add_shape_argument(parser, (800, 1280), 'input height and width')
    parser.add_argument('--runs', type=int, default=7, help='timed runs')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument(
        '--threads', type=int, help='CPU threads (default: torch default)')
    parser.add_argument(
        '--train',
        action='store_true',
        help='also time one Mask R-CNN training step (forward, backward, '
        'update) and its peak memory: FasterNet, FasterNet with_cp, '
        'ResNet-50')
    parser.add_argument('--train-runs', type=int, default=3)
    parser.add_argument(
        '--breakdown',
        action='store_true',
        help='also time the detectors by part: backbone, neck, heads, '
        'post-processing')
    parser.add_argument('--breakdown-runs', type=int, default=3)
    parser.add_argument('--json', help='save every measurement here')
    parser.add_argument('--plot', help='draw the table as a bar chart (PNG)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite existing --json / --plot files')
    return parser
