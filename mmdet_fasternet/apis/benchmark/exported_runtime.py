"""The exported runtimes (``deploy.runtimes``): the deployed model
exported to ONNX, made into the runtime's file in the setting's precision,
and run as tools/test.py runs a file. The ONNX file is exported once per
run of the tool, and each runtime's file made once from it."""
import copy
import os.path as osp
from typing import Callable, Dict, Optional, Tuple

import torch
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS

from ...deploy.exported_detector import use_exported_file
from ...deploy.graph import image_preprocessing
from ...deploy.onnx_export import ExportedPart, write_onnx
from ...deploy.onnxruntime_runtime import check_onnxruntime
from ...deploy.precisions import describe_precisions
from ...deploy.runtimes import RUNTIMES, open_session
from ...deploy.time_breakdown import exported_breakdown
from ...models.bn_folding import deploy_model
from .inputs import image_sample
from .settings import Case


def exported_check(format: str) -> Callable[[torch.device], None]:
    """The file is exported and checked with onnxruntime, then run by the
    ``format``'s runtime: both must run on the device."""

    def check(device: torch.device) -> None:
        RUNTIMES[format].check(str(device))
        if format != 'onnx':
            check_onnxruntime(str(device))

    return check


def to_pixels(x: torch.Tensor, detector: BaseDetector) -> torch.Tensor:
    """The image (BGR pixels) that the detector's preprocessing turns into
    ``x``: an exported detector normalises inside its graph."""
    pre = image_preprocessing(detector.data_preprocessor)
    pixels = x.float().cpu() * pre['std'] + pre['mean']
    return pixels.flip(1) if pre['swap_channels'] else pixels


class ExportedRunner:
    """The case's part exported (deploy mode) into its folder and run by
    ``format``'s runtime in ``precision``: features of a backbone, or a
    detector's predictions with masks pasted. INT8 is calibrated on the
    timed image alone (what is timed does not depend on the calibration).
    """

    def __init__(self, case: Case, format: str, precision: str) -> None:
        part, x = case.part, case.x
        detector = copy.deepcopy(case.contender.detector).eval()
        deploy_model(detector)
        self.onnx_file = f'{case.folder}/{case.label}-{part}.onnx'
        if not osp.exists(self.onnx_file):
            exported = ExportedPart(
                detector, 'backbone' if part == 'backbone' else 'detector')
            write_onnx(exported.eval(), tuple(x.shape[-2:]), self.onnx_file)
        self.case, self.format = case, format
        if part == 'backbone':
            self.image = x.float().cpu().numpy()
        else:
            self.inputs = [to_pixels(x, detector)[0]]
            self.samples = [image_sample(x.shape[-2:])]
            self.image = self.inputs[0][None].numpy()
        runtime = RUNTIMES[format]
        self.file = self.onnx_file
        if runtime.convert is not None:
            self.file = (f'{self.onnx_file[:-len(".onnx")]}-{precision}'
                         f'{runtime.suffix}')
            if not osp.exists(self.file):
                calibration = [self.image] if precision == 'int8' else None
                runtime.convert(self.onnx_file, self.file, precision,
                                calibration)
        self.threads = torch.get_num_threads()
        self.opened = self.open()

    def open(self, profile: Optional[str] = None):
        """The file opened by its runtime: a session for a backbone, a
        detector built on one (mmdet's interface) otherwise."""
        device = str(self.case.device)
        if self.case.part == 'backbone':
            return open_session(self.file, device, self.threads, profile)
        cfg = copy.deepcopy(self.case.contender.cfg)
        use_exported_file(
            cfg,
            self.file,
            device=device,
            threads=self.threads,
            profile=profile)
        return MODELS.build(cfg.model)

    def session(self, opened):
        return opened if self.case.part == 'backbone' else opened.session

    def run(self, opened) -> Tuple[torch.Tensor, ...]:
        if self.case.part == 'backbone':
            return tuple(torch.from_numpy(o) for o in opened.run(self.image))
        opened(self.inputs, self.samples)
        return ()

    def __call__(self) -> Tuple[torch.Tensor, ...]:
        return self.run(self.opened)

    def features(self) -> Tuple[torch.Tensor, ...]:
        return self()  # an exported backbone holds its input already

    def precisions(self) -> Optional[str]:
        counts = self.session(self.opened).precisions()
        return None if counts is None else describe_precisions(counts)

    def breakdown(self, runs: int) -> Optional[Dict[str, float]]:
        if self.case.device.type == 'cuda':
            return None  # onnxruntime's CUDA node times are launch times
        profiled = self.open(profile=f'{self.case.folder}/profile')
        return exported_breakdown(self.onnx_file, lambda: self.run(profiled),
                                  self.session(profiled), runs)


def exported_runner(
        format: str,
        precision: str = 'fp32') -> Callable[[Case], 'ExportedRunner']:
    """The runner of ``format``'s runtime in ``precision``."""
    return lambda case: ExportedRunner(case, format, precision)
