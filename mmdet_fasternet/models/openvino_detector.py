"""An exported detector as an OpenVINO IR (``.xml`` + ``.bin``, written by
tools/export_openvino.py), run by OpenVINO on the CPU
(``exported_detector.py``).

The IR carries what the ONNX file's metadata carries (class names,
preprocessing) in its runtime info, under ``fasternet``. OpenVINO runs an
fp32 model in bf16 where the CPU can (AMX, AVX-512 BF16): here it is asked
for the precision the file records (fp32, bf16, or INT8 where quantised).
What it then runs is its own decision per CPU (a bf16 IR runs in fp32 on
an AVX2 CPU, and was compiled for bf16 on an AVX-512 CPU without BF16):
``precision_report`` reads it back from the compiled model and says it.
"""
import os.path as osp
from collections import Counter
from typing import Dict, Optional, Sequence

import numpy as np
from mmdet.registry import MODELS
from mmengine.logging import print_log

from ..cpu import cpu_description, lacks
from ..errors import CheckpointError, ToolError
from .exported_detector import ExportedDetector, recorded_classes

RT_INFO_KEY = 'fasternet'
INSTALL = "pip install 'mmdet-fasternet[openvino]' (openvino and nncf)"
# The execution graph's layers that hold weights: their precision is what
# bf16 or INT8 changes.
WEIGHTED_LAYERS = ('Convolution', 'Deconvolution', 'FullyConnected', 'MatMul')
# The execution graph's precision names, as the tools name precisions.
PRECISION_NAMES = {'f32': 'fp32', 'f16': 'fp16', 'u8': 'int8', 'i8': 'int8'}


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


@MODELS.register_module()
class OpenVinoDetector(ExportedDetector):
    """``file``: an IR written by tools/export_openvino.py, compiled for
    the CPU with ``compile_options`` (OpenVINO properties, e.g.
    ``INFERENCE_NUM_THREADS``); the rest: see ``ExportedDetector``."""

    def __init__(self,
                 file: str,
                 classes: Sequence[str],
                 mask_head: Optional[dict] = None,
                 rcnn_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 compile_options: Optional[dict] = None) -> None:
        model = read_ir(file)
        super().__init__(file, recorded_classes(ir_metadata(model)), classes,
                         mask_head, rcnn_test_cfg, data_preprocessor)
        self.compiled = compile_ir(model, compile_options)
        self.request = self.compiled.create_infer_request()
        report = precision_report(model, layer_precisions(self.compiled))
        print_log(f'{file}: {report}', logger='current')

    def run(self, image: np.ndarray) -> Sequence[np.ndarray]:
        results = self.request.infer({'image': image})
        return [results[output] for output in self.compiled.outputs]


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


def describe_precisions(counts: Dict[str, int]) -> str:
    """E.g. '72 of 74 weighted layers in int8, 2 in fp32'."""
    if not counts:
        return 'no weighted layers'
    total = sum(counts.values())
    (most, n), *rest = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ', '.join([f'{n} of {total} weighted layers in {most}'] +
                     [f'{m} in {precision}' for precision, m in rest])


def lacks_clause(precision: str) -> str:
    """'; this CPU has no ...' where it lacks what ``precision`` needs to
    run faster than fp32 (``cpu.lacks``), else ''."""
    missing = lacks(precision)
    return (f'; this CPU has no {missing}, which {precision} needs to run '
            f'faster than fp32 (docs/deploy.md)' if missing else '')


def precision_report(model, counts: Dict[str, int]) -> str:
    """One line: the precision ``model`` records, how many layers OpenVINO
    runs in which precision on this CPU (``layer_precisions``), and what
    the CPU lacks for the recorded one to pay."""
    recorded = ir_metadata(model).get('precision', 'fp32')
    return (f'OpenVINO runs this {recorded} IR with '
            f'{describe_precisions(counts)} here ({cpu_description()})'
            f'{lacks_clause(recorded)}')
