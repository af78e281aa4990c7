"""Run the project's tools as a user would: subprocesses in a scratch cwd,
or in this process what the tool's one call into the package runs."""
import argparse
import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmdet
import torch
from mmengine.config import Config

from mmdet_fasternet.apis.cli import add_common_arguments, run_cli
from mmdet_fasternet.config_files import load_model_config
from mmdet_fasternet.models.build import build_detector

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / 'tools'
CONFIGS = ROOT / 'configs'
MASK_DEMO = CONFIGS / 'demo' / 'mask_rcnn_fasternet_t0_shapes.py'
RETINA_DEMO = CONFIGS / 'demo' / 'retinanet_fasternet_t0_shapes.py'
# mmdet's own tools, as shipped in its wheel (what `mim train mmdet` runs).
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'


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


def resumable_train_command(train_py: Path, work: Path, data: Path, *extra:
                            str) -> List:
    """The demo with ``train_py`` (ours or mmdet's): 2 deterministic epochs
    of 1 iteration, with the demo's persistent data worker."""
    opts = tiny_shapes_options(
        data,
        epochs=2,
        validate=False,
        input_size=64,
        num_workers=1,
        train_images=4)
    return [train_py, MASK_DEMO, '--work-dir', work, *extra, '--cfg-options'
            ] + opts + ['randomness.seed=0', 'randomness.deterministic=True']


def _command(
        args: Sequence[str],
        warnings: Optional[str] = 'ignore'
) -> Tuple[List[str], Dict[str, str]]:
    env = dict(os.environ, PYTHONWARNINGS=warnings or '')
    if warnings is None:
        del env['PYTHONWARNINGS']
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    env.pop('TORCH_FORCE_WEIGHTS_ONLY_LOAD', None)
    cmd = [str(a) for a in args]
    if cmd[0].endswith('.py'):
        cmd = [sys.executable] + cmd
    return cmd, env


def run_tool(
        args: Sequence[str],
        cwd: Path,
        timeout: int = 600,
        warnings: Optional[str] = 'ignore') -> subprocess.CompletedProcess:
    """``warnings``: the PYTHONWARNINGS the tool runs under; None: Python's
    defaults, as a user's shell has them."""
    cmd, env = _command(args, warnings)
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def start_tool(args: Sequence[str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start a tool without waiting (to kill it); its output goes to log."""
    cmd, env = _command(args)
    with open(log, 'w') as out:
        return subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def kill_9_after_first_checkpoint(command: Sequence, cwd: Path,
                                  work: Path) -> None:
    """Start a training run and ``kill -9`` it as soon as its first
    checkpoint is recorded (in the middle of the next epoch)."""
    log = cwd / 'killed.log'
    proc = start_tool(command, cwd, log)
    deadline = time.time() + 300
    while not (work / 'last_checkpoint').exists():
        assert proc.poll() is None, log.read_text()
        assert time.time() < deadline
        time.sleep(0.02)
    assert proc.poll() is None, log.read_text()
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def call(tool: Callable[[Namespace], None], **options) -> int:
    """Run what a tool runs, in this process, as its command line would:
    paths as strings, a user error as ``error: ...`` and exit status 1."""
    args = Namespace(**{
        k: str(v) if isinstance(v, Path) else v
        for k, v in options.items()
    })
    return run_cli(lambda: tool(args))


def one_line(tool: Callable, **options) -> str:
    """What a tool prints for a user error, in this process: the one
    ``error:`` line (exit status 1, no traceback)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = call(tool, **options)
    errors = [line for line in err.getvalue().splitlines() if line.strip()]
    assert status == 1 and errors and errors[-1].startswith('error: '), \
        err.getvalue()
    assert len([e for e in errors if e.startswith('error: ')]) == 1
    return errors[-1]


def parse_cfg_options(*opts: str) -> Optional[dict]:
    """``--cfg-options OPTS`` as the tools parse it."""
    parser = argparse.ArgumentParser()
    add_common_arguments(parser)
    return parser.parse_args(
        ['--cfg-options', *opts] if opts else []).cfg_options


def common_options(*opts: str) -> dict:
    """The options tools/train.py and tools/test.py share."""
    return dict(
        cfg_options=parse_cfg_options(*opts), launcher='none', local_rank=0)


def train_options(config: Path,
                  work_dir: Path,
                  *opts: str,
                  resume: Optional[str] = None) -> dict:
    """tools/train.py's options: CONFIG --work-dir DIR --cfg-options OPTS."""
    return dict(
        common_options(*opts),
        config=config,
        work_dir=work_dir,
        amp=False,
        auto_scale_lr=False,
        resume=resume)


def eval_options(config: Path,
                 checkpoint: Path,
                 *opts: str,
                 work_dir: Optional[Path] = None) -> dict:
    """tools/test.py's options: CONFIG CHECKPOINT --cfg-options OPTS."""
    return dict(
        common_options(*opts),
        config=config,
        checkpoint=checkpoint,
        work_dir=work_dir,
        out=None,
        show_dir=None,
        deploy=False)


def many_detections(config: Path) -> torch.nn.Module:
    """A detector with fresh weights whose score threshold lets every
    candidate through, so that NMS and the top-k decide what is kept."""
    torch.manual_seed(0)
    cfg = load_model_config(str(config))
    test_cfg = cfg.model.test_cfg
    (test_cfg.rcnn if 'rcnn' in test_cfg else test_cfg).score_thr = 0.0
    return build_detector(cfg).eval()


def metric_lines(output: str) -> dict:
    """``coco/bbox_mAP: 0.1230`` and its kin, by name."""
    found = {}
    for line in output.splitlines():
        for part in line.split(' - ')[-1].split('  '):
            if part.startswith('coco/') and ':' in part:
                name, value = part.split(':', 1)
                found[name.strip()] = float(value)
    return found


def describe(result: subprocess.CompletedProcess) -> str:
    return (f'exit {result.returncode}\n--- stdout (tail)\n'
            f'{result.stdout[-3000:]}\n--- stderr (tail)\n'
            f'{result.stderr[-3000:]}')
