"""Faults, bad inputs and resume without losing anything (issue 6).

The end-to-end tests run the real tools/train.py and tools/test.py on tiny
data (64-pixel inputs, two iterations an epoch); the unit tests pin the
pieces the tools rely on.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import save_checkpoint
from tool_runner import (MASK_DEMO, ROOT, TOOLS, describe,
                         kill_9_after_first_checkpoint,
                         resumable_train_command, run_tool,
                         tiny_shapes_options)

from mmdet_fasternet.apis.runner import apply_resume
from mmdet_fasternet.checkpoint_files import (checkpoint_problem,
                                              latest_complete_checkpoint)
from mmdet_fasternet.engine.hooks import EpochSeedHook, NonFiniteLossHook
from mmdet_fasternet.engine.hooks.atomic_checkpoint_hook import (
    ATOMIC_BACKEND, AtomicCheckpointHook, AtomicLocalBackend)
from mmdet_fasternet.errors import CheckpointError, ToolError, TrainingError
from mmdet_fasternet.patches.mmengine import ConfigOptionsAction

# Paths with a space and both quotes: the tools take them without a shell.
ODD_NAME = 'it\'s a "dir"'


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def truncated_copy(src: Path, dst: Path) -> Path:
    """What a kill halfway through a non-atomic save leaves behind."""
    data = src.read_bytes()
    dst.write_bytes(data[:len(data) // 2])
    return dst


def _checkpoint(path: Path) -> Path:
    torch.save({'state_dict': {'w': torch.ones(3)}}, path)
    return path


def train_command(work: Path, data: Path, *extra: str) -> list:
    return resumable_train_command(TOOLS / 'train.py', work, data, *extra)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments:
                          str) -> str:
    assert result.returncode == 1, describe(result)
    assert 'Traceback' not in result.stderr, describe(result)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith('error')]
    assert len(lines) == 1, describe(result)
    for fragment in fragments:
        assert fragment in lines[0], describe(result)
    return lines[0]


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """An uninterrupted deterministic run of 2 epochs (the demo's data
    workers included), its data in a folder with a space and quotes."""
    root = tmp_path_factory.mktemp('reference')
    data, work = root / f'data {ODD_NAME}', root / 'work'
    result = run_tool(train_command(work, data), root)
    assert result.returncode == 0, describe(result)
    # --cfg-options kept the space and the quotes of data_root.
    assert (data / 'train' / 'annotations.json').is_file()
    return SimpleNamespace(root=root, data=data, work=work)


# Faults --------------------------------------------------------------------


@pytest.mark.e2e
def test_kill_9_then_resume_equals_the_uninterrupted_run(reference, tmp_path):
    work = tmp_path / 'work'
    kill_9_after_first_checkpoint(
        train_command(work, reference.data), tmp_path, work)
    assert checkpoint_problem(str(work / 'epoch_1.pth')) is None
    assert not (work / 'epoch_2.pth').exists()
    assert not list(work.glob('.*.tmp'))

    # The same command without --resume would refuse to overwrite the run.
    with pytest.raises(ToolError, match='already holds checkpoints'):
        apply_resume(Config(dict(work_dir=str(work))), None)

    # As if a non-atomic writer had been killed while saving epoch 2.
    cut = truncated_copy(reference.work / 'epoch_2.pth', work / 'epoch_2.pth')
    (work / 'last_checkpoint').write_text(str(cut))
    result = run_tool(
        train_command(work, reference.data, '--resume'), tmp_path)
    assert result.returncode == 0, describe(result)
    log = result.stdout + result.stderr
    assert f"the latest checkpoint '{cut}' is unusable (it is truncated" in log
    assert f"resuming from '{work / 'epoch_1.pth'}'" in log
    assert 'resumed epoch: 1, iter: 1' in log

    expected = torch.load(
        reference.work / 'epoch_2.pth', weights_only=True)['state_dict']
    resumed = torch.load(work / 'epoch_2.pth', weights_only=True)['state_dict']
    assert expected.keys() == resumed.keys()
    differ = [k for k in expected if not torch.equal(expected[k], resumed[k])]
    assert not differ


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_truncated_checkpoint_is_one_line_naming_it(reference, tmp_path, tool):
    cut = truncated_copy(reference.work / 'epoch_1.pth', tmp_path / 'cut.pth')
    args = ['--resume', cut] if tool == 'train.py' else [cut]
    result = run_tool([TOOLS / tool, MASK_DEMO] + args +
                      ['--work-dir', tmp_path / 'work', '--cfg-options'] +
                      tiny_shapes_options(reference.data), tmp_path)
    assert_one_line_error(result, f"'{cut}' cannot be loaded: it is truncated")


def test_truncated_load_from_is_refused_before_anything_is_built(tmp_path):
    cut = truncated_copy(
        _checkpoint(tmp_path / 'good.pth'), tmp_path / 'cut.pth')
    cfg = Config(dict(work_dir=str(tmp_path / 'work'), load_from=str(cut)))
    with pytest.raises(
            CheckpointError,
            match=f"load_from '{cut}' cannot be "
            'loaded: it is truncated'):
        apply_resume(cfg, None)


@pytest.mark.e2e
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
        reference, tmp_path):
    work = tmp_path / 'work'
    shutil.copytree(reference.work, work)
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    digest = sha256(work / 'epoch_2.pth')
    command = train_command(work, reference.data, '--resume') + [
        'train_cfg.max_epochs=3',
        'model.roi_head.bbox_head.loss_cls.loss_weight=nan'
    ]
    result = run_tool(command, tmp_path)
    assert_one_line_error(
        result, 'training stopped at epoch 3, iteration 3: a non-finite '
        'loss', f"The last good checkpoint, '{work / 'epoch_2.pth'}', is "
        f'kept.', 'learning rate')
    assert not (work / 'epoch_3.pth').exists()
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_2.pth')
    assert sha256(work / 'epoch_2.pth') == digest


def test_atomic_put_replaces_whole_files_and_cleans_stale_ones(tmp_path):
    target = tmp_path / 'epoch_1.pth'
    stale = tmp_path / '.epoch_1.pth.dead.tmp'
    stale.write_bytes(b'left by a killed save')
    AtomicLocalBackend().put(b'new', target)
    assert target.read_bytes() == b'new'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_put_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / 'epoch_1.pth'
    target.write_bytes(b'old')

    def crash(fd):
        raise OSError('disk full')

    monkeypatch.setattr('os.fsync', crash)
    with pytest.raises(OSError, match='disk full'):
        AtomicLocalBackend().put(b'new', target)
    assert target.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']


# A disk that takes a minute to sync: the kill lands before the put ends,
# however fast this machine writes.
KILL_MID_WRITE = '''
import os, sys, time
from mmdet_fasternet.engine.hooks.atomic_checkpoint_hook import (
    AtomicLocalBackend)
os.fsync = lambda fd: time.sleep(60)
AtomicLocalBackend().put(b'n' * (200 << 20), sys.argv[1])
'''


def test_kill_9_during_a_put_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / 'epoch_1.pth'
    target.write_bytes(b'old')
    proc = subprocess.Popen(
        [sys.executable, '-c', KILL_MID_WRITE,
         str(target)], cwd=ROOT)
    deadline = time.time() + 60
    while not list(tmp_path.glob('.*.tmp')) and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.001)
    assert proc.poll() is None, 'the put ended before a temporary file showed'
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    # Killed mid-put: the temporary file is left, the target untouched.
    assert len(list(tmp_path.glob('.epoch_1.pth.*.tmp'))) == 1
    assert target.read_bytes() == b'old'
    AtomicLocalBackend().put(b'next', target)  # clears what the kill left
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']


def test_atomic_checkpoint_hook_saves_through_the_atomic_backend(
        tmp_path, monkeypatch):
    runner = SimpleNamespace(
        work_dir=str(tmp_path), logger=MMLogger.get_current_instance())
    hooks = [
        AtomicCheckpointHook(interval=1),
        AtomicCheckpointHook(backend_args={}),
        AtomicCheckpointHook()
    ]
    for hook in hooks[:2]:
        hook.before_train(runner)
    runner.work_dir = 'http://storage.invalid/run'
    hooks[2].before_train(runner)
    assert hooks[0].backend_args == dict(backend=ATOMIC_BACKEND)
    assert hooks[1].backend_args == {}  # the config's own choice
    assert hooks[2].backend_args is None  # not a local folder
    written = []
    monkeypatch.setattr(AtomicLocalBackend, 'put',
                        lambda self, obj, path: written.append(path))
    save_checkpoint({'state_dict': {}},
                    str(tmp_path / 'epoch_1.pth'),
                    backend_args=hooks[0].backend_args)
    assert written == [str(tmp_path / 'epoch_1.pth')]


def test_checkpoint_problem(tmp_path):
    good = _checkpoint(tmp_path / 'good.pth')
    assert checkpoint_problem(str(good)) is None
    assert 'truncated' in checkpoint_problem(
        str(truncated_copy(good, tmp_path / 'cut.pth')))
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert checkpoint_problem(str(tmp_path /
                                  'empty.pth')).startswith('it is empty')
    assert checkpoint_problem(str(tmp_path / 'no.pth')) == 'it does not exist'


def test_resume_picks_the_newest_complete_checkpoint(tmp_path):
    for epoch in (1, 2, 10):
        _checkpoint(tmp_path / f'epoch_{epoch}.pth')
    _checkpoint(tmp_path / 'best_coco_bbox_mAP_epoch_10.pth')
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text(str(tmp_path / 'epoch_10.pth'))
    assert latest_complete_checkpoint(str(tmp_path)) == str(tmp_path /
                                                            'epoch_10.pth')
    truncated_copy(tmp_path / 'epoch_10.pth', tmp_path / 'epoch_10.pth')
    assert latest_complete_checkpoint(str(tmp_path)) == str(tmp_path /
                                                            'epoch_2.pth')
    pointer.write_text('')  # killed while the pointer was written
    assert latest_complete_checkpoint(str(tmp_path)) == str(tmp_path /
                                                            'epoch_2.pth')
    pointer.write_text('work_dirs/elsewhere/epoch_1.pth')  # other cwd
    assert latest_complete_checkpoint(str(tmp_path)) == str(tmp_path /
                                                            'epoch_1.pth')
    for epoch in (1, 2):
        (tmp_path / f'epoch_{epoch}.pth').unlink()
    with pytest.raises(ToolError, match='no checkpoint to resume from'):
        latest_complete_checkpoint(str(tmp_path))


def test_nan_hook_stops_every_non_finite_loss_and_nan_weights(tmp_path):
    runner = SimpleNamespace(
        epoch=1, iter=7, work_dir=str(tmp_path), optim_wrapper=None)
    hook = NonFiniteLossHook()
    hook.after_train_iter(
        runner, 0, outputs=dict(loss=torch.tensor(1.0), acc=torch.tensor(1)))
    for bad in (float('nan'), float('inf')):
        with pytest.raises(
                TrainingError,
                match='epoch 2, iteration 8.*'
                'non-finite loss, loss_cls.*No checkpoint had '
                'been saved yet. Common fixes: a lower learning'):
            hook.after_train_iter(
                runner,
                0,
                outputs=dict(
                    loss=torch.tensor(bad), loss_cls=torch.tensor(bad)))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(
            TrainingError,
            match="refusing to save.*'conv.weight'"
            ".*epoch_1.pth', is kept"):
        hook.before_save_checkpoint(
            runner, dict(state_dict={'conv.weight': torch.tensor([np.nan])}))
    hook.before_save_checkpoint(
        runner, dict(state_dict={'n': torch.tensor([1], dtype=torch.long)}))


def test_nan_hook_lets_the_loss_scaler_skip_isolated_overflows(tmp_path):
    """--amp: a step whose loss overflows is skipped by the scaler and
    passes; a loss that stays non-finite still stops the run."""
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0**16)
    runner = SimpleNamespace(
        epoch=0,
        iter=0,
        work_dir=str(tmp_path),
        model=model,
        optim_wrapper=SimpleNamespace(loss_scaler=scaler))
    hook = NonFiniteLossHook(max_skipped_steps=3)

    def step(overflow: bool) -> None:
        loss = model(torch.ones(2, 4)).sum() * (
            float('inf') if overflow else 1.0)
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped when the gradients are not finite
        scaler.update()
        optimizer.zero_grad()
        hook.after_train_iter(runner, 0, outputs=dict(loss=loss.detach()))
        runner.iter += 1

    for overflow in (False, True, False, True, True, True, False):
        step(overflow)
    assert scaler.get_scale() < 2.0**16
    assert all(torch.isfinite(p).all() for p in model.parameters())
    for _ in range(3):
        step(True)
    with pytest.raises(
            TrainingError,
            match='iteration 11: a non-finite loss .* in 4 iterations in '
            'a row under mixed precision'):
        step(True)
    # Weights gone non-finite: no overflow the scaler could skip.
    hook = NonFiniteLossHook()
    with torch.no_grad():
        model.weight[0, 0] = float('nan')
    with pytest.raises(TrainingError, match='a non-finite loss'):
        step(False)


def test_epoch_seed_hook_depends_only_on_seed_and_epoch():

    def draws(epoch, deterministic=True):
        runner = SimpleNamespace(
            seed=0,
            epoch=epoch,
            deterministic=deterministic,
            train_dataloader=[])
        EpochSeedHook().before_train_epoch(runner)
        return (np.random.rand(), torch.rand(1).item())

    torch.rand(5), np.random.rand(5)  # whatever came before
    first = draws(1)
    assert draws(1) == first and draws(2) != first
    torch.manual_seed(123)
    assert draws(1, deterministic=False) != first


def test_epoch_seed_hook_restarts_persistent_workers():
    loader = torch.utils.data.DataLoader(
        list(range(4)), num_workers=1, persistent_workers=True)
    list(loader)
    workers = loader._iterator._workers
    assert all(w.is_alive() for w in workers)
    runner = SimpleNamespace(
        seed=0, epoch=1, deterministic=True, train_dataloader=loader)
    EpochSeedHook().before_train_epoch(runner)
    assert not any(w.is_alive() for w in workers)
    assert list(loader) == [torch.tensor([i]) for i in range(4)]


# Bad inputs ----------------------------------------------------------------

CLASSES = ('circle', 'square', 'triangle', 'star')


def _square(x, y, s, cat=1):
    return dict(
        bbox=[x, y, s, s],
        area=s * s,
        category_id=cat,
        iscrowd=0,
        segmentation=[[x, y, x + s, y, x + s, y + s, x, y + s]])


def write_odd_coco(root: Path,
                   corrupt: bool = False,
                   unknown_category: bool = False) -> Path:
    """A COCO dataset of awkward images and annotations."""
    (root / 'images').mkdir(parents=True)
    rng = np.random.default_rng(0)

    def rgb(h, w):
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    images = [  # name, pixels, annotations
        ('rgb.jpg', rgb(96,
                        128), [_square(10, 10, 40),
                               _square(60, 30, 30, 2)]),
        ('gray.png', rgb(96, 96)[..., 0], [_square(20, 20, 50, 3)]),
        ('rgba.png', np.dstack([rgb(80, 80),
                                np.full((80, 80), 128,
                                        np.uint8)]), [_square(5, 5, 60, 4)]),
        ('deep16.png', rng.integers(0, 65535, (64, 64, 3),
                                    dtype=np.uint16), [_square(8, 8, 40, 1)]),
        ('tiny.png', rgb(8, 8), [_square(1, 1, 6, 2)]),
        ('wide.png', rgb(100, 4000), [_square(100, 10, 80, 3)]),
        ('empty.png', rgb(64, 64), []),
        (
            'skips.png',
            rgb(64, 64),
            [
                _square(10, 10, 30, 1),
                dict(_square(5, 5, 0, 2), bbox=[5, 5, 0, 10]),  # zero width
                dict(_square(5, 5, 10, 2), bbox=[70, 70, 10, 10]),  # outside
                dict(_square(20, 20, 20, 3), segmentation=[[20, 20, 40, 40]]),
            ]),
    ]
    coco = dict(
        images=[],
        annotations=[],
        categories=[
            dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)
        ])
    for image_id, (name, pixels, anns) in enumerate(images, 1):
        assert cv2.imwrite(str(root / 'images' / name), pixels)
        h, w = pixels.shape[:2]
        coco['images'].append(
            dict(id=image_id, file_name=name, width=w, height=h))
        for ann in anns:
            coco['annotations'].append(
                dict(ann, id=len(coco['annotations']) + 1, image_id=image_id))
    if corrupt:
        (root / 'images' / 'rgb.jpg').write_bytes(b'not an image at all')
    if unknown_category:
        coco['annotations'][0]['category_id'] = 99
    (root / 'annotations.json').write_text(json.dumps(coco))
    return root


ODD_CONFIG = '''_base_ = {demo!r}
data_root = {root!r}
__ds = dict(
    _delete_=True, type='AuditedCocoDataset', data_root=data_root,
    ann_file='annotations.json', data_prefix=dict(img='images/'),
    metainfo=dict(classes={classes!r}))
__small = [dict(t, scale=(64, 64)) if t['type'] == 'Resize' else t
           for t in _base_.train_pipeline]
__small_test = [dict(t, scale=(64, 64)) if t['type'] == 'Resize' else t
                for t in _base_.test_pipeline]
train_dataloader = dict(num_workers={workers}, persistent_workers=False,
    dataset=dict(**__ds, filter_cfg=dict(filter_empty_gt=False),
                 pipeline=__small))
test_dataloader = dict(num_workers=0, persistent_workers=False,
    dataset=dict(**__ds, test_mode=True, pipeline=__small_test))
test_evaluator = dict(ann_file=data_root + 'annotations.json')
val_cfg = None
val_dataloader = None
val_evaluator = None
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
model = dict(test_cfg=dict(rcnn=dict(score_thr=0.0)))
'''


def odd_config(tmp_path: Path, data: Path, workers: int = 0) -> Path:
    folder = tmp_path / f'config {ODD_NAME}'
    folder.mkdir()
    config = folder / 'odd.py'
    config.write_text(
        ODD_CONFIG.format(
            demo=str(MASK_DEMO),
            root=f'{data}/',
            classes=CLASSES,
            workers=workers))
    return config


@pytest.mark.e2e
def test_odd_images_and_annotations_train_and_test(tmp_path):
    """Grayscale, RGBA, 16-bit, 8x8, 4000x100 and unannotated images train
    (empty ones are not filtered out here) and evaluate;
    zero-area boxes and degenerate polygons are skipped and counted; the
    config, data and work dir paths hold a space and both quotes."""
    data = write_odd_coco(tmp_path / f'data {ODD_NAME}')
    config = odd_config(tmp_path, data)
    work = tmp_path / f'work {ODD_NAME}'
    result = run_tool([TOOLS / 'train.py', config, '--work-dir', work],
                      tmp_path)
    assert result.returncode == 0, describe(result)
    log = result.stdout + result.stderr
    ann_file = f'{data}/annotations.json'
    note = (f'annotation file {ann_file!r}: skipped 2 of 11 annotations '
            f'whose box has no area in the image, and 1 of 9 polygons with '
            f'fewer than 3 points.')
    assert note in log
    assert note in next(work.glob('*/*.log')).read_text()
    result = run_tool([
        TOOLS / 'test.py', config, work / 'epoch_1.pth', '--work-dir',
        tmp_path / f'eval {ODD_NAME}'
    ], tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'test results: coco/bbox_mAP' in result.stdout
    assert 'coco/segm_mAP' in result.stdout  # pycocotools took the polygons
    # ... once the one of 2 points was left out of the masks evaluated
    # against (pycocotools would fail on it).
    assert ('CocoMetric ground truth: 1 objects have polygons of fewer than '
            '3 points') in result.stdout + result.stderr


def test_corrupt_image_is_one_line_naming_it(tmp_path):
    data = write_odd_coco(tmp_path / 'data', corrupt=True)
    result = run_tool([
        TOOLS / 'train.py',
        odd_config(tmp_path, data, workers=1), '--work-dir', tmp_path / 'w'
    ], tmp_path)
    assert_one_line_error(
        result, f"image file '{data}/images/rgb.jpg' cannot be decoded",
        'replace it, or remove it from the annotation file')


def test_unknown_category_id_is_one_line_naming_it(tmp_path):
    data = write_odd_coco(tmp_path / 'data', unknown_category=True)
    result = run_tool([
        TOOLS / 'train.py',
        odd_config(tmp_path, data), '--work-dir', tmp_path / 'w'
    ], tmp_path)
    assert_one_line_error(
        result, f"'{data}/annotations.json'", 'category ids not in its '
        '"categories": 99 (used by 1 of 11 annotations; defined: 1, 2, 3, 4)')
    assert not list((tmp_path / 'w').glob('*.pth'))


# Security ------------------------------------------------------------------


def test_readme_says_configs_run_code():
    readme = (ROOT / 'README.md').read_text()
    assert 'Configs are Python files and run when loaded' in readme


def test_config_options_keep_spaces_and_quotes_in_paths():
    parse = ConfigOptionsAction._parse_iterable
    assert parse(f'/data/{ODD_NAME}/') == f'/data/{ODD_NAME}/'
    assert parse('"/my data/"') == '/my data/'
    assert parse('[1, 2]') == [1, 2] and parse('1,2') == [1, 2]
    assert parse('(a, b)') == ('a', 'b') and parse('None') is None
    assert parse('3') == 3 and parse('true') is True
