"""A FasterNet model to ONNX, dynamic height and width (tools/export_onnx.py,
``export_onnx``).

Parts: ``backbone`` (one output per stage), ``neck`` (backbone + FPN) and
``detector``: the whole detector, RetinaNet or Mask/Faster R-CNN, from the
resized image to boxes, scores, labels and mask probabilities, NMS and
RoIAlign included (``graph.py``), with the class names, the preprocessing
and the names of its pieces in the file's metadata. The exporter is
torch's dynamo exporter (``torch.onnx.export(dynamo=True)``, the default
since torch 2.9): its custom translation table turns our two custom ops
into ONNX's standard NonMaxSuppression and RoiAlign (opset 18,
``graph_onnx.py``), which the TorchScript exporter, deprecated there,
could only do through its internals. The exported model is checked against
PyTorch with onnxruntime at two input sizes.
"""
import json
import os.path as osp
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..atomic_files import atomic_write
from ..config_files import load_model_config
from ..errors import ToolError, refuse_overwrite
from ..metainfo import config_metainfo
from ..models.bn_folding import deploy_model
from ..models.build import build_detector
from ..models.checkpoint_fit import load_state_strictly
from ..safe_loading import check_checkpoint_file, read_checkpoint
from .checks import (DEFAULT_SHAPE, RTOL, Agreement, check_inputs,
                     check_shapes, compare_detections, exported_runs,
                     torch_runs)
from .graph import DetectorGraph
from .graph_onnx import ONNX_TRANSLATIONS
from .numerics import max_relative_error
from .onnxruntime_runtime import OnnxSession

if TYPE_CHECKING:
    import onnx

# What goes into the file: a backbone, backbone and neck, or a whole
# detector.
EXPORTED_PARTS = ('backbone', 'neck', 'detector')
DETECTOR_OUTPUTS = ['boxes', 'scores', 'labels', 'masks']
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


def check_trace_shape(shape: Sequence[int]) -> None:
    """A traceable (height, width)."""
    if len(shape) != 2 or min(shape) < MIN_SIZE or max(shape) > MAX_SIZE:
        raise ToolError(f'shape (--shape) must be two sizes (height, width) '
                        f'from {MIN_SIZE} to {MAX_SIZE}, got {list(shape)}.')


def build_part(config: str, weights: Optional[str], part: str,
               deploy: bool) -> ExportedPart:
    """The ``part`` of the config's detector with ``weights`` loaded, in
    deploy mode (BN folded) with ``deploy``."""
    cfg = load_model_config(config)
    detector = build_detector(cfg)
    detector.dataset_meta = config_metainfo(cfg)
    if weights:
        load_state_strictly(detector, read_checkpoint(weights), weights)
    else:
        print('warning: no weights (--weights) given; exporting untrained '
              'weights')
    detector.eval()
    if deploy:
        deploy_model(detector)
    return ExportedPart(detector, part).eval()


def detector_metadata(part: ExportedPart) -> Dict[str, str]:
    """What a user of the file needs besides it: the class names, and what
    happens to the image inside the graph."""
    pre = part.detector_graph.preprocessing
    return dict(
        classes=json.dumps(list(part.detector.dataset_meta['classes'])),
        input='image: float32 (1, 3, H, W), the BGR pixels (0-255) of the '
        'image resized as the config\'s test pipeline resizes it; the graph '
        'normalises and pads it',
        names=json.dumps(part.detector_graph.names_in(part)),
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
    x = torch.from_numpy(
        check_inputs([shape], part.detector_graph is not None, seed=1)[0])
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
    inputs = check_inputs(shapes, part.detector_graph is not None)
    if part.detector_graph is not None:
        return compare_detections(
            exported_runs(out, out), torch_runs(part.detector_graph), inputs,
            float(part.detector_graph.score_threshold),
            'onnxruntime vs PyTorch')
    session = OnnxSession(out, 'cpu')
    found = []
    for x in inputs:
        with torch.no_grad():
            expected = [t.numpy() for t in part(torch.from_numpy(x))]
        got = session.run(x)
        if [g.shape for g in got] != [e.shape for e in expected]:
            raise ToolError(f'{out}: output shapes at input {x.shape[2:]} '
                            f'differ from PyTorch: {[g.shape for g in got]} '
                            f'vs {[e.shape for e in expected]}.')
        found.append(Agreement(x.shape[2:], max_relative_error(got, expected)))
    return found


def export_onnx(config: str,
                out: str,
                weights: Optional[str] = None,
                part: str = 'detector',
                shape: Sequence[int] = DEFAULT_SHAPE,
                deploy: bool = True,
                force: bool = False) -> Path:
    """Write ``out``: the ``part`` (``EXPORTED_PARTS``) of the config's
    detector with ``weights`` (None: untrained), traced at ``shape``
    (height, width), BN folded unless not ``deploy``; then check it against
    PyTorch at that size and another one (dynamic axes) and print how they
    agree. An existing ``out`` is kept unless ``force``. Raises
    ``ToolError`` where onnxruntime differs by more than ``RTOL`` (the
    file is kept for inspection)."""
    if not str(out).endswith('.onnx'):
        raise ToolError(f'out (--out) must end with .onnx, got {out!r}.')
    if part not in EXPORTED_PARTS:
        raise ToolError(f'part (--part) must be one of '
                        f'{", ".join(EXPORTED_PARTS)}, got {part!r}.')
    out = str(out)
    refuse_overwrite(out, 'out (--out)', force)
    if weights:
        check_checkpoint_file(weights, 'weights (--weights)')
    check_trace_shape(shape)
    exported = build_part(config, weights, part, deploy)
    write_onnx(exported, tuple(shape), out)
    agreements = verify(exported, out, check_shapes(shape))
    size_mib = osp.getsize(out) / 2**20
    weights_mib = exported.weight_bytes() / 2**20
    print(f'wrote {out}: {part} of {config}, '
          f'{"deploy" if deploy else "eval"} mode, dynamic height and width; '
          f'{size_mib:.1f} MiB for {weights_mib:.1f} MiB of weights')
    for agreement in agreements:
        print(agreement)
    worst = max(a.error for a in agreements)
    if worst > RTOL:
        why = (f'by {worst:.1e} (> {RTOL:.0e})' if worst < float('inf') else
               'in more detections than near-tied scores explain')
        raise ToolError(f'{out}: onnxruntime differs from PyTorch '
                        f'{why}; the file was kept for inspection.')
    return Path(out)
