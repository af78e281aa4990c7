"""One gate for every checkpoint: each kind of bad file, through each way a
checkpoint enters, gives the same answer. Our tools print it as one line,
``error: ...``, with exit status 1; mmengine's Runner (what mmdet's own
tools and a notebook run with our configs) raises a CheckpointError with
the same text.

The tools' functions run in this process; one subprocess per program
shows the whole output a user sees. Only the misfit file needs a model
built: the others are refused before anything is.
"""
import importlib
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Dict

import cv2
import numpy as np
import pytest
import torch
from malicious import CreatesFile
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader
from safetensors.torch import save_file
from tool_runner import (MASK_DEMO, MMDET_TOOLS, TOOLS, call, describe,
                         eval_options, one_line, parse_cfg_options, run_tool,
                         tiny_shapes_options, train_options)

import mmdet_fasternet.engine.hooks.checkpoint_fit_hook as fit_hook
from mmdet_fasternet import FasterNet, upstream_warnings
from mmdet_fasternet.apis.convert import convert
from mmdet_fasternet.apis.export_tools import export_onnx_from_args
from mmdet_fasternet.apis.inference import demo
from mmdet_fasternet.apis.runner import evaluate, train
from mmdet_fasternet.errors import CheckpointError
from mmdet_fasternet.safe_loading import read_checkpoint

# What the answer says, by kind of file.
ANSWERS = {
    'missing': 'does not exist',
    'empty': 'cannot be loaded: it is empty (0 bytes)',
    'truncated': 'cannot be loaded: it is truncated: the archive lacks its '
    'end record',
    'text': "cannot be loaded: it is a text file, not a checkpoint (it "
    "starts 'epoch 12: loss 0.31')",
    'html': 'cannot be loaded: it is an HTML page, not a checkpoint: a '
    'download that saved an error or sign-in page',
    'zip': 'cannot be loaded: it is a zip archive but not a torch checkpoint '
    '(it holds model/weights.bin)',
    'safetensors': 'cannot resume from',
    'runs_code': 'unpickling it needs io.open, which weights-only loading '
    'does not allow. The file was not loaded and nothing in it ran.',
    'misfit': "not fit this",
}
T1_DETECTOR = "FasterNet-T1 (arch='t1')"


def demo_model(**backbone) -> torch.nn.Module:
    register_all_modules()
    cfg = Config.fromfile(MASK_DEMO).model
    cfg.backbone.update(backbone)
    if backbone.get('arch') == 't1':
        cfg.neck.in_channels = [64, 128, 256, 512]
    return MODELS.build(cfg)


def training_checkpoint(model: torch.nn.Module, path: Path) -> None:
    """Saved with what mmengine's resume reads besides the weights."""
    hub = MessageHub.get_instance('test_checkpoint_gate')
    hub.update_scalar('train/loss', 1.0)
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(epoch=1, iter=2),
            message_hub=hub.state_dict()), path)


@pytest.fixture(scope='module')
def files(tmp_path_factory) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp('bad_files')
    paths = {kind: root / f'{kind}.pth' for kind in ANSWERS}
    paths['empty'].write_bytes(b'')
    whole = root / 'whole.pth'
    torch.save({'state_dict': {'w': torch.ones(4096)}}, whole)
    paths['truncated'].write_bytes(whole.read_bytes()[:8192])
    paths['text'].write_text('epoch 12: loss 0.31\nepoch 13: loss 0.30\n')
    paths['html'].write_text('<!DOCTYPE html>\n<html><head><title>Sign in'
                             '</title></head><body></body></html>\n')
    with zipfile.ZipFile(paths['zip'], 'w') as archive:
        archive.writestr('model/weights.bin', b'\0' * 64)
    paths['safetensors'] = root / 'weights.safetensors'
    save_file(demo_model().state_dict(), paths['safetensors'])
    torch.save({'x': CreatesFile(root / 'pwned')}, paths['runs_code'])
    training_checkpoint(demo_model(arch='t1'), paths['misfit'])
    return paths


@pytest.fixture(scope='module')
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('image') / 'square.png'
    img = np.full((64, 64, 3), 120, np.uint8)
    img[16:48, 16:48] = (0, 0, 255)
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('data')


def raised(action: Callable[[], object]) -> str:
    with pytest.raises(CheckpointError) as info:
        action()
    return str(info.value)


def tool_test(path, tmp, data, image):
    return one_line(
        evaluate,
        *eval_options(
            MASK_DEMO, path, *tiny_shapes_options(data),
            work_dir=tmp / 'eval'))


def tool_train(path, tmp, data, image, resume=None, extra=()):
    return one_line(
        train,
        *train_options(
            MASK_DEMO,
            tmp / 'work',
            *tiny_shapes_options(data),
            *extra,
            resume=resume))


def tool_train_resume(path, tmp, data, image):
    return tool_train(path, tmp, data, image, resume=str(path))


def tool_train_load_from(path, tmp, data, image):
    return tool_train(path, tmp, data, image, extra=[f'load_from={path}'])


def tool_demo(path, tmp, data, image):
    return one_line(
        demo,
        image,
        MASK_DEMO,
        weights=path,
        out_dir=tmp / 'vis',
        device='cpu')


def tool_export(path, tmp, data, image):
    return one_line(
        export_onnx_from_args,
        MASK_DEMO,
        weights=path,
        out=tmp / 'neck.onnx',
        shape=[64, 64])


def tool_convert(path, tmp, data, image):
    return one_line(convert, path, tmp / 'backbone.pth')


def backbone_init_cfg(path, tmp, data, image):
    backbone = FasterNet(
        arch='t0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    return raised(backbone.init_weights)


def runner_cfg(path, tmp, data, resume: bool) -> Config:
    """A config of ours as mmdet's tools/test.py (or train.py --resume
    PATH) and a notebook hand it to Runner.from_cfg."""
    cfg = Config.fromfile(MASK_DEMO)
    cfg.merge_from_dict(parse_cfg_options(*tiny_shapes_options(data)))
    cfg.work_dir, cfg.load_from, cfg.resume = str(tmp /
                                                  'runner'), str(path), resume
    return cfg


def runner_test(path, tmp, data, image):
    return raised(Runner.from_cfg(runner_cfg(path, tmp, data, False)).test)


def runner_resume(path, tmp, data, image):
    return raised(Runner.from_cfg(runner_cfg(path, tmp, data, True)).train)


ENTRIES = {
    'tools/test.py': tool_test,
    'tools/train.py --resume PATH': tool_train_resume,
    'tools/train.py load_from': tool_train_load_from,
    'tools/demo.py --weights': tool_demo,
    'tools/export_onnx.py --weights': tool_export,
    'tools/convert_checkpoint.py': tool_convert,
    'backbone init_cfg': backbone_init_cfg,
    'Runner.test (mmdet tools/test.py, notebook)': runner_test,
    'Runner resume (mmdet tools/train.py --resume)': runner_resume,
}
RESUMING = ('tools/train.py --resume PATH',
            'Runner resume (mmdet tools/train.py --resume)')
CELLS = [
    (entry, kind) for entry in ENTRIES for kind in ANSWERS
    # A safetensors file is a fine source of weights, but holds no run.
    if (kind != 'safetensors' or entry in RESUMING)
    # The converter takes any FasterNet weights: no model to fit.
    and not (kind == 'misfit' and entry == 'tools/convert_checkpoint.py')
]


@pytest.mark.parametrize('entry,kind', CELLS)
def test_every_bad_file_through_every_entry_point(files, data, image, tmp_path,
                                                  entry, kind):
    path = files[kind]
    answer = ENTRIES[entry](path, tmp_path, data, image)
    assert str(path) in answer and ANSWERS[kind] in answer, answer
    assert 'Traceback' not in answer and '\n' not in answer
    if kind == 'misfit':
        assert T1_DETECTOR in answer  # the variant the file holds
    if kind == 'runs_code':
        assert 'weights_only=False' not in answer
        assert not (path.parent / 'pwned').exists()
    if kind in ('runs_code', 'misfit',
                'safetensors') or ENTRIES[entry] in (runner_test,
                                                     runner_resume):
        return
    # Refused before anything was built or written (work dir, pictures).
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('kind', ['html', 'runs_code'])
@pytest.mark.parametrize('load',
                         [read_checkpoint, CheckpointLoader.load_checkpoint])
def test_a_bad_download_names_the_url_and_the_cached_copy(
        http_root, files, kind, load):
    url = f'{http_root.base}/{kind}.pth'
    (http_root.root / f'{kind}.pth').write_bytes(files[kind].read_bytes())
    answer = raised(lambda: load(url))
    assert f'downloaded from {url} to' in answer and ANSWERS[kind] in answer
    assert 'weights_only=False' not in answer
    assert not (files[kind].parent / 'pwned').exists()


def test_mmdet_own_test_tool_refuses_code_without_advising_unsafe_loading(
        files, tmp_path):
    result = run_tool([
        MMDET_TOOLS / 'test.py', MASK_DEMO, files['runs_code'], '--work-dir',
        tmp_path / 'eval', '--cfg-options'
    ] + tiny_shapes_options(tmp_path / 'data'), tmp_path)
    assert result.returncode != 0, describe(result)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('mmdet_fasternet.errors.CheckpointError: ')
    assert ANSWERS['runs_code'] in last
    assert 'weights_only=False' not in result.stdout + result.stderr
    assert not (files['runs_code'].parent / 'pwned').exists()


def test_our_tool_says_one_line_and_no_pkg_resources_noise(files, tmp_path):
    result = run_tool([TOOLS / 'test.py', MASK_DEMO, files['text']],
                      tmp_path,
                      warnings=None)
    assert result.returncode == 1, describe(result)
    assert result.stderr.strip().splitlines() == [
        f"error: checkpoint '{files['text']}' {ANSWERS['text']}. Nothing "
        f"was loaded."
    ], describe(result)
    assert 'pkg_resources' not in result.stdout


def test_only_the_pkg_resources_warning_is_silenced():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        importlib.reload(upstream_warnings)  # its filter goes first again
        for message in ('pkg_resources is deprecated as an API. See ...',
                        'pkg_resources is not installed', 'something else'):
            warnings.warn(message, UserWarning)
        warnings.warn('pkg_resources is deprecated as an API.',
                      DeprecationWarning)
    assert [str(w.message) for w in caught] == [
        'pkg_resources is not installed', 'something else',
        'pkg_resources is deprecated as an API.'
    ]


def test_fine_tuning_names_the_layers_it_reinitialises(files, data, tmp_path,
                                                       monkeypatch):
    """load_from weights trained for other classes: the backbone, neck and
    shared head layers load, the class-dependent ones start afresh."""
    other_classes = demo_model()
    other_classes.roi_head.bbox_head.fc_cls = torch.nn.Linear(256, 8)
    ckpt = tmp_path / 'other_classes.pth'
    training_checkpoint(other_classes, ckpt)
    lines = []
    monkeypatch.setattr(fit_hook, 'print_log',
                        lambda msg, **_: lines.append(msg))
    no_validation = ('val_cfg=None', 'val_dataloader=None',
                     'val_evaluator=None')
    assert call(
        train,
        *train_options(MASK_DEMO, tmp_path / 'work',
                       *tiny_shapes_options(data), f'load_from={ckpt}',
                       *no_validation)) == 0
    assert lines == [
        f"load_from '{ckpt}': {len(other_classes.state_dict()) - 2} tensors "
        f"loaded; re-initialised (not in the checkpoint or of another shape, "
        f"e.g. the class-dependent layers): roi_head.bbox_head.fc_cls.* (2)."
    ]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
