"""Run the project's tools as a user would: subprocesses in a scratch cwd."""
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / 'tools'
CONFIGS = ROOT / 'configs'
MASK_DEMO = CONFIGS / 'demo' / 'mask_rcnn_fasternet_t0_shapes.py'
RETINA_DEMO = CONFIGS / 'demo' / 'retinanet_fasternet_t0_shapes.py'


def tiny_shapes_options(data_dir: Path,
                        epochs: int = 1,
                        validate: bool = True,
                        input_size: Optional[int] = None,
                        num_workers: int = 0,
                        train_images: int = 8) -> List[str]:
    """--cfg-options that shrink a demo config to seconds of work.

    ``validate=False`` drops validation; ``input_size`` resizes the inputs
    (the demo's 256) too; ``num_workers`` > 0 keeps the demo's persistent
    data workers; the demo's batch is 4 images.
    """
    opts = [
        f'train_cfg.max_epochs={epochs}', 'default_hooks.logger.interval=1'
    ]
    loaders = [('train', 'train_dataloader', train_images)]
    if validate:
        loaders += [('val', 'val_dataloader', 4),
                    ('val', 'test_dataloader', 4)]
    else:
        opts += ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
    demo = Config.fromfile(MASK_DEMO) if input_size else None
    for split, loader, n in loaders:
        opts += [
            f'{loader}.dataset.data_root={data_dir / split}/',
            f'{loader}.dataset.num_images={n}',
            f'{loader}.dataset.image_size=128',
            f'{loader}.num_workers={num_workers}',
            f'{loader}.persistent_workers={num_workers > 0}',
        ]
        if demo:
            pipeline = demo[loader].dataset.pipeline
            i = [t['type'] for t in pipeline].index('Resize')
            opts.append(f'{loader}.dataset.pipeline.{i}.scale='
                        f'({input_size},{input_size})')
    if validate:
        ann = data_dir / 'val' / 'annotations.json'
        opts += [
            f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'
        ]
    return opts


def _command(args: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    env.pop('TORCH_FORCE_WEIGHTS_ONLY_LOAD', None)
    cmd = [str(a) for a in args]
    if cmd[0].endswith('.py'):
        cmd = [sys.executable] + cmd
    return cmd, env


def run_tool(args: Sequence[str],
             cwd: Path,
             timeout: int = 600) -> subprocess.CompletedProcess:
    cmd, env = _command(args)
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def start_tool(args: Sequence[str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start a tool without waiting (to kill it); its output goes to log."""
    cmd, env = _command(args)
    with open(log, 'w') as out:
        return subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def describe(result: subprocess.CompletedProcess) -> str:
    return (f'exit {result.returncode}\n--- stdout (tail)\n'
            f'{result.stdout[-3000:]}\n--- stderr (tail)\n'
            f'{result.stderr[-3000:]}')
