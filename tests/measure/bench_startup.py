"""Start-up cost at COCO scale: ours against plain mmdet (not part of CI).

Generates an annotation file shaped like COCO train2017 (``--fraction`` of
its 118,287 images and 860,001 polygon annotations, every ``file_name``
pointing at one small image), then times, in alternating order, two runs
that each load it and train 2 iterations on 2 images:
- ours: ``tools/train.py`` with a COCO config as shipped (preflight checks,
  every safeguard hook, the annotation audit included);
- mmdet: mmdet's own ``tools/train.py`` on the same config with our hooks
  taken out (``custom_hooks=[]``, mmengine's CheckpointHook).
It prints the median wall time and peak memory (max RSS) of each, and the
ratios. Nothing is written outside ``--workdir``; a ``--workdir`` of an
earlier run reuses its annotation file.

    python tests/measure/bench_startup.py --fraction 1.0 --rounds 2
"""
import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from mmdet.datasets import CocoDataset

# tests/, where tool_runner is, as pytest puts it on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tool_runner import CONFIGS, MMDET_TOOLS, TOOLS  # noqa: E402 E501  isort: skip

TRAIN2017_IMAGES, TRAIN2017_ANNOTATIONS = 118287, 860001
# COCO's 80 category ids (1..90 with gaps).
COCO_IDS = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
    23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
    46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64,
    65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88,
    89, 90
]


def write_coco(root: Path, fraction: float) -> None:
    """annotations/instances_train2017.json and train2017/ (one image)."""
    rng = random.Random(0)
    (root / 'annotations').mkdir(parents=True)
    (root / 'train2017').mkdir()
    cv2.imwrite(
        str(root / 'train2017' / 'image.jpg'),
        np.random.default_rng(0).integers(
            0, 255, (480, 640, 3), dtype=np.uint8))
    n_images = int(TRAIN2017_IMAGES * fraction)
    n_anns = int(TRAIN2017_ANNOTATIONS * fraction)
    images = [
        dict(
            id=i + 1,
            file_name='image.jpg',
            width=640,
            height=480,
            license=1,
            date_captured='2013-11-14 16:28:13') for i in range(n_images)
    ]
    annotations = []
    for a in range(n_anns):
        x, y = rng.uniform(0, 500), rng.uniform(0, 350)
        w, h = rng.uniform(20, 140), rng.uniform(20, 130)
        # COCO polygons average about 24 points.
        angles = sorted(rng.uniform(0, 6.283) for _ in range(24))
        polygon = []
        for t in angles:
            polygon += [
                round(x + w / 2 * (1 + np.cos(t)), 2),
                round(y + h / 2 * (1 + np.sin(t)), 2)
            ]
        annotations.append(
            dict(
                id=a + 1,
                image_id=rng.randrange(n_images) + 1,
                category_id=rng.choice(COCO_IDS),
                segmentation=[polygon],
                area=round(w * h * 0.7, 2),
                bbox=[round(v, 2) for v in (x, y, w, h)],
                iscrowd=0))
    categories = [
        dict(id=i, name=name, supercategory='thing')
        for i, name in zip(COCO_IDS, CocoDataset.METAINFO['classes'])
    ]
    (root / 'annotations' / 'instances_train2017.json').write_text(
        json.dumps(
            dict(
                info={},
                licenses=[],
                images=images,
                annotations=annotations,
                categories=categories)))


def command(which: str, data: Path, work: Path) -> list:
    options = [
        f'train_dataloader.dataset.data_root={data}/',
        'train_dataloader.dataset.indices=2', 'train_dataloader.batch_size=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.2.scale=(320,200)',
        'train_cfg.max_epochs=1', 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None', 'model.backbone.init_cfg=None'
    ]
    tool = TOOLS / 'train.py'
    if which == 'mmdet':
        tool = MMDET_TOOLS / 'train.py'
        options += [
            'custom_hooks=[]', 'default_hooks.checkpoint.type=CheckpointHook'
        ]
    return [
        sys.executable, tool, CONFIGS / 'mask_rcnn_fasternet_t0.py',
        '--work-dir', work, '--cfg-options'
    ] + options


# Runs a command in a fresh process and reports its exit status and peak
# RSS (the largest child's, in KiB), and the tail of its output on failure.
MEASURE = """
import resource, subprocess, sys
run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if run.returncode:
    sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(run.returncode, usage.ru_maxrss)
"""


def measure(cmd: list) -> tuple:
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, '-c', MEASURE] + [str(c) for c in cmd],
        capture_output=True,
        text=True)
    seconds = time.perf_counter() - start
    code, kib = map(int, run.stdout.split()[-2:])
    if code != 0:
        raise SystemExit(f'{cmd[1]} failed (exit {code}):\n{run.stderr}')
    return seconds, kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--fraction', type=float, default=1.0)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--workdir', type=Path)
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix='bench_startup_'))
    ann_file = root / 'coco' / 'annotations' / 'instances_train2017.json'
    if not ann_file.is_file():  # a --workdir of an earlier run keeps it
        start = time.perf_counter()
        write_coco(root / 'coco', args.fraction)
        print(f'written in {time.perf_counter() - start:.0f} s')
    print(f'{ann_file}: {ann_file.stat().st_size / 2**20:.0f} MB', flush=True)
    results = {'ours': [], 'mmdet': []}
    for r in range(args.rounds):
        order = ['mmdet', 'ours'] if r % 2 == 0 else ['ours', 'mmdet']
        for which in order:
            seconds, mib = measure(
                command(which, root / 'coco', root / f'work_{which}_{r}'))
            results[which].append((seconds, mib))
            print(
                f'round {r + 1} {which}: {seconds:.1f} s, peak '
                f'{mib:.0f} MiB',
                flush=True)
    med = {
        k: (statistics.median(s
                              for s, _ in v), statistics.median(m
                                                                for _, m in v))
        for k, v in results.items()
    }
    print(f'median: ours {med["ours"][0]:.1f} s / {med["ours"][1]:.0f} MiB, '
          f'mmdet {med["mmdet"][0]:.1f} s / {med["mmdet"][1]:.0f} MiB; '
          f'ratio time {med["ours"][0] / med["mmdet"][0]:.2f}x, peak memory '
          f'{med["ours"][1] / med["mmdet"][1]:.2f}x')


if __name__ == '__main__':
    main()
