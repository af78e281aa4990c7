"""tools/export_openvino.py: a whole detector exported to ONNX
(tools/export_onnx.py --part detector) as an OpenVINO IR, fp32, bf16 or
INT8.

fp32 is OpenVINO's conversion of the ONNX file with its weights kept in
fp32 (``save_model`` would halve them to fp16), checked against
onnxruntime on that file at two input sizes (``detector_check``). INT8 is
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
import argparse
import copy
import json
import os
import os.path as osp
import re
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..atomic_files import atomic_write
from ..config_files import load_model_config
from ..cpu import cpu_description
from ..datasets.data_checks import check_dataset_paths, leaf_datasets
from ..errors import ConfigError, ToolError, refuse_overwrite, require_file
from ..metainfo import config_metainfo
from ..models.exported_detector import recorded_classes
from ..models.openvino_detector import (RT_INFO_KEY, compile_ir,
                                        import_openvino, ir_metadata,
                                        layer_precisions, precision_report,
                                        read_ir)
from ..patches.mmengine import ConfigOptionsAction
from .detector_check import (Agreement, Runs, compare_detections,
                             onnxruntime_runs, score_threshold,
                             with_lowered_score_threshold)
from .numerics import pair_detections
from .onnx_export import RTOL

CALIBRATION_IMAGES = 64
PRECISIONS = ('fp32', 'bf16', 'int8')
# The input sizes an export is checked at.
SHAPES = ((320, 512), (417, 557))
WEIGHTED_OPS = ('Convolution', 'GroupConvolution', 'ConvolutionBackpropData',
                'MatMul')


def check_args(args: argparse.Namespace) -> None:
    """Every argument, before anything is read."""
    if not args.out.endswith('.xml'):
        raise ToolError(f'--out must end with .xml (OpenVINO writes the '
                        f'weights beside it as .bin), got {args.out!r}.')
    require_file(args.onnx, 'ONNX file')
    for path in (args.out, osp.splitext(args.out)[0] + '.bin'):
        refuse_overwrite(path, '--out', args.force)
    if args.calibration_images < 1:
        raise ToolError(f'--calibration-images must be at least 1, got '
                        f'{args.calibration_images}.')
    if args.precision != 'int8' and (args.keep_fp32 or args.quantize_stem):
        raise ToolError(f'--keep-fp32 and --quantize-stem choose what INT8 '
                        f'leaves in fp32: add --precision int8 (got '
                        f'{args.precision}).')


def onnx_metadata(onnx_file: str) -> Dict[str, str]:
    """What tools/export_onnx.py recorded in the file (class names,
    preprocessing), by name."""
    import onnx
    return {
        p.key: p.value
        for p in onnx.load(onnx_file, load_external_data=False).metadata_props
    }


def check_classes(onnx_file: str, classes: Sequence[str]) -> None:
    """The ONNX file must be a whole detector of the config's classes."""
    recorded = recorded_classes(onnx_metadata(onnx_file))
    if recorded is None:
        raise ToolError(f'{onnx_file!r} is not a whole detector (it records '
                        f'no class names); export it with '
                        f'tools/export_onnx.py --part detector.')
    if recorded != list(classes):
        raise ToolError(f'{onnx_file!r} was exported for other classes than '
                        f'the config names; pass the config it was exported '
                        f'from.')


def calibration_images(cfg: Config, count: int, seed: int) -> List[np.ndarray]:
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


def keep_fp32_scope(model,
                    patterns: Sequence[str],
                    stem: bool = True) -> List[str]:
    """The names of ``model``'s weighted ops whose weights' module path
    matches one of ``patterns``, and with ``stem`` the first of them.

    The stem stays fp32 by default, by measurement: on the demo Mask R-CNN
    (AMD EPYC, AVX-512 VNNI) INT8 cost up to 0.013 segm mAP over three
    calibration seeds, 0.006 with the stem in fp32; on an AMX Xeon it made
    no difference beyond seed noise (docs/deploy.md)."""
    paths = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in WEIGHTED_OPS:
            weights = op.input_value(1).get_node()
            paths.append((op.get_friendly_name(), weights.get_friendly_name()
                          if weights.get_type_name() == 'Constant' else ''))
    for pattern in patterns:
        if not any(re.search(pattern, path) for _, path in paths):
            raise ToolError(
                f'--keep-fp32 {pattern!r} matches no layer with weights '
                f'(their names are module paths, e.g. backbone.patch_embed).')
    return [
        name for i, (name, path) in enumerate(paths)
        if (stem and i == 0) or any(
            re.search(pattern, path) for pattern in patterns)
    ]


def quantize(model, images: List[np.ndarray], scope: Sequence[str]):
    """``model`` in INT8 by NNCF, calibrated on ``images``, the ops named
    in ``scope`` left in fp32."""
    try:
        import nncf
    except ImportError:
        raise ToolError("INT8 needs NNCF: pip install 'mmdet-fasternet"
                        "[openvino]' (openvino and nncf).")
    return nncf.quantize(
        model,
        nncf.Dataset(images),
        subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(names=scope) if scope else None)


def to_ir(onnx_file: str,
          precision: str = 'fp32',
          calibration: Optional[List[np.ndarray]] = None,
          keep_fp32: Sequence[str] = (),
          stem: bool = True):
    """``onnx_file`` as an OpenVINO model of ``precision`` (PRECISIONS):
    INT8 calibrated on ``calibration`` with the layers ``keep_fp32`` and
    ``stem`` choose (``keep_fp32_scope``) left in fp32; the file's metadata
    (class names, preprocessing), the precision and the ops kept in fp32
    in its runtime info."""
    model = import_openvino().convert_model(onnx_file)
    meta = onnx_metadata(onnx_file)
    scope = []
    if precision == 'int8':
        scope = keep_fp32_scope(model, keep_fp32, stem)
        model = quantize(model, calibration, scope)
    meta.update(precision=precision, keep_fp32=json.dumps(scope))
    for key, value in meta.items():
        model.set_rt_info(value, [RT_INFO_KEY, key])
    return model


def save_ir(model, out: str) -> None:
    """``out`` and its .bin, each written whole or not at all."""
    ov = import_openvino()
    with tempfile.TemporaryDirectory(dir=osp.dirname(osp.abspath(out))) as d:
        tmp = osp.join(d, 'model.xml')
        ov.save_model(model, tmp, compress_to_fp16=False)
        with atomic_write(osp.splitext(out)[0] + '.bin', '.bin') as bin_tmp:
            os.replace(osp.join(d, 'model.bin'), bin_tmp)
        with atomic_write(out, '.xml') as xml_tmp:
            os.replace(tmp, xml_tmp)


def openvino_runs(xml_file: str, onnx_file: str) -> Runs:
    """The IR in OpenVINO; lowered: a conversion of the ONNX file with its
    threshold lowered (OpenVINO folds the threshold into unnamed
    constants)."""
    import onnx
    ov = import_openvino()

    def runs_of(model):
        compiled = compile_ir(model)
        return lambda x: list(compiled({'image': x}).values())

    def lowered():
        model = with_lowered_score_threshold(onnx.load(onnx_file), onnx_file)
        with tempfile.TemporaryDirectory() as d:
            onnx.save(model, osp.join(d, 'lowered.onnx'))
            return runs_of(ov.convert_model(osp.join(d, 'lowered.onnx')))

    return Runs(runs_of(read_ir(xml_file)), lowered)


def check_inputs(shapes: Sequence[Sequence[int]]) -> List[np.ndarray]:
    generator = torch.Generator().manual_seed(0)
    return [(torch.rand(1, 3, *shape, generator=generator) * 255).numpy()
            for shape in shapes]


def approximate_agreement(xml_file: str, onnx_file: str,
                          images: Sequence[np.ndarray], what: str) -> str:
    """How many of onnxruntime's detections a bf16 or INT8 IR still gives
    (box and score within numerics.PAIRING_TOLERANCE) on ``images``
    (``what`` they are)."""
    got, want = openvino_runs(xml_file, onnx_file), onnxruntime_runs(onnx_file)
    paired = total = 0
    for x in images:
        expected = want.as_is(x)
        pairs = pair_detections(got.as_is(x), expected)
        paired, total = paired + len(pairs.got), total + len(expected[0])
    precision = ir_metadata(read_ir(xml_file))['precision']
    found = (f'{paired} of {total} detections agree (box and score within '
             f'1%)' if total else 'nothing scored above the score '
             'threshold, nothing to compare')
    return (f'OpenVINO {precision} vs onnxruntime fp32 on {len(images)} '
            f'{what}: {found}; {precision} is not exact by design, its '
            f'accuracy is its mAP: tools/test.py CONFIG {xml_file}')


def export_openvino(args: argparse.Namespace) -> None:
    """tools/export_openvino.py: write ``args.out`` (and its .bin), check
    it, print what was kept in fp32 and how it compares."""
    check_args(args)
    cfg = load_model_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_classes(args.onnx, config_metainfo(cfg).get('classes', ()))
    int8 = args.precision == 'int8'
    images = (
        calibration_images(cfg, args.calibration_images, args.seed)
        if int8 else None)
    stem = not args.quantize_stem
    model = to_ir(args.onnx, args.precision, images, args.keep_fp32, stem)
    counts = layer_precisions(compile_ir(model))
    model.set_rt_info(
        json.dumps(dict(cpu=cpu_description(), layers=counts)),
        [RT_INFO_KEY, 'ran'])
    save_ir(model, args.out)
    kept = ['the stem'] * stem + args.keep_fp32
    print(f'wrote {args.out} and its .bin: {args.precision} OpenVINO IR of '
          f'{args.onnx}' + (f', calibrated on {len(images)} training images '
                            f'(seed {args.seed}); kept in fp32: '
                            f'{", ".join(kept) or "nothing"}' if int8 else ''))
    print(f'{precision_report(model, counts)}; recorded in the IR')
    if int8:
        print(
            approximate_agreement(args.out, args.onnx, images[:8],
                                  'calibration images'))
        return
    if args.precision == 'bf16':
        print(
            approximate_agreement(args.out, args.onnx, check_inputs(SHAPES),
                                  'random images'))
        return
    import onnx
    threshold = score_threshold(onnx.load(args.onnx), args.onnx)
    agreements: List[Agreement] = compare_detections(
        openvino_runs(args.out, args.onnx), onnxruntime_runs(args.onnx),
        check_inputs(SHAPES), threshold, 'OpenVINO vs onnxruntime')
    for agreement in agreements:
        print(agreement)
    worst = max(a.error for a in agreements)
    if worst > RTOL:
        raise ToolError(f'{args.out}: OpenVINO differs from onnxruntime '
                        f'(max relative difference {worst:.1e} > '
                        f'{RTOL:.0e}); the files were kept for inspection.')


def export_openvino_parser() -> argparse.ArgumentParser:
    """tools/export_openvino.py's command line."""
    parser = argparse.ArgumentParser(
        description='Convert a whole detector exported to ONNX into an '
        'OpenVINO IR (fp32, or INT8 calibrated on the training set)')
    parser.add_argument('config', help='the config the ONNX file came from')
    parser.add_argument(
        'onnx', help='the .onnx of tools/export_onnx.py --part detector')
    parser.add_argument(
        '--out', required=True, help='the .xml (the .bin goes beside it)')
    parser.add_argument(
        '--precision',
        default='fp32',
        choices=PRECISIONS,
        help='fp32; bf16: fp32 weights that OpenVINO runs in bf16 (CPUs '
        'with AMX or AVX-512 BF16); int8: quantised by NNCF (post-training, '
        'calibrated on the training set; CPUs with VNNI or AMX)')
    parser.add_argument(
        '--calibration-images',
        type=int,
        default=CALIBRATION_IMAGES,
        help=f'int8: images of the training set to calibrate on '
        f'(default {CALIBRATION_IMAGES})')
    parser.add_argument(
        '--seed', type=int, default=0, help='int8: which images')
    parser.add_argument(
        '--keep-fp32',
        nargs='*',
        default=[],
        metavar='PATTERN',
        help='int8: more layers left in fp32, by the module path of their '
        'weights (regular expressions, e.g. conv_logits)')
    parser.add_argument(
        '--quantize-stem',
        action='store_true',
        help='int8: quantise the stem (the first convolution) too; by '
        'default it stays fp32, which cost the demo less mAP')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=ConfigOptionsAction,
        help='override config keys, e.g. '
        'train_dataloader.dataset.data_root=/data/coco/')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite --out and its .bin if they exist')
    return parser
