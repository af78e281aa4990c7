"""How the measurements are reported: the tables, the bar chart, JSON."""
import argparse
import json
from typing import List

import torch

from ...cpu import cpu_description
from ...deploy.precisions import lacks_clause
from ...deploy.time_breakdown import TIME_PARTS
from .timing import PEAK_PREFIX


def print_inference(rows: List[dict], args: argparse.Namespace,
                    device: torch.device) -> None:
    fasternet = f'FasterNet-{args.arch.upper()}'
    where = cpu_description() if device.type == 'cpu' else str(device)
    print(f'\n\n{fasternet} vs ResNet-50 at {args.shape[0]}x{args.shape[1]}'
          f', batch 1, {where} ({torch.get_num_threads()} threads), torch '
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
                      f'fast as {first} ({1 / speedup:.2f}x the time)')
    print_precisions(rows)
    print_breakdown(rows)


def print_precisions(rows: List[dict]) -> None:
    """What a runtime that chooses per CPU (OpenVINO) ran each model in,
    and what the CPU lacks for the setting's precision to pay."""
    for row in rows:
        if 'precisions' not in row:
            continue
        ran = ', '.join(f'{label} with {layers}'
                        for label, layers in row['precisions'].items())
        precision = row['setting'].rpartition('-')[2]  # openvino-int8
        print(f'{row["part"]} {row["setting"]}: OpenVINO ran {ran}'
              f'{lacks_clause(precision)}')


def print_breakdown(rows: List[dict]) -> None:
    rows = [r for r in rows if 'breakdown_ms' in r]
    if not rows:
        return
    runs = len(next(iter(rows[0]['times_s'].values())))
    print(f'\nWhere the time goes, ms (mean of the profiled runs after '
          f'the {runs} timed ones): heads include RoIAlign; post-processing '
          f'is the rest of the measured time: decoding, NMS, top-k, pasting '
          f'masks, and the framework\'s overhead (where a runtime\'s node '
          f'times overlap and add up to more, all are scaled to the total).')
    print('| part | setting | model | ' + ' | '.join(TIME_PARTS) +
          ' | total |')
    print('|---' * (4 + len(TIME_PARTS)) + '|')
    for row in rows:
        for label, spent in row['breakdown_ms'].items():
            cells = [row['part'], row['setting'], label]
            cells += [f'{spent[k]:.0f}' for k in TIME_PARTS + ('total', )]
            print('| ' + ' | '.join(cells) + ' |')


def print_training(rows: List[dict], args: argparse.Namespace) -> None:
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


def plot(rows: List[dict], args: argparse.Namespace, path: str) -> None:
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
                 f'{cpu_description()}, '
                 f'{torch.get_num_threads()} threads')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_json(results: dict, path: str) -> None:
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
