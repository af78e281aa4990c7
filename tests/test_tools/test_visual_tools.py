"""tools/demo.py and tools/plot_curves.py: the pictures a user looks at.

One tiny real training run (seconds) provides a checkpoint and the scalars
mmengine logs; error paths call the functions the tools call
(``mmdet_fasternet.apis``) in-process, which is faster than a subprocess per
case.
"""
import json
import re

import cv2
import numpy as np
import pytest
import torch
from malicious import CreatesFile
from mmengine.config import Config
from mmengine.logging import MessageHub
from tool_runner import (MASK_DEMO, TOOLS, call, describe, run_tool,
                         tiny_shapes_options)

import mmdet_fasternet  # noqa: F401
from mmdet_fasternet.apis.curves import (find_scalar_logs, is_train,
                                         merge_runs, plot_curves, read_records)
from mmdet_fasternet.apis.inference import demo
from mmdet_fasternet.datasets.shapes import SHAPE_CLASSES


def call_demo(inputs, config, **options) -> int:
    """``tools/demo.py INPUTS CONFIG --OPTIONS``."""
    return call(demo, inputs, config, **options)


def call_plot_curves(work_dir, **options) -> int:
    """``tools/plot_curves.py WORK_DIR --OPTIONS``."""
    return call(plot_curves, work_dir, **options)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """A real 1-epoch run: its work dir and its validation images."""
    root = tmp_path_factory.mktemp('tiny_run')
    work = root / 'work'
    result = run_tool(
        [TOOLS / 'train.py', MASK_DEMO, '--work-dir', work, '--cfg-options'] +
        tiny_shapes_options(root / 'data'), root)
    assert result.returncode == 0, describe(result)
    return work, root / 'data' / 'val' / 'images'


@pytest.fixture
def image(tmp_path):
    """A 96x128 picture of a square on a grey background."""
    img = np.full((96, 128, 3), 120, np.uint8)
    img[20:60, 30:70] = (0, 0, 255)
    path = tmp_path / 'in' / 'square.png'
    path.parent.mkdir()
    cv2.imwrite(str(path), img)
    return path


def fresh_checkpoint(path, drop_prefix=None, extra=None) -> None:
    """The demo detector freshly built, saved the way mmengine saves."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(Config.fromfile(MASK_DEMO).model)
    state_dict = {
        k: v
        for k, v in model.state_dict().items()
        if drop_prefix is None or not k.startswith(drop_prefix)
    }
    hub = MessageHub.get_instance('test_visual_tools')
    hub.update_scalar('train/loss', 1.0)
    meta = dict(epoch=1, dataset_meta=dict(classes=SHAPE_CLASSES))
    torch.save(
        dict(
            meta=meta,
            state_dict=state_dict,
            message_hub=hub.state_dict(),
            **(extra or {})), path)


def test_demo_draws_a_folder_with_trained_weights(tiny_run, tmp_path):
    work, images = tiny_run
    out = tmp_path / 'vis'
    result = run_tool([
        TOOLS / 'demo.py', images, MASK_DEMO, '--weights',
        work / 'epoch_1.pth', '--out-dir', out, '--pred-score-thr', '0'
    ], tmp_path)
    assert result.returncode == 0, describe(result)
    names = sorted(p.name for p in images.glob('*.png'))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(names) == 4
    for name, line in zip(names, lines):
        assert line.startswith(str(images / name) + ': ')
        assert line.endswith(f'-> {out / name}')
        assert cv2.imread(str(out / name)).shape == (128, 128, 3)
    # Class names come from the checkpoint (the shapes), not COCO's.
    assert any(c in result.stdout for c in SHAPE_CLASSES)
    assert 'person' not in result.stdout and 'untrained' not in result.stdout


def test_demo_without_weights_warns_and_draws(image, tmp_path):
    result = run_tool(
        [TOOLS / 'demo.py', image, MASK_DEMO, '--out-dir', tmp_path / 'vis'],
        tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'the model is untrained' in result.stdout + result.stderr
    assert re.search(r'square.png: \d+ detections? >= 0.3', result.stdout)
    assert cv2.imread(str(tmp_path / 'vis' / image.name)).shape == (96, 128, 3)
    assert not (tmp_path / 'data').exists()  # no dataset was generated


def test_demo_refuses_to_overwrite_pictures(image, tmp_path, capsys):
    out = tmp_path / 'vis'
    out.mkdir()
    (out / image.name).write_bytes(b'earlier picture')
    assert call_demo(image, MASK_DEMO, out_dir=out) == 1
    assert 'already holds 1 of the pictures' in capsys.readouterr().err
    assert (out / image.name).read_bytes() == b'earlier picture'
    # Not even with --force over the input itself.
    assert call_demo(image, MASK_DEMO, out_dir=image.parent, force=True) == 1
    assert 'would replace them' in capsys.readouterr().err


def test_demo_reads_weights_weights_only(image, tmp_path, monkeypatch, capsys):
    # mmengine's own loader would unpickle anything under this variable.
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    ckpt, evil = tmp_path / 'fresh.pth', tmp_path / 'evil.pth'
    fresh_checkpoint(ckpt)
    out = tmp_path / 'vis'
    assert call_demo(
        image, MASK_DEMO, weights=ckpt,
        out_dir=out) == 0, capsys.readouterr().err
    assert f'-> {out / image.name}' in capsys.readouterr().out

    pwned = tmp_path / 'pwned'
    fresh_checkpoint(evil, extra=dict(payload=CreatesFile(pwned)))
    assert call_demo(
        image, MASK_DEMO, weights=evil, out_dir=out, force=True) == 1
    assert 'refusing to load --weights' in capsys.readouterr().err
    assert not pwned.exists()


def test_demo_refuses_weights_of_another_model(image, tmp_path, capsys):
    ckpt = tmp_path / 'no_mask_head.pth'
    fresh_checkpoint(ckpt, drop_prefix='roi_head.mask_head.')
    assert call_demo(
        image, MASK_DEMO, weights=ckpt, out_dir=tmp_path / 'v') == 1
    err = capsys.readouterr().err
    assert 'do not fit this config' in err and 'roi_head.mask_head' in err
    assert not (tmp_path / 'v').exists()


@pytest.mark.parametrize('case,message', [
    ('missing_input', 'does not exist'),
    ('empty_folder', 'holds no images'),
    ('not_an_image', 'is not an image'),
    ('missing_config', "config file 'nope.py' does not exist"),
    ('missing_weights', "--weights 'nope.pth' does not exist"),
    ('bad_threshold', 'must lie in [0, 1]'),
    ('bad_device', "--device 'gpu0'"),
])
def test_demo_bad_arguments_are_one_line_errors(image, tmp_path, capsys, case,
                                                message):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'notes.txt').write_text('x')
    args = dict(inputs=image, config=MASK_DEMO)
    args.update({
        'missing_input': dict(inputs=tmp_path / 'nope.png'),
        'empty_folder': dict(inputs=tmp_path / 'empty'),
        'not_an_image': dict(inputs=tmp_path / 'notes.txt'),
        'missing_config': dict(config='nope.py'),
        'missing_weights': dict(weights='nope.pth'),
        'bad_threshold': dict(pred_score_thr=30.0),
        'bad_device': dict(device='gpu0'),
    }[case])
    out = tmp_path / 'vis'
    assert call_demo(out_dir=out, **args) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_plot_curves_of_a_real_run(tiny_run, tmp_path):
    work, _ = tiny_run
    out = tmp_path / 'curves.png'
    result = run_tool([TOOLS / 'plot_curves.py', work, '--out', out], tmp_path)
    assert result.returncode == 0, describe(result)
    assert '1 log(s), 2 iterations' in result.stdout
    assert 'coco/bbox_mAP' in result.stdout
    assert 'coco/segm_mAP' in result.stdout
    assert cv2.imread(str(out)).shape == (400, 1000, 3)  # loss and mAP


def write_scalars(work, timestamp, records, tail=''):
    path = work / timestamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records) + tail)


def train_record(step, loss):
    return dict(loss=loss, loss_cls=loss / 2, lr=0.01, epoch=step, step=step)


def test_plot_curves_merges_resumed_runs(tmp_path, capsys):
    work = tmp_path / 'work'
    # Epochs 1-3, then a resume from epoch 2 redoes epoch 3 and goes on to
    # 4; the second start was killed mid-write.
    write_scalars(work, '20260101_000000',
                  [train_record(s, 9.0)
                   for s in (1, 2, 3)] + [{
                       'coco/bbox_mAP': 0.1,
                       'step': 3
                   }])
    write_scalars(
        work,
        '20260102_000000',
        [train_record(s, 1.0) for s in (3, 4)] + [{
            'coco/bbox_mAP': 0.5,
            'step': 4
        }],
        tail='{"loss": 0.')
    runs = [read_records(p) for p in find_scalar_logs(str(work))]
    assert [bad for _, bad in runs] == [0, 1]
    train = merge_runs([[r for r in run if is_train(r)] for run, _ in runs])
    assert [(r['step'], r['loss']) for r in train] == [(1, 9.0), (2, 9.0),
                                                       (3, 1.0), (4, 1.0)]

    assert call_plot_curves(work) == 0
    out = capsys.readouterr().out
    assert 'skipped 1 lines' in out
    assert '2 log(s), 4 iterations, loss 9.000 -> 1.000' in out
    assert 'coco/bbox_mAP 0.500' in out
    assert cv2.imread(str(work / 'curves.png')).shape == (400, 1000, 3)


def test_plot_curves_without_validation_draws_the_loss_only(tmp_path):
    write_scalars(tmp_path, '20260101_000000',
                  [train_record(s, 2.0 / s) for s in (1, 2)])
    assert call_plot_curves(tmp_path) == 0
    assert cv2.imread(str(tmp_path / 'curves.png')).shape == (400, 500, 3)


@pytest.mark.parametrize('case,message', [
    ('missing', 'does not exist'),
    ('no_logs', 'no logged scalars under'),
    ('no_losses', 'hold no training losses'),
    ('not_png', '--out must end with .png'),
])
def test_plot_curves_errors(tmp_path, capsys, case, message):
    work = tmp_path / 'work'
    work.mkdir()
    if case == 'no_losses':
        write_scalars(work, '20260101_000000', [{
            'coco/bbox_mAP': 0.1,
            'step': 1
        }])
    args = {
        'missing': dict(work_dir=tmp_path / 'nope'),
        'no_logs': dict(work_dir=work),
        'no_losses': dict(work_dir=work),
        'not_png': dict(work_dir=work, out=tmp_path / 'curves.pdf'),
    }[case]
    assert call_plot_curves(**args) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err
    assert not list(tmp_path.glob('**/curves.*'))


def test_plot_curves_keeps_an_existing_out_file(tmp_path, capsys):
    write_scalars(tmp_path, '20260101_000000',
                  [train_record(s, 2.0 / s) for s in (1, 2)])
    mine = tmp_path / 'mine.png'
    mine.write_bytes(b'my picture')
    assert call_plot_curves(tmp_path, out=mine) == 1
    assert 'already exists; pass --force' in capsys.readouterr().err
    assert mine.read_bytes() == b'my picture'
    assert call_plot_curves(tmp_path, out=mine, force=True) == 0
    assert cv2.imread(str(mine)) is not None
    missing = tmp_path / 'no' / 'such' / 'folder.png'
    assert call_plot_curves(tmp_path, out=missing) == 1
    assert 'does not exist' in capsys.readouterr().err
