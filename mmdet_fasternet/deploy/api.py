"""Deployment in two calls, for notebooks and scripts: ``export`` a trained
detector to a runtime's file (with the exporters the tools call and their
checks), ``load_exported`` it to predict as mmdet's DetInferencer does."""
import inspect
import os.path as osp
from pathlib import Path
from typing import Optional, Sequence, Union

from mmengine.config import Config

from ..config_files import find_config
from ..errors import ToolError
from ..patches.mmdet import SafeDetInferencer
from . import openvino_export
from .checks import DEFAULT_SHAPE
from .exported_detector import use_exported_file
from .onnx_export import export_onnx
from .openvino_export import check_arguments, export_openvino
from .runtimes import RUNTIMES

PathLike = Union[str, Path]
# export_openvino's arguments that export sets itself.
EXPORT_ARGUMENTS = ('config', 'onnx_file', 'out', 'precision', 'force')


def export(config: PathLike,
           weights: Optional[PathLike] = None,
           format: str = 'onnx',
           precision: str = 'fp32',
           shape: Sequence[int] = DEFAULT_SHAPE,
           out: Optional[PathLike] = None,
           deploy: bool = True,
           force: bool = False,
           **conversion: object) -> Path:
    """The whole detector of ``config`` with ``weights`` (None: untrained)
    as one file of ``format`` (``runtimes.RUNTIMES``: 'onnx', 'openvino')
    in ``precision`` (that runtime's), traced at ``shape`` and checked as
    the tools check it; returns the file's path. ``out``: where (default:
    the config's name, the precision and the format's suffix, here); an
    OpenVINO IR is made from an ONNX file written beside it. ``deploy``:
    BN folded into the convolutions (False keeps eval mode's arithmetic
    exactly). Existing files are kept unless ``force``. ``conversion``:
    the converter's settings (``openvino_export.export_openvino``:
    calibration_images, seed, keep_fp32, quantize_stem, cfg_options)."""
    if format not in RUNTIMES:
        raise ToolError(f'format must be one of {", ".join(RUNTIMES)}, got '
                        f'{format!r}.')
    runtime = RUNTIMES[format]
    if precision not in runtime.precisions:
        raise ToolError(f'{runtime.name} files come in '
                        f'{", ".join(runtime.precisions)}, not {precision!r}.')
    config = find_config(str(config))
    if out is None:
        stem = osp.splitext(osp.basename(config))[0]
        out = stem + ('' if precision == 'fp32' else f'_{precision}')
        out += runtime.suffix
    out = str(out)
    if not out.endswith(runtime.suffix):
        raise ToolError(f'{runtime.name} files end with {runtime.suffix}, '
                        f'got {out!r}.')
    if runtime.convert is None:
        if conversion:
            converted = [r.name for r in RUNTIMES.values() if r.convert]
            raise ToolError(f'{runtime.name} runs the ONNX file as exported; '
                            f'{", ".join(sorted(conversion))} apply only to a '
                            f'conversion ({", ".join(converted)}).')
        return export_onnx(config, out, weights and str(weights), 'detector',
                           shape, deploy, force)
    check_conversion(out, precision, conversion, force)
    onnx_file = out[:-len(runtime.suffix)] + '.onnx'
    export_onnx(config, onnx_file, weights and str(weights), 'detector', shape,
                deploy, force)
    return export_openvino(
        config, onnx_file, out, precision, force=force, **conversion)


def check_conversion(out: str, precision: str, conversion: dict,
                     force: bool) -> None:
    """The OpenVINO conversion's settings, before the ONNX export (minutes)
    runs: names ``export_openvino`` takes, values it accepts."""
    settings = inspect.signature(openvino_export.export_openvino).parameters
    allowed = [name for name in settings if name not in EXPORT_ARGUMENTS]
    unknown = sorted(set(conversion) - set(allowed))
    if unknown:
        raise ToolError(f'{", ".join(unknown)}: not a setting of the OpenVINO '
                        f'conversion (those are {", ".join(allowed)}).')
    values = {
        name: conversion.get(name, settings[name].default)
        for name in ('calibration_images', 'keep_fp32', 'quantize_stem')
    }
    check_arguments(out, precision, force=force, **values)


def load_exported(file: PathLike,
                  config: PathLike,
                  device: str = 'cpu',
                  **session: object) -> SafeDetInferencer:
    """The exported detector ``file`` (made from ``config``) run by its
    runtime, in mmdet's DetInferencer: ``load_exported(f, cfg)(image)``
    gives mmdet's predictions, boxes in the image's pixels, masks pasted.
    ``session``: threads, options (``runtimes.open_session``)."""
    cfg = Config.fromfile(find_config(str(config)))
    use_exported_file(cfg, str(file), device=device, **session)
    return SafeDetInferencer(cfg, device, lambda model: {})
