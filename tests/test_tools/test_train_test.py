"""tools/train.py, tools/test.py and the distributed launcher, end to end.

Each test trains for a few iterations on a tiny generated shapes dataset;
the point is the plumbing (checkpoints, resume, evaluation, errors), not
accuracy.
"""
import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from mmengine.structures import InstanceData
from same_detections import assert_same_detections
from tool_runner import (CONFIGS, MASK_DEMO, RETINA_DEMO, TOOLS, describe,
                         eval_options, metric_lines, one_line, run_tool,
                         tiny_shapes_options, train_options)

import mmdet_fasternet  # noqa: F401
from mmdet_fasternet.apis.runner import evaluate, train


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.e2e
def test_mask_rcnn_train_test_resume(tmp_path):
    data, work = tmp_path / 'data', tmp_path / 'work'
    train = [TOOLS / 'train.py', MASK_DEMO, '--work-dir', work]
    opts = ['--cfg-options'] + tiny_shapes_options(data, epochs=1)

    result = run_tool(train + opts, tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'final evaluation: coco/bbox_mAP' in result.stdout
    assert 'coco/segm_mAP' in result.stdout
    ckpt1 = work / 'epoch_1.pth'
    assert ckpt1.is_file()
    digest = sha256(ckpt1)

    # A new run never overwrites another run's checkpoints.
    result = run_tool(train + opts, tmp_path)
    assert result.returncode == 1, describe(result)
    assert 'already holds checkpoints' in result.stderr
    assert 'Traceback' not in result.stderr
    assert sha256(ckpt1) == digest

    # --resume continues from epoch 1 (weights-only loading stays on).
    opts2 = ['--cfg-options'] + tiny_shapes_options(data, epochs=2)
    result = run_tool(train + ['--resume'] + opts2, tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    assert (work / 'epoch_2.pth').is_file()
    assert sha256(ckpt1) == digest

    test = [
        TOOLS / 'test.py', MASK_DEMO, work / 'epoch_2.pth', '--work-dir',
        tmp_path / 'eval', '--out', tmp_path / 'preds.pkl'
    ]
    result = run_tool(test + opts2, tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'test results: coco/bbox_mAP' in result.stdout
    assert 'coco/segm_mAP' in result.stdout
    assert 'Average Precision' in result.stdout  # pycocotools' summary
    assert (tmp_path / 'preds.pkl').stat().st_size > 0

    # --deploy evaluates the inference form: the same predictions.
    deployed = test[:-1] + [tmp_path / 'deployed.pkl', '--deploy']
    result_deploy = run_tool(deployed + opts2, tmp_path)
    assert result_deploy.returncode == 0, describe(result_deploy)
    metrics = [metric_lines(r.stdout) for r in (result, result_deploy)]
    assert set(metrics[0]) == set(metrics[1]) and metrics[0]
    for name, value in metrics[0].items():
        assert abs(metrics[1][name] - value) <= 0.01, name
    preds = [
        pickle.loads((tmp_path / name).read_bytes())
        for name in ('preds.pkl', 'deployed.pkl')
    ]
    assert any(len(p['pred_instances']['scores']) for p in preds[0])
    for ref, out in zip(*preds):
        ref, out = (
            InstanceData(**{
                k: p['pred_instances'][k]
                for k in ('bboxes', 'scores', 'labels')
            }) for p in (ref, out))
        assert_same_detections(out, ref, box_atol=1e-2, score_atol=1e-4)

    # --out never overwrites an existing file.
    result = run_tool(test + opts2, tmp_path)
    assert result.returncode == 1 and 'already exists' in result.stderr

    ckpt = torch.load(work / 'epoch_2.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 2
    assert 'message_hub' in ckpt


@pytest.mark.e2e
def test_load_from_a_training_checkpoint(tmp_path):
    data, work = tmp_path / 'data', tmp_path / 'work'
    opts = tiny_shapes_options(data)
    result = run_tool(
        [TOOLS / 'train.py', MASK_DEMO, '--work-dir', work, '--cfg-options'] +
        opts, tmp_path)
    assert result.returncode == 0, describe(result)
    result = run_tool([
        TOOLS / 'train.py', MASK_DEMO, '--work-dir', tmp_path / 'finetune',
        '--cfg-options', f'load_from={work / "epoch_1.pth"}'
    ] + opts, tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'Load checkpoint from' in result.stdout + result.stderr


@pytest.mark.e2e
def test_retinanet_train_and_test(tmp_path):
    data, work = tmp_path / 'data', tmp_path / 'work'
    # Two iterations leave every score low: keep them all for the metric.
    opts = ['--cfg-options', 'model.test_cfg.score_thr=0.0'
            ] + tiny_shapes_options(data)
    result = run_tool([TOOLS / 'train.py', RETINA_DEMO, '--work-dir', work] +
                      opts, tmp_path)
    assert result.returncode == 0, describe(result)
    result = run_tool([
        TOOLS / 'test.py', RETINA_DEMO, work / 'epoch_1.pth', '--work-dir',
        tmp_path / 'eval'
    ] + opts, tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'test results: coco/bbox_mAP' in result.stdout
    assert 'segm' not in result.stdout.split('test results:')[1]


@pytest.mark.e2e
def test_two_process_cpu_training(tmp_path, monkeypatch, free_port):
    data, work = tmp_path / 'data', tmp_path / 'work'
    monkeypatch.setenv('PORT', str(free_port))
    result = run_tool([
        'bash', TOOLS / 'dist_train.sh', MASK_DEMO, '2', '--work-dir', work,
        '--cfg-options'
    ] + tiny_shapes_options(data), tmp_path)
    assert result.returncode == 0, describe(result)
    log = result.stdout + result.stderr
    assert 'terminate called' not in log  # a clean exit (see issue 16)
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert result.stdout.count('final evaluation:') == 1  # rank 0 only
    assert 'final evaluation: coco/bbox_mAP' in result.stdout
    assert (work / 'epoch_1.pth').is_file()
    result = run_tool([
        'bash', TOOLS / 'dist_test.sh', MASK_DEMO, work / 'epoch_1.pth', '2',
        '--work-dir', tmp_path / 'eval', '--cfg-options'
    ] + tiny_shapes_options(data), tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'test results: coco/bbox_mAP' in result.stdout


def test_missing_coco_data_root_is_one_clear_error(tmp_path):
    result = run_tool(
        [TOOLS / 'train.py', CONFIGS / 'mask_rcnn_fasternet_t0.py'], tmp_path)
    assert result.returncode == 1, describe(result)
    assert "data root 'data/coco/'" in result.stderr
    assert str(tmp_path / 'data' / 'coco') in result.stderr
    assert '--cfg-options' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'work_dirs' / 'mask_rcnn_fasternet_t0' /
                'epoch_1.pth').exists()


@pytest.mark.parametrize('content,reason', [
    ('this is not json', 'starts with'),
    ('{"images": [], "annotations": [', 'does not end with'),
    ('{"images": [}', 'not valid JSON'),
])
def test_annotation_file_that_is_not_json(tmp_path, content, reason):
    coco = tmp_path / 'coco'
    (coco / 'annotations').mkdir(parents=True)
    (coco / 'train2017').mkdir()
    (coco / 'val2017').mkdir()
    ann = coco / 'annotations' / 'instances_train2017.json'
    ann.write_text(content)
    (coco / 'annotations' / 'instances_val2017.json').write_text(
        json.dumps(dict(images=[], annotations=[], categories=[])))
    line = one_line(
        train,
        *train_options(CONFIGS / 'mask_rcnn_fasternet_t0.py',
                       tmp_path / 'work',
                       f'train_dataloader.dataset.data_root={coco}/',
                       f'val_dataloader.dataset.data_root={coco}/',
                       'model.backbone.init_cfg=None'))
    assert f"annotation file '{ann}'" in line and reason in line


def test_missing_image_names_the_file(tmp_path):
    data = tmp_path / 'data'
    opts = tiny_shapes_options(data)
    # Generate the dataset, then remove one training image.
    mmdet_fasternet.SyntheticShapesDataset(
        data_root=str(data / 'train'),
        num_images=8,
        image_size=128,
        pipeline=[])
    missing = data / 'train' / 'images' / '000003.png'
    missing.unlink()
    line = one_line(train, *train_options(MASK_DEMO, tmp_path / 'work', *opts))
    assert f"file '{missing}' is missing" in line


def test_work_dir_with_glob_characters_is_still_protected(tmp_path):
    from mmengine.config import Config

    from mmdet_fasternet.apis.runner import apply_resume
    from mmdet_fasternet.errors import ToolError
    work = tmp_path / 'run [1]*'
    work.mkdir()
    (work / 'epoch_1.pth').write_bytes(b'x')
    with pytest.raises(ToolError, match='already holds checkpoints'):
        apply_resume(Config(dict(work_dir=str(work))), None)


@pytest.mark.e2e
def test_resume_in_an_empty_work_dir_starts_a_new_run(tmp_path):
    """A requeued job's first start: --resume and nothing to resume."""
    data, work = tmp_path / 'data', tmp_path / 'work'
    opts = ['--cfg-options'] + tiny_shapes_options(data, validate=False)
    train = [TOOLS / 'train.py', MASK_DEMO, '--work-dir', work, '--resume']
    result = run_tool(train + opts, tmp_path)
    assert result.returncode == 0, describe(result)
    assert (f"--resume: work dir '{work}' holds no checkpoint yet; starting "
            f'a new run.') in result.stdout + result.stderr
    assert (work / 'epoch_1.pth').is_file()
    # The same command again continues the run.
    opts = ['--cfg-options'] + tiny_shapes_options(
        data, epochs=2, validate=False)
    result = run_tool(train + opts, tmp_path)
    assert result.returncode == 0, describe(result)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    assert (work / 'epoch_2.pth').is_file()
    # All checkpoints truncated: not a new run over them.
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        (work / name).write_bytes(b'PK\x03\x04 cut')
    result = run_tool(train + opts, tmp_path)
    assert result.returncode == 1, describe(result)
    assert 'no checkpoint to resume from' in result.stderr


def test_test_tool_missing_checkpoint(tmp_path):
    line = one_line(evaluate, *eval_options(MASK_DEMO, tmp_path / 'nope.pth'))
    assert 'nope.pth' in line and 'does not exist' in line


def test_slurm_train_builds_the_srun_command(tmp_path, monkeypatch):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake_srun = bin_dir / 'srun'
    fake_srun.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_LOG"\n')
    fake_srun.chmod(0o755)
    log = tmp_path / 'srun.log'
    monkeypatch.setenv('PATH', f'{bin_dir}:' + os.environ['PATH'])
    monkeypatch.setenv('SRUN_LOG', str(log))
    monkeypatch.setenv('GPUS', '16')
    work = tmp_path / 'my work'
    result = run_tool([
        'bash', TOOLS / 'slurm_train.sh', 'gpu', 'fasternet', MASK_DEMO, work,
        '--cfg-options', 'train_cfg.max_epochs=1'
    ], tmp_path)
    assert result.returncode == 0, describe(result)
    args = log.read_text().splitlines()
    assert args[:2] == ['-p', 'gpu'] and '--ntasks=16' in args
    assert '--ntasks-per-node=8' in args and '--job-name=fasternet' in args
    i = [n for n, a in enumerate(args) if a.endswith('tools/train.py')][0]
    assert args[i + 1:] == [
        str(MASK_DEMO), f'--work-dir={work}', '--launcher', 'slurm',
        '--cfg-options', 'train_cfg.max_epochs=1'
    ]


@pytest.mark.parametrize('script,nargs', [('dist_train.sh', 2),
                                          ('dist_test.sh', 3),
                                          ('slurm_train.sh', 4)])
def test_launch_scripts_print_usage(tmp_path, script, nargs):
    for given in range(nargs):  # every count short of the required one
        result = run_tool(['bash', TOOLS / script] + ['x'] * given, tmp_path)
        assert result.returncode == 2 and 'usage:' in result.stderr, given


def test_unknown_backbone_key_is_one_line_listing_accepted_keys(tmp_path):
    line = one_line(
        train,
        *train_options(MASK_DEMO, tmp_path / 'work',
                       'model.backbone.depth=50'))
    assert "unknown argument(s) ['depth']" in line
    assert "accepted arguments are ['arch', 'in_channels'" in line
    assert '_delete_=True' in line


@pytest.mark.parametrize('option,fragment', [
    ('model.backbone.arch=x', "unknown arch 'x'; choose one of"),
    ('model.backbone.out_indices=(0,5)', 'out_indices must be'),
    ('model.backbone.frozen_stages=9', 'frozen_stages must be an int in'),
])
def test_bad_backbone_values_are_one_line(tmp_path, option, fragment):
    line = one_line(train, *train_options(MASK_DEMO, tmp_path / 'work',
                                          option))
    assert line.startswith('error: FasterNet: ') and fragment in line


@pytest.mark.parametrize('change,first', [
    ('drop', 'missing backbone.norm0.weight'),
    ('extra', 'unexpected extra.weight'),
    ('reshape', 'roi_head.bbox_head.fc_cls.weight is [3, 256] in the '
     'checkpoint but [5, 256] in the model'),
])
def test_test_tool_refuses_a_checkpoint_that_does_not_fit(
        tmp_path, change, first):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    state = MODELS.build(Config.fromfile(MASK_DEMO).model).state_dict()
    if change == 'drop':
        del state['backbone.norm0.weight']
    elif change == 'extra':
        state['extra.weight'] = torch.ones(1)
    else:
        state['roi_head.bbox_head.fc_cls.weight'] = torch.ones(3, 256)
    ckpt = tmp_path / 'other.pth'
    torch.save({'state_dict': state, 'meta': {}}, ckpt)
    line = one_line(
        evaluate,
        *eval_options(
            MASK_DEMO,
            ckpt,
            *tiny_shapes_options(tmp_path / 'data'),
            work_dir=tmp_path / 'eval'))
    assert line.startswith(f"error: weights '{ckpt}' do not fit this config")
    assert f'(first: {first})' in line


@pytest.mark.e2e
@pytest.mark.parametrize('sync', [True, False])
def test_two_process_bn_statistics_are_equal_on_every_rank(
        tmp_path, monkeypatch, free_port, sync):
    """With the configs' SyncBuffersHook the ranks validate and save the
    same BN statistics; without it each rank keeps its own."""
    config = tmp_path / 'config.py'
    hooks = ('_base_.custom_hooks'
             if sync else "[h for h in _base_.custom_hooks if h['type'] != "
             "'SyncBuffersHook']")
    config.write_text(
        f"_base_ = '{MASK_DEMO}'\n"
        "custom_imports = dict(imports=['mmdet_fasternet', "
        "'buffer_dump_hook'], allow_failed_imports=False)\n"
        f"custom_hooks = {hooks} + [dict(type='DumpBuffersHook')]\n")
    monkeypatch.setenv('PORT', str(free_port))
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).parents[1]))
    work = tmp_path / 'work'
    result = run_tool([
        'bash', TOOLS / 'dist_train.sh', config, '2', '--work-dir', work,
        '--cfg-options'
    ] + tiny_shapes_options(tmp_path / 'data', validate=False), tmp_path)
    assert result.returncode == 0, describe(result)
    ranks = [
        torch.load(work / f'buffers_rank{r}.pth', weights_only=True)
        for r in (0, 1)
    ]
    assert ranks[0].keys() == ranks[1].keys() and ranks[0]
    equal = [torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0]]
    assert all(equal) if sync else not any(equal)
