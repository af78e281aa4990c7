"""tools/export_onnx.py: a FasterNet model to ONNX, dynamic height and width.

Parts: ``backbone`` (one output per stage), ``neck`` (backbone + FPN) and
``detector``: the whole detector, RetinaNet or Mask/Faster R-CNN, from the
resized image to boxes, scores, labels and mask probabilities, NMS and
RoIAlign included (``models/detector_graph.py``), with the class names and
the preprocessing in the file's metadata. The exporter is torch's dynamo
exporter (``torch.onnx.export(dynamo=True)``, the default since torch 2.9):
its custom translation table turns our two custom ops into ONNX's
standard NonMaxSuppression and RoiAlign (opset 18,
``models/detector_graph_onnx.py``), which the TorchScript exporter,
deprecated there, could only do through its internals. The exported
model is checked against PyTorch with onnxruntime at two input sizes.
"""
import argparse
import json
import os.path as osp
from typing import TYPE_CHECKING, Dict, List, Tuple

import torch
import torch.nn as nn

from ..atomic_files import atomic_write
from ..config_files import load_model_config
from ..errors import ToolError, refuse_overwrite
from ..metainfo import config_metainfo
from ..models.build import build_detector
from ..models.checkpoint_fit import load_state_strictly
from ..models.deploy import deploy_model
from ..models.detector_graph import DetectorGraph
from ..models.detector_graph_onnx import ONNX_TRANSLATIONS
from ..safe_loading import check_checkpoint_file, read_checkpoint
from .cli import add_shape_argument, check_shape
from .detector_check import (Agreement, compare_detections, onnxruntime_runs,
                             torch_runs)
from .numerics import max_relative_error

if TYPE_CHECKING:
    import onnx

PARTS = ('backbone', 'neck', 'detector')
DETECTOR_OUTPUTS = ['boxes', 'scores', 'labels', 'masks']
RTOL = 1e-4
MIN_SIZE, MAX_SIZE = 64, 8192


class ExportedPart(nn.Module):
    """The part of a detector that goes into the ONNX file."""

    def __init__(self, detector: nn.Module, part: str) -> None:
        super().__init__()
        self.part = part
        # The detector is registered once: as the graph's, or as ours.
        if part == 'detector':
            self.detector_graph = DetectorGraph(detector)
        else:
            self.detector_graph, self.backbone_and_neck = None, detector

    @property
    def detector(self) -> nn.Module:
        if self.detector_graph is not None:
            return self.detector_graph.detector
        return self.backbone_and_neck

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.detector_graph is not None:
            return self.detector_graph(x)
        if self.part == 'backbone':
            return tuple(self.detector.backbone(x))
        return tuple(self.detector.extract_feat(x))

    def weight_bytes(self) -> int:
        module = self.detector.backbone if self.part == 'backbone' else (
            self.detector if self.detector_graph else nn.ModuleList(
                [self.detector.backbone, self.detector.neck]))
        return sum(t.numel() * t.element_size()
                   for t in list(module.parameters()) + list(module.buffers()))

    def output_names(self, num_outputs: int) -> List[str]:
        if self.detector_graph is None:
            return [f'{self.part}_{i}' for i in range(num_outputs)]
        return DETECTOR_OUTPUTS[:num_outputs]


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
    cfg = load_model_config(args.config)
    detector = build_detector(cfg)
    detector.dataset_meta = config_metainfo(cfg)
    if args.weights:
        load_state_strictly(detector, read_checkpoint(args.weights),
                            args.weights)
    else:
        print('warning: no --weights given; exporting untrained weights')
    detector.eval()
    if not args.no_deploy:
        deploy_model(detector)
    return ExportedPart(detector, args.part).eval()


def example_input(part: ExportedPart, shape: Tuple[int, int],
                  seed: int) -> torch.Tensor:
    """Pixels (0 to 255) for a whole detector, else normalised values."""
    generator = torch.Generator().manual_seed(seed)
    if part.detector_graph is not None:
        return torch.rand(1, 3, *shape, generator=generator) * 255
    return torch.randn(1, 3, *shape, generator=generator)


def detector_metadata(part: ExportedPart) -> Dict[str, str]:
    """What a user of the file needs besides it: the class names, and what
    happens to the image inside the graph."""
    pre = part.detector_graph.preprocessing
    return dict(
        classes=json.dumps(list(part.detector.dataset_meta['classes'])),
        input='image: float32 (1, 3, H, W), the BGR pixels (0-255) of the '
        'image resized as the config\'s test pipeline resizes it; the graph '
        'normalises and pads it',
        outputs=', '.join(
            part.output_names(4 if part.detector_graph.with_mask else 3)) +
        ': boxes in the input image\'s pixels (x1, y1, x2, y2), masks as '
        '28x28 probabilities of each box\'s class',
        preprocessing=json.dumps(
            dict(
                mean=pre['mean'].flatten().tolist(),
                std=pre['std'].flatten().tolist(),
                swap_channels=pre['swap_channels'],
                pad_size_divisor=pre['pad_size_divisor'])))


def write_onnx(part: ExportedPart, shape: Tuple[int, int], out: str) -> None:
    """Write ``out`` atomically: a failed export leaves no partial file."""
    x = example_input(part, shape, seed=1)
    with torch.no_grad():
        num_outputs = len(part(x))
    dims = ({
        2: torch.export.Dim('height', min=MIN_SIZE, max=MAX_SIZE),
        3: torch.export.Dim('width', min=MIN_SIZE, max=MAX_SIZE)
    }, )
    with atomic_write(out, '.onnx') as tmp:
        torch.onnx.export(
            part, (x, ),
            tmp,
            input_names=['image'],
            output_names=part.output_names(num_outputs),
            dynamic_shapes=dims,
            dynamo=True,
            custom_translation_table=ONNX_TRANSLATIONS,
            external_data=False,
            verbose=False)
        import onnx
        model = onnx.load(tmp)
        check_dynamic_input(model, shape, out)
        if part.detector_graph is not None:
            onnx.helper.set_model_props(model, detector_metadata(part))
            onnx.save(model, tmp)


def check_dynamic_input(model: 'onnx.ModelProto', shape: Tuple[int, int],
                        out: str) -> None:
    """Refuse a graph fixed to the traced size. torch's exporter falls
    back to a static graph when tracing had to specialise height and width
    (where the coarsest feature map is down to one pixel); such a
    file fails at any other size."""
    dims = model.graph.input[0].type.tensor_type.shape.dim[2:]
    if not all(d.dim_param for d in dims):
        raise ToolError(
            f'{out}: traced at {shape[0]}x{shape[1]}, the graph is fixed to '
            'that size (the coarsest feature map is down to one pixel); '
            'export at a larger --shape, e.g. the default 320 512.')


def verify(part: ExportedPart, out: str,
           shapes: List[Tuple[int, int]]) -> List[Agreement]:
    """onnxruntime against PyTorch, per input size."""
    inputs = [example_input(part, shape, seed=0).numpy() for shape in shapes]
    if part.detector_graph is not None:
        return compare_detections(
            onnxruntime_runs(out), torch_runs(part.detector_graph), inputs,
            float(part.detector_graph.score_threshold),
            'onnxruntime vs PyTorch')
    import onnxruntime
    session = onnxruntime.InferenceSession(
        out, providers=['CPUExecutionProvider'])
    found = []
    for x in inputs:
        with torch.no_grad():
            expected = [t.numpy() for t in part(torch.from_numpy(x))]
        got = session.run(None, {'image': x})
        if [g.shape for g in got] != [e.shape for e in expected]:
            raise ToolError(f'{out}: output shapes at input {x.shape[2:]} '
                            f'differ from PyTorch: {[g.shape for g in got]} '
                            f'vs {[e.shape for e in expected]}.')
        found.append(Agreement(x.shape[2:], max_relative_error(got, expected)))
    return found


def export(args: argparse.Namespace) -> None:
    """tools/export_onnx.py: write ``args.out`` and check it against
    PyTorch at the traced size and at another one (dynamic axes)."""
    check_args(args)
    part = build_part(args)
    write_onnx(part, tuple(args.shape), args.out)
    shapes = [tuple(args.shape), (args.shape[0] + 97, args.shape[1] + 45)]
    agreements = verify(part, args.out, shapes)
    size_mib = osp.getsize(args.out) / 2**20
    weights_mib = part.weight_bytes() / 2**20
    print(f'wrote {args.out}: {args.part} of {args.config}, '
          f'{"eval" if args.no_deploy else "deploy"} mode, dynamic height '
          f'and width; {size_mib:.1f} MiB for {weights_mib:.1f} MiB of '
          f'weights')
    for agreement in agreements:
        print(agreement)
    worst = max(a.error for a in agreements)
    if worst > RTOL:
        why = (f'by {worst:.1e} (> {RTOL:.0e})' if worst < float('inf') else
               'in more detections than near-tied scores explain')
        raise ToolError(f'{args.out}: onnxruntime differs from PyTorch '
                        f'{why}; the file was kept for inspection.')


def export_parser() -> argparse.ArgumentParser:
    """tools/export_onnx.py's command line."""
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
    return parser
