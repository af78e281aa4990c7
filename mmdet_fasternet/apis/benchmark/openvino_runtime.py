"""The OpenVINO runtimes: the onnxruntime runtime's ONNX file converted
by OpenVINO, fp32, bf16 or INT8, and run as tools/test.py runs an IR."""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import MODELS

from ...errors import ToolError
from ...models.exported_detector import use_exported_file
from ...models.openvino_detector import (compile_ir, describe_precisions,
                                         import_openvino, layer_precisions,
                                         read_ir)
from ..openvino_export import save_ir, to_ir
from ..time_breakdown import openvino_breakdown
from .onnxruntime_runtime import OnnxRunner, check_onnxruntime


def check_openvino(device: torch.device) -> None:
    if device.type != 'cpu':
        raise ToolError(f'the OpenVINO settings run on the CPU here, not on '
                        f'{device}; use --device cpu.')
    check_onnxruntime(device)  # the file is exported and checked with it
    import_openvino()


class CompiledBackbone:
    """A compiled backbone IR, called as an onnxruntime session is."""

    def __init__(self, compiled) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.outputs = compiled.outputs

    def run(self, names: None, feed: Dict[str,
                                          np.ndarray]) -> Sequence[np.ndarray]:
        results = self.request.infer(feed)
        return [results[output] for output in self.outputs]


class OpenVinoRunner(OnnxRunner):
    """fp32: the ONNX file as OpenVINO converts it; bf16: that, run in
    bf16; INT8: that, quantised by NNCF calibrated on the timed image alone
    (what is timed does not depend on the calibration)."""
    precision = 'fp32'

    def calibration(self) -> Optional[List[np.ndarray]]:
        if self.precision != 'int8':
            return None
        if self.case.part == 'backbone':
            return [self.feed['image']]
        return [self.inputs[0][None].numpy()]

    def build_session(self, session_options: dict):
        xml_file = f'{self.onnx_file[:-len(".onnx")]}-{self.precision}.xml'
        if not osp.exists(xml_file):
            save_ir(
                to_ir(self.onnx_file, self.precision, self.calibration()),
                xml_file)
        options = dict(
            INFERENCE_NUM_THREADS=session_options['intra_op_num_threads'],
            PERF_COUNT=bool(session_options.get('enable_profiling')))
        if self.case.part == 'backbone':
            return CompiledBackbone(compile_ir(read_ir(xml_file), options))
        cfg = copy.deepcopy(self.case.contender.cfg)
        use_exported_file(cfg, xml_file)
        cfg.model.update(compile_options=options)
        return MODELS.build(cfg.model)

    def precisions(self) -> Optional[str]:
        return describe_precisions(layer_precisions(self.session.compiled))

    def breakdown(self, runs: int) -> Optional[Dict[str, float]]:
        profiled = self.build_session(
            dict(self.session_options, enable_profiling=True))
        return openvino_breakdown(self.onnx_file, lambda: self.run(profiled),
                                  profiled.request, runs)


class Bf16OpenVinoRunner(OpenVinoRunner):
    precision = 'bf16'


class Int8OpenVinoRunner(OpenVinoRunner):
    precision = 'int8'
