"""The PyTorch runtime: a model in eval or deploy mode, optionally
channels_last, bf16 or compiled, as its ``Setting`` says."""
import copy
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmdet.models.detectors import BaseDetector

from ...deploy.time_breakdown import torch_breakdown
from ...models.bn_folding import deploy_model
from .inputs import image_sample
from .settings import Case, Setting
from .timing import sync


def prepare(model: nn.Module, setting: Setting,
            device: torch.device) -> nn.Module:
    model.to(device).eval()
    if setting.deploy:
        deploy_model(model, channels_last=setting.channels_last)
    if setting.compile:
        # Constant weights: inductor folds them into fused kernels.
        options = dict(freezing=True)
        if isinstance(model, BaseDetector):
            model.backbone = torch.compile(model.backbone, options=options)
            model.neck = torch.compile(model.neck, options=options)
        else:
            model = torch.compile(model, options=options)
    return model


def autocast(setting: Setting, device: torch.device) -> torch.autocast:
    return torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=setting.bf16)


def autocast_features(detector: BaseDetector, device: torch.device) -> None:
    """bf16 for backbone and neck only: mmcv's NMS has no bf16 kernel, so
    heads and post-processing stay fp32."""
    extract_feat = detector.extract_feat

    def extract_feat_bf16(x: torch.Tensor) -> tuple:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            feats = extract_feat(x)
        return tuple(f.float() for f in feats)

    detector.extract_feat = extract_feat_bf16


def inference_step(model: nn.Module, x: torch.Tensor, setting: Setting,
                   device: torch.device) -> Callable[[], None]:
    """One batch-1 forward: features for a backbone, ``predict`` (with
    post-processing) for a detector."""
    samples = [image_sample(x.shape[-2:])]
    detector = isinstance(model, BaseDetector)
    if detector and setting.bf16:
        autocast_features(model, device)

    def step() -> None:
        if detector:
            with torch.no_grad():
                model.predict(x, samples, rescale=False)
        else:
            with torch.no_grad(), autocast(setting, device):
                model(x)
        sync(device)

    return step


class TorchRunner:
    """A copy of the case's model, prepared as its setting says."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.model = prepare(
            copy.deepcopy(case.contender.module(case.part)), case.setting,
            case.device)
        self.step = inference_step(self.model, case.x, case.setting,
                                   case.device)

    def __call__(self) -> None:
        self.step()

    def features(self) -> Sequence[torch.Tensor]:
        with torch.no_grad(), autocast(self.case.setting, self.case.device):
            return self.model(self.case.x)

    def precisions(self) -> Optional[str]:
        return None  # the setting says it: fp32, or bf16 autocast

    def breakdown(self, runs: int) -> Optional[Dict[str, float]]:
        return torch_breakdown(self.model, self.step, runs,
                               lambda: sync(self.case.device))
