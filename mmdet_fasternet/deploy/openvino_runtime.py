"""OpenVINO, the runtime of IRs (``.xml`` + ``.bin``, written by
tools/export_openvino.py), on the CPU (an entry of ``runtimes.py``).

The IR carries what the ONNX file's metadata carries (class names,
preprocessing) in its runtime info, under ``fasternet``. OpenVINO runs an
fp32 model in bf16 where the CPU can (AMX, AVX-512 BF16): here it is asked
for the precision the file records (fp32, bf16, or INT8 where quantised).
What it then runs is its own decision per CPU (a bf16 IR runs in fp32 on
an AVX2 CPU, and was compiled for bf16 on an AVX-512 CPU without BF16):
``layer_precisions`` reads it back from the compiled model and
``precision_report`` says it.
"""
import json
import os
import os.path as osp
import re
import tempfile
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..atomic_files import atomic_write
from ..cpu import cpu_description
from ..errors import CheckpointError, ToolError
from .file_metadata import onnx_metadata
from .precisions import describe_precisions, lacks_clause

RT_INFO_KEY = 'fasternet'
PRECISIONS = ('fp32', 'bf16', 'int8')
WEIGHTED_OPS = ('Convolution', 'GroupConvolution', 'ConvolutionBackpropData',
                'MatMul')
INSTALL = "pip install 'mmdet-fasternet[openvino]' (openvino and nncf)"
# The execution graph's layers that hold weights: their precision is what
# bf16 or INT8 changes.
WEIGHTED_LAYERS = ('Convolution', 'Deconvolution', 'FullyConnected', 'MatMul')
# The execution graph's precision names, as the tools name precisions.
PRECISION_NAMES = {'f32': 'fp32', 'f16': 'fp16', 'u8': 'int8', 'i8': 'int8'}


def check_openvino(device: str) -> None:
    """OpenVINO is installed and ``device`` is the CPU, or one line."""
    if device != 'cpu':
        raise ToolError(f'OpenVINO runs on the CPU here, not on {device}; '
                        f'use --device cpu.')
    import_openvino()


def import_openvino():
    """The openvino module, or a one-line error naming the pip command."""
    try:
        import openvino
    except ImportError:
        raise ToolError(f'OpenVINO files need the openvino extra: {INSTALL}.')
    return openvino


def read_ir(xml_file: str):
    """``xml_file`` and its ``.bin`` as an ``openvino.Model``, or one line
    saying which file is missing or damaged."""
    ov = import_openvino()
    bin_file = osp.splitext(xml_file)[0] + '.bin'
    if not osp.isfile(bin_file):
        raise CheckpointError(
            f'{xml_file!r} has no weights file beside it ({bin_file!r}); '
            f'copy the .xml and the .bin together.')
    try:
        return ov.Core().read_model(xml_file)
    except RuntimeError as exc:
        reason = ('its weights file is shorter than the model needs '
                  '(truncated)' if 'Incorrect weights in bin file' in str(exc)
                  else str(exc).strip().splitlines()[-1])
        raise CheckpointError(
            f'{xml_file!r}: OpenVINO cannot read it: {reason}; export it '
            f'again with tools/export_openvino.py.') from None


def ir_metadata(model) -> Dict[str, str]:
    """What tools/export_openvino.py recorded in the IR (the ONNX file's
    metadata and the precision), by name."""
    if not model.has_rt_info([RT_INFO_KEY]):
        return {}
    return {
        key: str(value.astype(str)) if hasattr(value, 'astype') else str(value)
        for key, value in model.get_rt_info()[RT_INFO_KEY].items()
    }


class OpenVinoSession:
    """An IR compiled for the CPU, as ``runtimes.Session`` says: ``file``,
    an ``.xml``, or an ``openvino.Model``; ``options``: OpenVINO
    properties."""

    def __init__(self,
                 file: Union[str, object],
                 device: Optional[str] = None,
                 threads: Optional[int] = None,
                 profile: Optional[str] = None,
                 options: Optional[dict] = None) -> None:
        check_openvino(device or 'cpu')
        self.model = read_ir(file) if isinstance(file, str) else file
        properties = dict(PERF_COUNT=bool(profile))
        if threads:
            properties.update(INFERENCE_NUM_THREADS=threads)
        properties.update(options or {})
        self.compiled = compile_ir(self.model, properties)
        self.request = self.compiled.create_infer_request()
        self.profiled: List[Dict[Tuple[str, ...], float]] = []

    def run(self, image: np.ndarray) -> List[np.ndarray]:
        results = self.request.infer({'image': image})
        return [results[output] for output in self.compiled.outputs]

    def record_profile(self) -> None:
        """The last run's ms per node, kept; a node OpenVINO split off one
        is named ``name/suffix``."""
        spent: Dict[Tuple[str, ...], float] = {}
        for info in self.request.get_profiling_info():
            key = (info.node_name, info.node_name.split('/')[0])
            spent[key] = (
                spent.get(key, 0.0) + info.real_time.total_seconds() * 1e3)
        self.profiled.append(spent)

    def metadata(self) -> Dict[str, str]:
        return ir_metadata(self.model)

    def precisions(self) -> Optional[Dict[str, int]]:
        return layer_precisions(self.compiled)

    def report(self) -> Optional[str]:
        return precision_report(self.metadata(), self.precisions())

    def node_times(self, runs: int) -> Dict[Tuple[str, ...], float]:
        """Mean ms per node over the last ``runs`` runs (profiled)."""
        if len(self.profiled) < runs:
            raise RuntimeError(f'{len(self.profiled)} runs profiled, '
                               f'{runs} expected')
        spent: Dict[Tuple[str, ...], float] = {}
        for counters in self.profiled[-runs:]:
            for key, ms in counters.items():
                spent[key] = spent.get(key, 0.0) + ms / runs
        return spent


def compile_properties(model, options: Optional[dict] = None) -> dict:
    """What ``compile_ir`` asks OpenVINO for: the precision ``model``
    records, bf16 where tools/export_openvino.py marked it so, else f32
    (with INT8 where quantised), not the bf16 OpenVINO would pick by
    itself; then ``options``."""
    bf16 = ir_metadata(model).get('precision') == 'bf16'
    properties = dict(INFERENCE_PRECISION_HINT='bf16' if bf16 else 'f32')
    properties.update(options or {})
    return properties


def compile_ir(model, options: Optional[dict] = None):
    """``model`` compiled for the CPU as ``compile_properties`` asks."""
    ov = import_openvino()
    properties = compile_properties(model, options)
    try:
        return ov.Core().compile_model(model, 'CPU', properties)
    except RuntimeError as exc:
        raise ToolError(
            f'OpenVINO cannot compile the model with '
            f'{properties}: {str(exc).strip().splitlines()[-1]}') from None


def layer_precisions(compiled) -> Dict[str, int]:
    """How many weighted layers the compiled model runs in each precision,
    by its execution graph: what OpenVINO decided on this CPU, not what it
    was asked."""
    counts: Counter = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info['layerType'].astype(str) in WEIGHTED_LAYERS:
            precision = info['runtimePrecision'].astype(str)
            counts[PRECISION_NAMES.get(precision, precision)] += 1
    return dict(counts)


def precision_report(metadata: Dict[str, str], counts: Dict[str, int]) -> str:
    """One line: the precision an IR records (its ``metadata``), how many
    layers OpenVINO runs in which precision on this CPU
    (``layer_precisions``), and what the CPU lacks for the recorded one
    to pay."""
    recorded = metadata.get('precision', 'fp32')
    return (f'OpenVINO runs this {recorded} IR with '
            f'{describe_precisions(counts)} here ({cpu_description()})'
            f'{lacks_clause(recorded)}')


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
        raise ToolError(f'INT8 needs NNCF: {INSTALL}.')
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


def convert_onnx(onnx_file: str,
                 out: str,
                 precision: str = 'fp32',
                 calibration: Optional[List[np.ndarray]] = None) -> None:
    """``onnx_file`` written as an IR of ``precision`` (``to_ir``, the
    default layers kept in fp32) to ``out``."""
    save_ir(to_ir(onnx_file, precision, calibration), out)
