"""The onnxruntime runtime: the deployed model exported to ONNX and run as
tools/test.py runs a file."""
import copy
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS

from ...errors import ToolError
from ...models.deploy import deploy_model
from ...models.exported_detector import use_exported_file
from ...models.onnx_detector import onnx_providers, onnx_session
from ...patches.mmengine import image_preprocessing
from ..onnx_export import ExportedPart, write_onnx
from ..time_breakdown import onnx_breakdown
from .inputs import image_sample
from .settings import Case


def check_onnxruntime(device: torch.device) -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ToolError('the onnxruntime setting needs onnxruntime: pip '
                        'install onnxruntime (onnxruntime-gpu for CUDA).')
    onnx_providers(str(device))


def to_pixels(x: torch.Tensor, detector: BaseDetector) -> torch.Tensor:
    """The image (BGR pixels) that the detector's preprocessing turns into
    ``x``: an exported detector normalises inside its graph."""
    pre = image_preprocessing(detector.data_preprocessor)
    pixels = x.float().cpu() * pre['std'] + pre['mean']
    return pixels.flip(1) if pre['swap_channels'] else pixels


class OnnxRunner:
    """The case's part exported (deploy mode) into its folder and run by
    onnxruntime: features of a backbone, or a detector's predictions with
    masks pasted. The file is exported once per run of the tool: the
    OpenVINO settings convert the same one."""

    def __init__(self, case: Case) -> None:
        part, x = case.part, case.x
        detector = copy.deepcopy(case.contender.detector).eval()
        deploy_model(detector)
        exported = ExportedPart(
            detector, 'backbone' if part == 'backbone' else 'detector')
        self.onnx_file = f'{case.folder}/{case.label}-{part}.onnx'
        if not osp.exists(self.onnx_file):
            write_onnx(exported.eval(), tuple(x.shape[-2:]), self.onnx_file)
        self.case = case
        if part == 'backbone':
            self.feed = {'image': x.float().cpu().numpy()}
        else:
            self.inputs = [to_pixels(x, detector)[0]]
            self.samples = [image_sample(x.shape[-2:])]
        self.session_options = dict(
            intra_op_num_threads=torch.get_num_threads())
        self.session = self.build_session(self.session_options)

    def build_session(self, session_options: dict):
        """An onnxruntime session for a backbone, a detector built on one
        (mmdet's interface) otherwise."""
        device = str(self.case.device)
        if self.case.part == 'backbone':
            return onnx_session(self.onnx_file, device, session_options)
        cfg = copy.deepcopy(self.case.contender.cfg)
        use_exported_file(cfg, self.onnx_file)
        cfg.model.update(device=device, session_options=session_options)
        return MODELS.build(cfg.model)

    def run(self, session) -> Tuple[torch.Tensor, ...]:
        if self.case.part == 'backbone':
            return tuple(
                torch.from_numpy(o) for o in session.run(None, self.feed))
        session(self.inputs, self.samples)
        return ()

    def __call__(self) -> Tuple[torch.Tensor, ...]:
        return self.run(self.session)

    def features(self) -> Tuple[torch.Tensor, ...]:
        return self()  # an exported backbone holds its input already

    def precisions(self) -> Optional[str]:
        return None  # fp32: onnxruntime's CPU and CUDA providers

    def breakdown(self, runs: int) -> Optional[Dict[str, float]]:
        if self.case.device.type == 'cuda':
            return None  # onnxruntime's CUDA node times are launch times
        profiled = self.build_session(
            dict(
                self.session_options,
                enable_profiling=True,
                profile_file_prefix=f'{self.case.folder}/profile'))
        return onnx_breakdown(self.onnx_file, lambda: self.run(profiled),
                              profiled.session, runs)
