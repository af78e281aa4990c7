"""Latency of FasterNet against mmdet's ResNet-50, side by side in one run.

Examples:
    python tools/benchmark.py                 # S: backbone and detectors
    python tools/benchmark.py --parts backbone --settings eval deploy \\
        deploy-bf16 --runs 11 --json bench.json --plot bench.png
    python tools/benchmark.py --train                  # + training step cost
    python tools/benchmark.py --parts mask_rcnn retinanet \\
        --settings eval deploy onnxruntime --breakdown  # + where time goes

Both models of a row get identical treatment (see --settings); runs
alternate and the median is reported with the ratio, and for backbones the
achieved GFLOPS against a 1x1 conv timed in the same loop.
"""
import argparse

from mmdet_fasternet.apis.benchmark import PARTS, SETTINGS, benchmark
from mmdet_fasternet.apis.cli import add_shape_argument, run_cli
from mmdet_fasternet.models import ARCH_SETTINGS


def parse_args() -> argparse.Namespace:
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
    return parser.parse_args()


if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: benchmark(parse_args())))
