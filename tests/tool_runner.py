"""Run the project's tools as a user would: subprocesses in a scratch cwd."""
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / 'tools'
CONFIGS = ROOT / 'configs'
MASK_DEMO = CONFIGS / 'demo' / 'mask_rcnn_fasternet_t0_shapes.py'
RETINA_DEMO = CONFIGS / 'demo' / 'retinanet_fasternet_t0_shapes.py'


def tiny_shapes_options(data_dir: Path, epochs: int = 1) -> List[str]:
    """--cfg-options that shrink a demo config to seconds of work."""
    opts = [
        f'train_cfg.max_epochs={epochs}', 'default_hooks.logger.interval=1'
    ]
    for split, loader, n in (('train', 'train_dataloader',
                              8), ('val', 'val_dataloader', 4),
                             ('val', 'test_dataloader', 4)):
        opts += [
            f'{loader}.dataset.data_root={data_dir / split}/',
            f'{loader}.dataset.num_images={n}',
            f'{loader}.dataset.image_size=128',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
        ]
    ann = data_dir / 'val' / 'annotations.json'
    opts += [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    return opts


def run_tool(args: Sequence[str],
             cwd: Path,
             timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    env.pop('TORCH_FORCE_WEIGHTS_ONLY_LOAD', None)
    cmd = [str(a) for a in args]
    if cmd[0].endswith('.py'):
        cmd = [sys.executable] + cmd
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    return (f'exit {result.returncode}\n--- stdout (tail)\n'
            f'{result.stdout[-3000:]}\n--- stderr (tail)\n'
            f'{result.stderr[-3000:]}')
