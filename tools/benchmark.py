"""Latency of FasterNet against mmdet's ResNet-50, side by side in one run.

Examples:
    python tools/benchmark.py                 # S: backbone and detectors
    python tools/benchmark.py --parts backbone --settings eval deploy \\
        deploy-bf16 --runs 11 --json bench.json --plot bench.png
    python tools/benchmark.py --train                  # + training step cost

Both models of a row get identical treatment (see --settings); runs
alternate and the median is reported with the ratio, and for backbones the
achieved GFLOPS against a 1x1 conv timed in the same loop.
"""
import argparse
import copy
import json
import os.path as osp
import platform
from pathlib import Path
from typing import Dict, List

import torch
from mmengine.utils import ProgressBar

from mmdet_fasternet.analysis import (build_detector, complexity,
                                      load_model_config)
from mmdet_fasternet.benchmarking import (PEAK_PREFIX, SETTINGS, image_batch,
                                          inference_step, keep_every_detection,
                                          median_ms, peak_conv_steps, prepare,
                                          time_alternating,
                                          training_peak_memory, training_step)
from mmdet_fasternet.errors import ToolError
from mmdet_fasternet.models import ARCH_SETTINGS
from mmdet_fasternet.runtime import (add_shape_argument, check_device,
                                     check_shape, run_cli)

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
RESNET50 = dict(
    mask_rcnn='mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    retinanet='mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
PARTS = ('backbone', 'mask_rcnn', 'retinanet')


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
    parser.add_argument('--json', help='save every measurement here')
    parser.add_argument('--plot', help='draw the table as a bar chart (PNG)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite existing --json / --plot files')
    return parser.parse_args()


def check_args(args: argparse.Namespace) -> torch.device:
    check_shape(args.shape, 32)
    if args.runs < 1 or args.warmup < 0 or args.train_runs < 1:
        raise ToolError('--runs and --train-runs must be >= 1, --warmup '
                        '>= 0.')
    for path in (args.json, args.plot):
        if path and osp.exists(path) and not args.force:
            raise ToolError(f'{path!r} already exists; pass --force to '
                            f'overwrite it or choose another file.')
    device = check_device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ToolError(f'--threads must be >= 1, got {args.threads}.')
        torch.set_num_threads(args.threads)
    return device


def pair_of_models(part: str, arch: str) -> Dict[str, torch.nn.Module]:
    detector_part = 'mask_rcnn' if part == 'backbone' else part
    names = {
        f'FasterNet-{arch.upper()}':
        str(CONFIGS / f'{detector_part}_fasternet_{arch}.py'),
        'ResNet-50':
        RESNET50[detector_part],
    }
    models = {}
    for label, name in names.items():
        detector = build_detector(load_model_config(name))
        if part == 'backbone':
            models[label] = detector.backbone
        else:
            keep_every_detection(detector)
            models[label] = detector
    return models


def relative_error(outs, refs) -> float:
    return max(((o.float() - r).abs().max() / r.abs().max()).item()
               for o, r in zip(outs, refs))


def measure_inference(args, device, progress) -> List[dict]:
    rows = []
    for part in args.parts:
        base = pair_of_models(part, args.arch)
        flops = {
            label: complexity(model, tuple(args.shape)).flops
            for label, model in base.items()
        } if part == 'backbone' else {}
        reference = None
        for name in args.settings:
            setting = SETTINGS[name]
            models = {
                label: prepare(copy.deepcopy(m), setting, device)
                for label, m in base.items()
            }
            x = image_batch(args.shape, device, setting)
            steps = {
                label: inference_step(m, x, setting, device)
                for label, m in models.items()
            }
            peak_convs = peak_conv_steps(ARCH_SETTINGS[args.arch]['embed_dim'],
                                         args.shape, setting,
                                         device) if part == 'backbone' else {}
            steps.update({k: step for k, (step, _) in peak_convs.items()})
            times = time_alternating(steps, args.runs, args.warmup, progress)
            row = dict(
                part=part,
                setting=name,
                ms={
                    k: median_ms(v)
                    for k, v in times.items()
                },
                times_s=times)
            if part == 'backbone':
                fasternet = next(iter(models))
                with torch.no_grad(), torch.autocast(
                        device.type, dtype=torch.bfloat16,
                        enabled=setting.bf16):
                    outs = models[fasternet](x)
                if reference is None:
                    reference = [o.float() for o in outs]
                row['max_rel_error_vs_first_setting'] = relative_error(
                    outs, reference)
                flops.update({k: f for k, (_, f) in peak_convs.items()})
                row['gflops'] = {
                    label: f / (row['ms'][label] / 1e3) / 1e9
                    for label, f in flops.items()
                }
                row['peak_conv'] = max(
                    peak_convs, key=lambda k: row['gflops'][k])
                row['peak_gflops'] = row['gflops'][row['peak_conv']]
            rows.append(row)
            del models, steps
    return rows


def measure_training(args, device, progress) -> List[dict]:
    arch = args.arch
    configs = {
        f'FasterNet-{arch.upper()}':
        (CONFIGS / f'mask_rcnn_fasternet_{arch}.py', {}),
        f'FasterNet-{arch.upper()} with_cp':
        (CONFIGS / f'mask_rcnn_fasternet_{arch}.py', dict(with_cp=True)),
        # mmdet's config freezes ResNet's stem and first stage and keeps its
        # BN in eval mode; FasterNet trains everything, and so does this.
        'ResNet-50': (RESNET50['mask_rcnn'],
                      dict(frozen_stages=-1, norm_eval=False)),
    }
    steps = {
        label: training_step(str(name), options, args.shape, device)
        for label, (name, options) in configs.items()
    }
    times = time_alternating(steps, args.train_runs, 1, progress)
    rows = []
    for label, (name, backbone_options) in configs.items():
        peak = training_peak_memory(
            str(name), backbone_options, args.shape, str(device))
        rows.append(
            dict(
                model=label,
                ms=median_ms(times[label]),
                peak_mib=None if peak is None else peak / 2**20,
                times_s=times[label]))
        progress.update()
    return rows


def print_inference(rows: List[dict], args, device) -> None:
    fasternet = f'FasterNet-{args.arch.upper()}'
    print(f'\n\n{fasternet} vs ResNet-50 at {args.shape[0]}x{args.shape[1]}'
          f', batch 1, {device} ({torch.get_num_threads()} threads), torch '
          f'{torch.__version__}; median of {args.runs} alternating runs '
          f'after {args.warmup} warm-up runs. Peak: the fastest of '
          f"{fasternet}'s own C->2C 1x1 convs (channels_last), timed in the "
          f'same loop. GFLOPS count one multiply-add as one FLOP. Detectors: '
          f'predict() with post-processing, score threshold 0 (100 '
          f'detections each).')
    print(f'| part | setting | {fasternet} ms | ResNet-50 ms | ratio | '
          f'{fasternet} GFLOPS | ResNet-50 GFLOPS | peak GFLOPS (conv) | '
          f'{fasternet} of peak | {fasternet} error vs first setting |')
    print('|---' * 10 + '|')
    for row in rows:
        ms = row['ms']
        cells = [
            row['part'], row['setting'], f'{ms[fasternet]:.1f}',
            f'{ms["ResNet-50"]:.1f}', f'{ms[fasternet] / ms["ResNet-50"]:.2f}x'
        ]
        if 'gflops' in row:
            g, peak = row['gflops'], row['peak_gflops']
            cells += [
                f'{g[fasternet]:.0f}', f'{g["ResNet-50"]:.0f}',
                f'{peak:.0f} ({row["peak_conv"][len(PEAK_PREFIX):]})',
                f'{100 * g[fasternet] / peak:.0f}%',
                f'{row["max_rel_error_vs_first_setting"]:.1e}'
            ]
        else:
            cells += ['-'] * 5
        print('| ' + ' | '.join(cells) + ' |')
    first = args.settings[0]
    for part in args.parts:
        by_setting = {r['setting']: r for r in rows if r['part'] == part}
        for name, row in by_setting.items():
            if name != first:
                speedup = by_setting[first]['ms'][fasternet] / row['ms'][
                    fasternet]
                print(f'{part}: {fasternet} {name} is {speedup:.2f}x as '
                      f'fast as {first}')


def print_training(rows: List[dict], args) -> None:
    print(f'\nMask R-CNN training step (forward with losses, backward, SGD '
          f'update), {args.shape[0]}x{args.shape[1]}, batch 1, 8 objects; '
          f'median of {args.train_runs} alternating runs; peak memory: what '
          f'two steps need beyond the built model, each model in a fresh '
          f'process')
    print('| model | ms / step | peak memory MiB |')
    print('|---|---|---|')
    for row in rows:
        peak = '-' if row['peak_mib'] is None else f'{row["peak_mib"]:.0f}'
        print(f'| {row["model"]} | {row["ms"]:.0f} | {peak} |')


def plot(rows: List[dict], args, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    labels = [f'{r["part"]}\n{r["setting"]}' for r in rows]
    models = [k for k in rows[0]['ms'] if not k.startswith(PEAK_PREFIX)]
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 4))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        xs = [
            j + (i - (len(models) - 1) / 2) * width for j in range(len(rows))
        ]
        bars = ax.bar(xs, [r['ms'][model] for r in rows], width, label=model)
        ax.bar_label(bars, fmt='%.0f', fontsize=7)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel('ms per image (median)')
    ax.set_title(f'{args.shape[0]}x{args.shape[1]}, batch 1, '
                 f'{platform.processor() or platform.machine()}, '
                 f'{torch.get_num_threads()} threads')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    args = parse_args()
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
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
        print(f'measurements saved to {args.json}')
    if args.plot:
        plot(results['inference'], args, args.plot)
        print(f'bar chart saved to {args.plot}')


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
