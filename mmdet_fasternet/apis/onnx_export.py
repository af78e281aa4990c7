"""tools/export_onnx.py: a FasterNet model to ONNX, dynamic height and width.

Parts: ``backbone`` (one output per stage), ``neck`` (backbone + FPN) and,
for single-stage detectors such as RetinaNet, ``detector``: every level's
class scores and box deltas, i.e. the whole network before post-processing
(decoding and NMS stay outside ONNX, as without mmdeploy mmdet has no
exportable NMS). The exported model is checked against PyTorch with
onnxruntime at two input sizes.
"""
import argparse
import os
import os.path as osp
import tempfile
from typing import List, Tuple

import torch
import torch.nn as nn

from ..errors import ToolError, refuse_overwrite
from ..models.checkpoint_fit import load_state_strictly
from ..models.deploy import deploy_model
from ..safe_loading import check_checkpoint_file, read_checkpoint
from .cli import check_shape
from .flops import build_detector, load_model_config
from .numerics import max_relative_error

PARTS = ('backbone', 'neck', 'detector')
RTOL = 1e-4
MIN_SIZE, MAX_SIZE = 64, 8192


class ExportedPart(nn.Module):
    """The part of a detector that goes into the ONNX file."""

    def __init__(self, detector: nn.Module, part: str) -> None:
        super().__init__()
        self.detector = detector
        self.part = part

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.part == 'backbone':
            return tuple(self.detector.backbone(x))
        feats = self.detector.extract_feat(x)
        if self.part == 'neck':
            return tuple(feats)
        cls_scores, bbox_preds = self.detector.bbox_head(feats)[:2]
        return tuple(cls_scores) + tuple(bbox_preds)

    def weight_bytes(self) -> int:
        modules = [self.detector.backbone]
        if self.part != 'backbone':
            modules.append(self.detector.neck)
        if self.part == 'detector':
            modules.append(self.detector.bbox_head)
        return sum(t.numel() * t.element_size() for m in modules
                   for t in list(m.parameters()) + list(m.buffers()))

    def output_names(self, num_outputs: int) -> List[str]:
        if self.part != 'detector':
            return [f'{self.part}_{i}' for i in range(num_outputs)]
        levels = num_outputs // 2
        return ([f'cls_score_{i}' for i in range(levels)] +
                [f'bbox_pred_{i}' for i in range(levels)])


def check_args(args: argparse.Namespace) -> None:
    """Every argument, before anything is built."""
    if not args.out.endswith('.onnx'):
        raise ToolError(f'--out must end with .onnx, got {args.out!r}.')
    refuse_overwrite(args.out, '--out', args.force)
    if args.weights:
        check_checkpoint_file(args.weights, '--weights')
    check_shape(args.shape, MIN_SIZE)


def build_part(args: argparse.Namespace) -> ExportedPart:
    """The ``--part`` of the config's detector with ``--weights`` loaded,
    in deploy mode unless ``--no-deploy``."""
    detector = build_detector(load_model_config(args.config))
    if args.part == 'detector' and hasattr(detector, 'roi_head'):
        raise ToolError(
            f'--part detector: {type(detector).__name__} is a two-stage '
            f'detector; its RoI stage needs NMS-selected proposals, which '
            f'ONNX export without mmdeploy cannot produce. Export '
            f'--part neck, or a single-stage detector such as RetinaNet.')
    if args.weights:
        load_state_strictly(detector, read_checkpoint(args.weights),
                            args.weights)
    else:
        print('warning: no --weights given; exporting untrained weights')
    detector.eval()
    if not args.no_deploy:
        deploy_model(detector)
    return ExportedPart(detector, args.part).eval()


def write_onnx(part: ExportedPart, shape: Tuple[int, int], out: str) -> None:
    """Write ``out`` atomically: a failed export leaves no partial file."""
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        num_outputs = len(part(x))
    dims = ({
        2: torch.export.Dim('height', min=MIN_SIZE, max=MAX_SIZE),
        3: torch.export.Dim('width', min=MIN_SIZE, max=MAX_SIZE)
    }, )
    folder = osp.dirname(osp.abspath(out))
    fd, tmp = tempfile.mkstemp(suffix='.onnx', dir=folder)
    os.close(fd)
    try:
        torch.onnx.export(
            part, (x, ),
            tmp,
            input_names=['image'],
            output_names=part.output_names(num_outputs),
            dynamic_shapes=dims,
            dynamo=True,
            external_data=False,
            verbose=False)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def verify(part: ExportedPart, out: str,
           shapes: List[Tuple[int, int]]) -> List[float]:
    """Largest relative difference between onnxruntime and PyTorch, per
    input size."""
    import onnxruntime
    session = onnxruntime.InferenceSession(
        out, providers=['CPUExecutionProvider'])
    errors = []
    for shape in shapes:
        x = torch.randn(
            1, 3, *shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = [t.numpy() for t in part(x)]
        got = session.run(None, {'image': x.numpy()})
        if [g.shape for g in got] != [e.shape for e in expected]:
            raise ToolError(f'{out}: output shapes at input {shape} differ '
                            f'from PyTorch: {[g.shape for g in got]} vs '
                            f'{[e.shape for e in expected]}.')
        errors.append(max_relative_error(got, expected))
    return errors


def export(args: argparse.Namespace) -> None:
    """tools/export_onnx.py: write ``args.out`` and check it against
    PyTorch at the traced size and at another one (dynamic axes)."""
    check_args(args)
    part = build_part(args)
    write_onnx(part, tuple(args.shape), args.out)
    shapes = [tuple(args.shape), (args.shape[0] + 97, args.shape[1] + 45)]
    errors = verify(part, args.out, shapes)
    size_mib = osp.getsize(args.out) / 2**20
    weights_mib = part.weight_bytes() / 2**20
    print(f'wrote {args.out}: {args.part} of {args.config}, '
          f'{"eval" if args.no_deploy else "deploy"} mode, dynamic height '
          f'and width; {size_mib:.1f} MiB for {weights_mib:.1f} MiB of '
          f'weights')
    for shape, error in zip(shapes, errors):
        print(f'onnxruntime vs PyTorch at {shape[0]}x{shape[1]}: max '
              f'relative difference {error:.1e}')
    if max(errors) > RTOL:
        raise ToolError(f'{args.out}: onnxruntime differs from PyTorch by '
                        f'{max(errors):.1e} (> {RTOL:.0e}); the file was '
                        f'kept for inspection.')
