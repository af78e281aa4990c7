"""What is measured: the parts, the settings both models of a row get, and
the models themselves."""
from dataclasses import dataclass
from typing import Dict, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import BaseDetector
from mmengine.config import Config

from ...config_files import find_config, load_model_config
from ...metainfo import config_metainfo
from ...models.build import build_detector

RESNET50 = dict(
    mask_rcnn='mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    retinanet='mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
PARTS = ('backbone', 'mask_rcnn', 'retinanet')


@dataclass(frozen=True)
class Setting:
    """How both models of a comparison are prepared and run; ``runtime``
    names the entry of ``runtimes.RUNTIMES`` that runs them."""
    name: str
    deploy: bool
    channels_last: bool
    bf16: bool
    compile: bool
    description: str
    runtime: str = 'torch'


SETTINGS = {
    s.name: s
    for s in (
        Setting('eval', False, False, False, False,
                'model.eval(), fp32, NCHW'),
        Setting(
            'deploy', True, True, False, False,
            'deploy_model(): BN folded (and FasterNet\'s fused '
            'kernels), channels_last, fp32'),
        Setting('deploy-bf16', True, True, True, False,
                'deploy + bf16 autocast'),
        Setting(
            'deploy-compile', True, True, False, True,
            'deploy + torch.compile (inductor, frozen weights) of '
            'backbone and neck: the same kernel fusion for both'),
        Setting(
            'onnxruntime',
            deploy=True,
            channels_last=False,
            bf16=False,
            compile=False,
            description='deploy_model(), exported to ONNX (a whole detector: '
            'NMS, RoIAlign and mask head in the graph, masks pasted on the '
            'host, as tools/test.py runs it) and run by onnxruntime (its CUDA '
            'provider with --device cuda)',
            runtime='onnxruntime'),
        Setting(
            'openvino',
            deploy=True,
            channels_last=False,
            bf16=False,
            compile=False,
            description='the onnxruntime setting\'s file converted to an '
            'OpenVINO IR (tools/export_openvino.py) and run by OpenVINO on '
            'the CPU in fp32',
            runtime='openvino'),
        Setting(
            'openvino-bf16',
            deploy=True,
            channels_last=False,
            bf16=False,
            compile=False,
            description='the same IR run in bf16 (tools/export_openvino.py '
            '--precision bf16; pays with AMX or AVX-512 BF16)',
            runtime='openvino-bf16'),
        Setting(
            'openvino-int8',
            deploy=True,
            channels_last=False,
            bf16=False,
            compile=False,
            description='the same IR quantised to INT8 by NNCF (calibrated '
            'on the timed image; pays with VNNI or AMX)',
            runtime='openvino-int8'),
    )
}


@dataclass
class Contender:
    """One model of a comparison: its config and built detector."""
    cfg: Config
    detector: BaseDetector

    def module(self, part: str) -> nn.Module:
        return self.detector.backbone if part == 'backbone' else self.detector


@dataclass
class Case:
    """One model of one row, as a runtime is handed it: ``x`` is the
    setting's input, ``folder`` a scratch folder for exported files."""
    label: str
    contender: Contender
    part: str
    setting: Setting
    x: torch.Tensor
    device: torch.device
    folder: str


def keep_every_detection(detector: BaseDetector) -> None:
    """Score threshold 0: random weights then still produce the full 100
    detections (and mask-head work) per image, the same for both models."""
    test_cfg = detector.test_cfg
    for cfg in (test_cfg.get('rcnn'), test_cfg):
        if cfg is not None and 'score_thr' in cfg:
            cfg.score_thr = 0.0


def pair_of_models(part: str, arch: str) -> Dict[str, Contender]:
    """FasterNet-``arch`` and ResNet-50 (the detectors of ``part``, or Mask
    R-CNN's for backbones), by label."""
    detector_part = 'mask_rcnn' if part == 'backbone' else part
    names = {
        f'FasterNet-{arch.upper()}':
        find_config(f'{detector_part}_fasternet_{arch}.py'),
        'ResNet-50':
        RESNET50[detector_part],
    }
    contenders = {}
    for label, name in names.items():
        cfg = load_model_config(name)
        detector = build_detector(cfg)
        detector.dataset_meta = config_metainfo(cfg)
        keep_every_detection(detector)
        contenders[label] = Contender(cfg, detector)
    return contenders


def training_models(arch: str) -> Dict[str, Tuple[str, dict]]:
    """The Mask R-CNNs whose training step is timed, by label: config and
    options for its backbone."""
    config = find_config(f'mask_rcnn_fasternet_{arch}.py')
    return {
        f'FasterNet-{arch.upper()}': (config, {}),
        f'FasterNet-{arch.upper()} with_cp': (config, dict(with_cp=True)),
        # mmdet's config freezes ResNet's stem and first stage and keeps its
        # BN in eval mode; FasterNet trains everything, and so does this.
        'ResNet-50':
        (RESNET50['mask_rcnn'], dict(frozen_stages=-1, norm_eval=False)),
    }
