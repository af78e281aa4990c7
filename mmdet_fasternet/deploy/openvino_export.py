"""A whole detector exported to ONNX (``onnx_export``) as an OpenVINO IR,
fp32, bf16 or INT8 (tools/export_openvino.py, ``export_openvino``).

fp32 is OpenVINO's conversion of the ONNX file with its weights kept in
fp32 (``save_model`` would halve them to fp16), checked against
onnxruntime on that file at two input sizes (``checks``). INT8 is
NNCF's post-training quantisation, calibrated on images of the config's
training set resized as its test pipeline resizes them (what the file will
see); the stem (the first convolution, which sees the image) and the
layers of ``--keep-fp32`` stay fp32. bf16 is the fp32 IR marked to run in
bf16, for CPUs with AMX or AVX-512 BF16. What OpenVINO runs each layer in
on the exporting CPU is its own choice: the tool prints it and records it
in the IR (``ran``). bf16 and INT8 are not exact by design: the tool
reports how many detections still agree with onnxruntime; their accuracy
is their mAP (``tools/test.py CONFIG FILE.xml``).
"""
import copy
import json
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..config_files import load_model_config
from ..cpu import cpu_description
from ..datasets.data_checks import check_dataset_paths, leaf_datasets
from ..errors import ConfigError, ToolError, refuse_overwrite, require_file
from ..metainfo import config_metainfo
from .checks import (DEFAULT_SHAPE, RTOL, check_inputs, check_shapes,
                     compare_detections, exported_runs,
                     recorded_score_threshold)
from .file_metadata import check_classes, onnx_metadata
from .numerics import pair_detections
from .openvino_runtime import (PRECISIONS, RT_INFO_KEY, OpenVinoSession,
                               ir_metadata, precision_report, save_ir, to_ir)

CALIBRATION_IMAGES = 64


def check_arguments(out: str, precision: str, calibration_images: int,
                    keep_fp32: Sequence[str], quantize_stem: bool,
                    force: bool) -> None:
    """``export_openvino``'s arguments, before anything is read or
    written."""
    if not out.endswith('.xml'):
        raise ToolError(f'out (--out) must end with .xml (OpenVINO writes '
                        f'the weights beside it as .bin), got {out!r}.')
    if precision not in PRECISIONS:
        raise ToolError(f'precision must be one of {", ".join(PRECISIONS)}, '
                        f'got {precision!r}.')
    for path in (out, out[:-len('.xml')] + '.bin'):
        refuse_overwrite(path, 'out (--out)', force)
    if calibration_images < 1:
        raise ToolError(f'calibration_images (--calibration-images) must '
                        f'be at least 1, got {calibration_images}.')
    if precision != 'int8' and (keep_fp32 or quantize_stem):
        raise ToolError(f'keep_fp32 and quantize_stem (--keep-fp32, '
                        f'--quantize-stem) choose what INT8 leaves in fp32: '
                        f"add precision='int8' (--precision int8); got "
                        f'{precision}.')


def calibration_images_of(cfg: Config, count: int,
                          seed: int) -> List[np.ndarray]:
    """``count`` images of the config's training set, drawn with ``seed``,
    as the file takes them: resized by the test pipeline, float32
    (1, 3, H, W) BGR pixels."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    check_dataset_paths(cfg, ['train'])
    _, train = next(
        leaf_datasets('train_dataloader.dataset',
                      cfg.train_dataloader.dataset))
    train = copy.deepcopy(train)
    train.pipeline = cfg.test_dataloader.dataset.pipeline
    dataset = DATASETS.build(train)
    if len(dataset) == 0:
        raise ConfigError('the training set is empty: nothing to calibrate '
                          'INT8 on.')
    picked = np.random.default_rng(seed).permutation(len(dataset))[:count]
    return [dataset[int(i)]['inputs'].float()[None].numpy() for i in picked]


def approximate_agreement(xml_file: str, onnx_file: str, precision: str,
                          images: Sequence[np.ndarray], what: str) -> str:
    """How many of onnxruntime's detections the ``precision`` (bf16 or
    INT8) IR still gives (box and score within
    numerics.PAIRING_TOLERANCE) on ``images`` (``what`` they are)."""
    got, want = exported_runs(xml_file,
                              onnx_file), exported_runs(onnx_file, onnx_file)
    paired = total = 0
    for x in images:
        expected = want.as_is(x)
        pairs = pair_detections(got.as_is(x), expected)
        paired, total = paired + len(pairs.got), total + len(expected[0])
    found = (f'{paired} of {total} detections agree (box and score within '
             f'1%)' if total else 'nothing scored above the score '
             'threshold, nothing to compare')
    return (f'OpenVINO {precision} vs onnxruntime fp32 on {len(images)} '
            f'{what}: {found}; {precision} is not exact by design, its '
            f'accuracy is its mAP: tools/test.py CONFIG {xml_file}')


def export_openvino(config: str,
                    onnx_file: str,
                    out: str,
                    precision: str = 'fp32',
                    calibration_images: int = CALIBRATION_IMAGES,
                    seed: int = 0,
                    keep_fp32: Sequence[str] = (),
                    quantize_stem: bool = False,
                    cfg_options: Optional[dict] = None,
                    force: bool = False) -> Path:
    """Write ``out`` (an ``.xml``, its ``.bin`` beside it): the whole
    detector ``onnx_file`` (exported from ``config``) as an IR of
    ``precision`` (``PRECISIONS``). INT8 is calibrated on
    ``calibration_images`` images of the config's training set drawn with
    ``seed`` (``cfg_options`` may move it), the stem in fp32 unless
    ``quantize_stem``, and the layers ``keep_fp32`` names (regular
    expressions on their weights' module paths). Prints what OpenVINO runs
    here (also recorded in the IR) and how it compares with onnxruntime;
    raises ``ToolError`` where an fp32 IR differs by more than ``RTOL``."""
    out = str(out)
    check_arguments(out, precision, calibration_images, keep_fp32,
                    quantize_stem, force)
    require_file(onnx_file, 'ONNX file')
    cfg = load_model_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_classes(onnx_file, onnx_metadata(onnx_file),
                  config_metainfo(cfg).get('classes', ()))
    int8 = precision == 'int8'
    images = calibration_images_of(cfg, calibration_images,
                                   seed) if int8 else None
    stem = not quantize_stem
    model = to_ir(onnx_file, precision, images, keep_fp32, stem)
    counts = OpenVinoSession(model).precisions()
    model.set_rt_info(
        json.dumps(dict(cpu=cpu_description(), layers=counts)),
        [RT_INFO_KEY, 'ran'])
    save_ir(model, out)
    kept = ['the stem'] * stem + list(keep_fp32)
    print(f'wrote {out} and its .bin: {precision} OpenVINO IR of '
          f'{onnx_file}' + (f', calibrated on {len(images)} training images '
                            f'(seed {seed}); kept in fp32: '
                            f'{", ".join(kept) or "nothing"}' if int8 else ''))
    print(f'{precision_report(ir_metadata(model), counts)}; recorded in the '
          f'IR')
    inputs = check_inputs(check_shapes(DEFAULT_SHAPE))
    if int8:
        print(
            approximate_agreement(out, onnx_file, precision, images[:8],
                                  'calibration images'))
    elif precision == 'bf16':
        print(
            approximate_agreement(out, onnx_file, precision, inputs,
                                  'random images'))
    else:
        check_fp32(out, onnx_file, inputs)
    return Path(out)


def check_fp32(xml_file: str, onnx_file: str,
               inputs: List[np.ndarray]) -> None:
    """The fp32 IR against onnxruntime on ``inputs``: printed, and refused
    beyond ``RTOL``."""
    agreements = compare_detections(
        exported_runs(xml_file, onnx_file),
        exported_runs(onnx_file, onnx_file), inputs,
        recorded_score_threshold(onnx_file), 'OpenVINO vs onnxruntime')
    for agreement in agreements:
        print(agreement)
    worst = max(a.error for a in agreements)
    if worst > RTOL:
        raise ToolError(f'{xml_file}: OpenVINO differs from onnxruntime '
                        f'(max relative difference {worst:.1e} > '
                        f'{RTOL:.0e}); the files were kept for inspection.')
