"""tools/plot_curves.py: a training run's loss and mAP curves as a PNG.

Reads the scalars mmengine logs while training,
``WORK_DIR/<timestamp>/vis_data/scalars.json``. Each start of
``tools/train.py`` (``--resume`` included) adds a timestamp folder; they are
merged in time order, and where a later start repeats steps (resumed from an
older checkpoint) its records replace the earlier ones.
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Tuple

from matplotlib.figure import Figure

from ..errors import ToolError, refuse_overwrite

Record = Dict[str, float]
SCALARS = osp.join('vis_data', 'scalars.json')


def find_scalar_logs(work_dir: str) -> List[str]:
    """The run's scalars.json files, oldest start first (timestamps sort
    chronologically); ``work_dir`` may also be one timestamp folder."""
    if not osp.isdir(work_dir):
        raise ToolError(f'work dir {work_dir!r} does not exist.')
    own = osp.join(work_dir, SCALARS)
    found = sorted(glob.glob(osp.join(glob.escape(work_dir), '*', SCALARS)))
    found = found or ([own] if osp.isfile(own) else [])
    if not found:
        raise ToolError(
            f'no logged scalars under {work_dir!r}: expected '
            f'{osp.join(work_dir, "<timestamp>", SCALARS)}, which mmengine '
            f'writes while training. Is it the --work-dir of a training run?')
    return found


def read_records(path: str) -> Tuple[List[Record], int]:
    """The JSON records of one scalars.json and the number of lines that
    were not JSON (a run killed mid-write leaves half a line)."""
    records, bad = [], 0
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                bad += line.strip() != ''
    return records, bad


def merge_runs(runs: List[List[Record]]) -> List[Record]:
    """One series from several starts: each start's records replace the
    earlier ones from its first step on."""
    merged: List[Record] = []
    for records in runs:
        if records:
            first = records[0]['step']
            merged = [r for r in merged if r['step'] < first] + records
    return merged


def is_train(record: Record) -> bool:
    return any(k.startswith('loss') for k in record)


def is_val(record: Record) -> bool:
    return any(k.endswith('mAP') for k in record)  # 'coco/bbox_mAP', ...


def plot(train: List[Record], val: List[Record], title: str, out: str) -> None:
    """Losses against iterations; validation mAPs against their step."""
    panels = 2 if val else 1
    fig = Figure(figsize=(5 * panels, 4), dpi=100)  # no pyplot: no display
    axes = fig.subplots(1, panels, squeeze=False)[0]
    loss_keys = sorted({k for r in train for k in r if k.startswith('loss')})
    for key in loss_keys:
        points = [(r['step'], r[key]) for r in train if key in r]
        axes[0].plot(*zip(*points), label=key, lw=2 if key == 'loss' else 1)
    if all(r[k] > 0 for r in train for k in loss_keys if k in r):
        axes[0].set_yscale('log')
    axes[0].set(xlabel='iteration', ylabel='loss', title='training loss')
    if val:
        by_epoch = 'epoch' in train[-1]
        map_keys = sorted({k for r in val for k in r if k.endswith('mAP')})
        for key in map_keys:
            points = [(r['step'], r[key]) for r in val if key in r]
            axes[1].plot(*zip(*points), marker='o', label=key)
        last = train[-1]['epoch' if by_epoch else 'step']
        axes[1].set(
            xlabel='epoch' if by_epoch else 'iteration',
            ylabel='mAP',
            title='validation',
            xlim=(0, max(last, val[-1]['step']) * 1.05),
            ylim=(0, 1))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)


def plot_curves(args: argparse.Namespace) -> None:
    """tools/plot_curves.py: draw the run in ``args.work_dir`` to
    ``args.out`` (default: ``WORK_DIR/curves.png``, redrawn each time)."""
    out = args.out or osp.join(args.work_dir, 'curves.png')
    if not out.lower().endswith('.png'):
        raise ToolError(f'--out must end with .png, got {out!r}.')
    if args.out:
        refuse_overwrite(out, '--out', args.force)
    if not osp.isdir(osp.dirname(osp.abspath(out))):
        raise ToolError(f'--out {out!r}: folder '
                        f'{osp.dirname(osp.abspath(out))!r} does not exist.')
    logs = find_scalar_logs(args.work_dir)
    runs = []
    for path in logs:
        records, bad = read_records(path)
        if bad:
            print(f'{path}: skipped {bad} lines that are not JSON')
        runs.append(records)
    train = merge_runs([[r for r in run if is_train(r)] for run in runs])
    val = merge_runs([[r for r in run if is_val(r)] for run in runs])
    if not train:
        raise ToolError(f'{", ".join(logs)} hold no training losses.')
    title = osp.basename(osp.normpath(args.work_dir))
    plot(train, val, title, out)
    summary = (f'{len(logs)} log(s), {train[-1]["step"]} iterations, loss '
               f'{train[0]["loss"]:.3f} -> {train[-1]["loss"]:.3f}')
    if val:
        last = val[-1]
        summary += ''.join(f'; {k} {v:.3f}' for k, v in last.items()
                           if k.endswith('mAP'))
    print(f'{summary}\nwrote {out}')


def curves_parser() -> argparse.ArgumentParser:
    """tools/plot_curves.py's command line."""
    parser = argparse.ArgumentParser(
        description="Plot a training run's loss and mAP curves to a PNG.")
    parser.add_argument('work_dir', help='the --work-dir of a training run')
    parser.add_argument(
        '--out',
        help='PNG to write (default: WORK_DIR/curves.png, redrawn each time)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite an existing --out file')
    return parser
