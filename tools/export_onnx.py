"""Export a FasterNet model to ONNX with dynamic height and width.

Examples:
    python tools/export_onnx.py configs/retinanet_fasternet_s.py \\
        --weights work_dirs/retinanet_fasternet_s/epoch_12.pth \\
        --part detector --out retinanet_fasternet_s.onnx
    python tools/export_onnx.py configs/mask_rcnn_fasternet_s.py \\
        --weights CKPT --part neck --out fasternet_s_fpn.onnx

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

import numpy as np
import torch
import torch.nn as nn

from mmdet_fasternet.analysis import build_detector, load_model_config
from mmdet_fasternet.checkpointing import require_complete_checkpoint
from mmdet_fasternet.errors import ToolError
from mmdet_fasternet.models.deploy import deploy_model
from mmdet_fasternet.runtime import add_shape_argument, check_shape, run_cli
from mmdet_fasternet.weights import load_state_strictly, read_checkpoint

PARTS = ('backbone', 'neck', 'detector')
RTOL = 1e-4


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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export to ONNX (dynamic height and width) and check '
        'the file against PyTorch with onnxruntime')
    parser.add_argument('config', help='detector config file')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--weights', help='checkpoint to load (without: untrained weights)')
    parser.add_argument('--part', default='neck', choices=PARTS)
    add_shape_argument(parser, (320, 512), 'example input size for tracing')
    parser.add_argument(
        '--no-deploy',
        action='store_true',
        help='export eval mode instead of deploy mode (BN folded)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite --out if it exists')
    return parser.parse_args()


def check_args(args: argparse.Namespace) -> None:
    if not args.out.endswith('.onnx'):
        raise ToolError(f'--out must end with .onnx, got {args.out!r}.')
    if osp.exists(args.out) and not args.force:
        raise ToolError(f'--out {args.out!r} already exists; pass --force '
                        f'to overwrite it or choose another file.')
    if args.weights and not osp.isfile(args.weights):
        raise ToolError(f'--weights {args.weights!r} does not exist.')
    check_shape(args.shape, 64)


def build_part(args: argparse.Namespace) -> ExportedPart:
    detector = build_detector(load_model_config(args.config))
    if args.part == 'detector' and hasattr(detector, 'roi_head'):
        raise ToolError(
            f'--part detector: {type(detector).__name__} is a two-stage '
            f'detector; its RoI stage needs NMS-selected proposals, which '
            f'ONNX export without mmdeploy cannot produce. Export '
            f'--part neck, or a single-stage detector such as RetinaNet.')
    if args.weights:
        require_complete_checkpoint(args.weights, '--weights')
        load_state_strictly(detector, read_checkpoint(args.weights),
                            args.weights)
    else:
        print('warning: no --weights given; exporting untrained weights')
    detector.eval()
    if not args.no_deploy:
        deploy_model(detector)
    return ExportedPart(detector, args.part).eval()


def export(part: ExportedPart, shape: Tuple[int, int], out: str) -> None:
    """Write ``out`` atomically: a failed export leaves no partial file."""
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        num_outputs = len(part(x))
    dims = ({
        2: torch.export.Dim('height', min=64, max=8192),
        3: torch.export.Dim('width', min=64, max=8192)
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
        errors.append(
            max(
                float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-12))
                for g, e in zip(got, expected)))
    return errors


def main() -> None:
    args = parse_args()
    check_args(args)
    part = build_part(args)
    export(part, tuple(args.shape), args.out)
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


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
