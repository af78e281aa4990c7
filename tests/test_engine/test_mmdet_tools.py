"""mmdet's own tools/train.py and tools/test.py (from the installed wheel)
with our configs get every safeguard: they are hooks the configs declare."""

import re
from typing import Dict, List

import pytest
import torch
from tool_runner import (MASK_DEMO, MMDET_TOOLS, describe,
                         kill_9_after_first_checkpoint,
                         resumable_train_command, run_tool,
                         tiny_shapes_options)

from mmdet_fasternet.checkpoint_files import checkpoint_problem

# Each safeguard and a stage of the Runner where it acts.
SAFEGUARDS = dict(
    AtomicCheckpointHook='after_train_epoch',
    NonFiniteLossHook='after_train_iter',
    EpochSeedHook='before_train_epoch',
    DegeneratePolygonsHook='before_test',
    MetricsSummaryHook='after_train')
# What a checkpoint save killed before this run would have left.
STALE = '.epoch_2.pth.0123456789abcdef.tmp'


def mmdet_train(work, data, *extra):
    return resumable_train_command(MMDET_TOOLS / 'train.py', work, data,
                                   *extra)


def weights(path):
    return torch.load(path, weights_only=True)['state_dict']


def hooks_by_stage(log: str) -> Dict[str, List[str]]:
    """The hooks the Runner holds, by stage, from the table it logs (the
    config it also logs names every hook, held or not)."""
    table = log.split('Hooks will be executed in the following order:', 1)[1]
    stages: Dict[str, List[str]] = {}
    for stage, lines in re.findall(r'^(\w+):\n((?:\(.*\n)+) -+ ', table, re.M):
        stages.setdefault(stage, re.findall(r'^\(\w+ *\) (\w+)', lines, re.M))
    return stages


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp('mmdet_train')
    (root / 'work').mkdir()
    (root / 'work' / STALE).write_bytes(b'partial')
    result = run_tool(mmdet_train(root / 'work', root / 'data'), root)
    assert result.returncode == 0, describe(result)
    return root, result


@pytest.mark.e2e
def test_mmdet_train_runs_every_safeguard(uninterrupted):
    root, result = uninterrupted
    log = result.stdout + result.stderr
    held = hooks_by_stage(log)  # mmengine's table of hooks
    for hook, stage in SAFEGUARDS.items():
        assert hook in held[stage], hook
    # What they did in this run: their own lines, and the atomic saves
    # cleared the leftover of a killed save.
    assert 'the training data workers restart every epoch' in log
    assert f"checkpoints and logs: {root / 'work'}" in result.stdout
    assert not list((root / 'work').glob('.*.tmp'))


@pytest.mark.e2e
def test_mmdet_train_kill_9_and_resume_equals_uninterrupted(
        uninterrupted, tmp_path):
    root, _ = uninterrupted
    work = tmp_path / 'work'
    kill_9_after_first_checkpoint(
        mmdet_train(work, root / 'data'), tmp_path, work)
    assert checkpoint_problem(str(work / 'epoch_1.pth')) is None
    assert not (work / 'epoch_2.pth').exists()

    result = run_tool(mmdet_train(work, root / 'data', '--resume'), tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    expected = weights(root / 'work' / 'epoch_2.pth')
    resumed = weights(work / 'epoch_2.pth')
    assert expected.keys() == resumed.keys()
    assert not [
        k for k in expected if not torch.equal(expected[k], resumed[k])
    ]


@pytest.mark.e2e
def test_mmdet_train_stops_a_diverging_run(uninterrupted, tmp_path):
    root, _ = uninterrupted
    work = tmp_path / 'work'
    command = mmdet_train(work, root / 'data') + [
        'optim_wrapper.optimizer.lr=1e30', 'optim_wrapper.clip_grad=None',
        'train_cfg.max_epochs=4'
    ]
    result = run_tool(command, tmp_path)
    assert result.returncode != 0, describe(result)
    assert 'TrainingError: training stopped at epoch' in result.stderr
    assert 'a non-finite' in result.stderr
    for path in work.glob('*.pth'):
        assert all(
            torch.isfinite(t).all() for t in weights(path).values()
            if t.is_floating_point()), path


@pytest.mark.e2e
def test_mmdet_test_prints_the_closing_metrics(uninterrupted, tmp_path):
    root, _ = uninterrupted
    data = root / 'data'
    opts = tiny_shapes_options(data, input_size=64)
    result = run_tool([
        MMDET_TOOLS / 'test.py', MASK_DEMO, root / 'work' / 'epoch_2.pth',
        '--work-dir', tmp_path / 'eval', '--cfg-options'
    ] + opts, tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'test results: ' in result.stdout
