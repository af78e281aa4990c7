"""Run the project's tools as a user would: processes in a scratch cwd
(tools/*.py forked from a warm interpreter, ``tool_zygote``), or in this
process what the tool's one call into the package runs."""
import atexit
import contextlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmdet
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

from mmdet_fasternet.apis.benchmark import benchmark, benchmark_parser
from mmdet_fasternet.apis.cli import run_cli
from mmdet_fasternet.apis.convert import convert, convert_parser
from mmdet_fasternet.apis.curves import curves_parser, plot_curves
from mmdet_fasternet.apis.dataset_config import (dataset_config_parser,
                                                 write_dataset_config)
from mmdet_fasternet.apis.export_tools import (export_onnx_from_args,
                                               export_onnx_parser,
                                               export_openvino_from_args,
                                               export_openvino_parser)
from mmdet_fasternet.apis.flops import flops_parser, get_flops
from mmdet_fasternet.apis.inference import demo, demo_parser
from mmdet_fasternet.apis.runner import (evaluate, evaluate_parser, train,
                                         train_parser)
from mmdet_fasternet.config_files import load_model_config
from mmdet_fasternet.datasets.shapes import SHAPE_CLASSES
from mmdet_fasternet.deploy.exported_detector import use_exported_file
from mmdet_fasternet.models.build import build_detector

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / 'tools'
CONFIGS = ROOT / 'configs'
MASK_DEMO = CONFIGS / 'demo' / 'mask_rcnn_fasternet_t0_shapes.py'
RETINA_DEMO = CONFIGS / 'demo' / 'retinanet_fasternet_t0_shapes.py'
# mmdet's own tools, as shipped in its wheel (what `mim train mmdet` runs).
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
ZYGOTE = Path(__file__).with_name('tool_zygote.py')


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


class Zygote:
    """A ``tool_zygote`` process: forks a run of one of tools/*.py with
    torch and mmdet already imported (the seconds each start would take)."""

    def __init__(self, env: Dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, ZYGOTE],
                                        cwd=ROOT,
                                        env=env,
                                        stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE,
                                        text=True)
        self.pending = b''

    def _answer(self, deadline: float) -> dict:
        """The next reply line, waiting until ``deadline`` at most."""
        fd = self.process.stdout.fileno()
        while b'\n' not in self.pending:
            wait = max(deadline - time.time(), 0)
            if not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(fd, 4096)
            assert chunk, f'tool_zygote ended (exit {self.process.wait()})'
            self.pending += chunk
        line, self.pending = self.pending.split(b'\n', 1)
        return json.loads(line)

    def run(self, cmd: List[str], cwd: Path, env: Dict[str, str],
            timeout: int) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory() as folder:
            outputs = [Path(folder) / name for name in ('stdout', 'stderr')]
            for path in outputs:
                path.touch()
            request = dict(
                argv=cmd[1:],
                cwd=str(cwd),
                env=env,
                stdout=str(outputs[0]),
                stderr=str(outputs[1]))
            self.process.stdin.write(json.dumps(request) + '\n')
            self.process.stdin.flush()
            deadline = time.time() + timeout
            pid = self._answer(deadline)['pid']
            try:
                status = self._answer(deadline)['returncode']
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._answer(time.time() + 60)
                raise subprocess.TimeoutExpired(cmd, timeout)
            return subprocess.CompletedProcess(
                cmd, status, *(path.read_text() for path in outputs))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


# One zygote per environment (a test's own variables get their own),
# the most recently used kept.
ZYGOTES: Dict[Tuple[Tuple[str, str], ...], Zygote] = {}
ZYGOTES_KEPT = 2


def _zygote(env: Dict[str, str]) -> Zygote:
    key = tuple(
        sorted((k, v) for k, v in env.items() if k != 'PYTEST_CURRENT_TEST'))
    zygote = ZYGOTES.pop(key, None) or Zygote(env)
    ZYGOTES[key] = zygote
    while len(ZYGOTES) > ZYGOTES_KEPT:
        ZYGOTES.pop(next(iter(ZYGOTES))).close()
    return zygote


atexit.register(lambda: [z.close() for z in ZYGOTES.values()])


def run_tool(
        args: Sequence[str],
        cwd: Path,
        timeout: int = 600,
        warnings: Optional[str] = 'ignore') -> subprocess.CompletedProcess:
    """``warnings``: the PYTHONWARNINGS the tool runs under; None: Python's
    defaults, as a user's shell has them. tools/*.py with warnings ignored
    run as forks of a ``Zygote``; anything else, and what checks what a
    user sees (import-time warnings included), as a new process."""
    cmd, env = _command(args, warnings)
    if (warnings == 'ignore' and cmd[0] == sys.executable
            and Path(cmd[1]).parent == TOOLS):
        return _zygote(env).run(cmd, cwd, env, timeout)
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


# Each tool's one call and its parser, paired as in tools/*.py.
PARSERS = {
    benchmark: benchmark_parser,
    convert: convert_parser,
    demo: demo_parser,
    evaluate: evaluate_parser,
    export_onnx_from_args: export_onnx_parser,
    export_openvino_from_args: export_openvino_parser,
    get_flops: flops_parser,
    plot_curves: curves_parser,
    train: train_parser,
    write_dataset_config: dataset_config_parser,
}


def command_line(*argv, **options) -> List[str]:
    """``argv``, then ``options`` as the command line writes them:
    ``out_dir=X`` is ``--out-dir X``, True a flag alone, False and None
    leave the option out, a list or tuple gives several values."""
    words = list(argv)
    for name, value in options.items():
        if value is None or value is False:
            continue
        words.append('--' + name.replace('_', '-'))
        if isinstance(value, (list, tuple)):
            words += value
        elif value is not True:
            words.append(value)
    return [str(w) for w in words]


def parse(tool: Callable[[Namespace], None], *argv, **options) -> Namespace:
    """The command line (``command_line``) as ``tool``'s own parser reads
    it."""
    return PARSERS[tool]().parse_args(command_line(*argv, **options))


def call(tool: Callable[[Namespace], None], *argv, **options) -> int:
    """Run a tool in this process as tools/*.py does: the command line
    (``command_line``) read by the tool's own parser, a user error as
    ``error: ...`` and exit status 1."""
    return run_cli(tool, PARSERS[tool](), command_line(*argv, **options))


def one_line(tool: Callable, *argv, **options) -> str:
    """What a tool prints for a user error, in this process: the one
    ``error:`` line (exit status 1, no traceback)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = call(tool, *argv, **options)
    errors = [line for line in err.getvalue().splitlines() if line.strip()]
    assert status == 1 and errors and errors[-1].startswith('error: '), \
        err.getvalue()
    assert len([e for e in errors if e.startswith('error: ')]) == 1
    return errors[-1]


def parse_cfg_options(*opts: str) -> Optional[dict]:
    """``--cfg-options OPTS`` as the tools parse it."""
    return parse(train, 'config.py', cfg_options=opts or None).cfg_options


def train_options(config: Path,
                  work_dir: Path,
                  *opts: str,
                  resume: Optional[str] = None) -> List[str]:
    """tools/train.py's command line: CONFIG --work-dir DIR [--resume PATH]
    --cfg-options OPTS."""
    return command_line(
        config, work_dir=work_dir, resume=resume, cfg_options=opts or None)


def eval_options(config: Path,
                 checkpoint: Path,
                 *opts: str,
                 work_dir: Optional[Path] = None) -> List[str]:
    """tools/test.py's command line: CONFIG CHECKPOINT [--work-dir DIR]
    --cfg-options OPTS."""
    return command_line(
        config, checkpoint, work_dir=work_dir, cfg_options=opts or None)


def many_detections(config: Path) -> torch.nn.Module:
    """A detector with fresh weights whose score threshold lets every
    candidate through, so that NMS and the top-k decide what is kept."""
    torch.manual_seed(0)
    cfg = load_model_config(str(config))
    test_cfg = cfg.model.test_cfg
    (test_cfg.rcnn if 'rcnn' in test_cfg else test_cfg).score_thr = 0.0
    return build_detector(cfg).eval()


def exported_detector(path: Path, config: Path, **options) -> torch.nn.Module:
    """What tools/test.py puts in ``config``'s place for the exported
    ``path`` (``use_exported_file``), for the shapes' classes, which the
    tests' files record; ``options``: how to open it (threads, options:
    ``ExportedDetector``)."""
    cfg = load_model_config(str(config))
    use_exported_file(cfg, str(path))
    cfg.model.update(classes=list(SHAPE_CLASSES), **options)
    return MODELS.build(cfg.model)


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
