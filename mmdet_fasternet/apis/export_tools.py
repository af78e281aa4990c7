"""tools/export_onnx.py and tools/export_openvino.py: their command lines,
and one call each into ``deploy``."""
import argparse
from pathlib import Path

from ..deploy.checks import DEFAULT_SHAPE
from ..deploy.onnx_export import EXPORTED_PARTS, export_onnx
from ..deploy.openvino_export import CALIBRATION_IMAGES, export_openvino
from ..deploy.openvino_runtime import PRECISIONS
from ..patches.mmengine import ConfigOptionsAction
from .cli import add_shape_argument


def export_onnx_from_args(args: argparse.Namespace) -> Path:
    """tools/export_onnx.py."""
    return export_onnx(args.config, args.out, args.weights, args.part,
                       args.shape, not args.no_deploy, args.force)


def export_openvino_from_args(args: argparse.Namespace) -> Path:
    """tools/export_openvino.py."""
    return export_openvino(args.config, args.onnx, args.out, args.precision,
                           args.calibration_images, args.seed, args.keep_fp32,
                           args.quantize_stem, args.cfg_options, args.force)


def export_onnx_parser() -> argparse.ArgumentParser:
    """tools/export_onnx.py's command line."""
    parser = argparse.ArgumentParser(
        description='Export to ONNX (dynamic height and width) and check '
        'the file against PyTorch with onnxruntime')
    parser.add_argument('config', help='detector config file')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--weights', help='checkpoint to load (without: untrained weights)')
    parser.add_argument(
        '--part',
        default='neck',
        choices=EXPORTED_PARTS,
        help='what goes into the file: the backbone, backbone and FPN '
        '(default), or the whole detector (tools/test.py and '
        'tools/export_openvino.py take that one)')
    add_shape_argument(parser, DEFAULT_SHAPE, 'example input size for tracing')
    parser.add_argument(
        '--no-deploy',
        action='store_true',
        help='export eval mode instead of deploy mode (BN folded)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite --out if it exists')
    return parser


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
