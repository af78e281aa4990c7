"""An exported detector run by onnxruntime, as an mmdet model.

``tools/test.py CONFIG FILE.onnx`` puts it in the config's place, so the
file is evaluated through the same dataloader, test pipeline and
evaluator as a checkpoint. The file holds the network from the resized
image to the detections (``detector_graph.py``); what mmdet does after
that, here too: boxes back to the original image's scale, masks pasted
into it by mmdet's own mask head code.
"""
import json
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from ..errors import CheckpointError, ConfigError, ToolError, require_file
from ..metainfo import config_metainfo


def onnx_providers(device: Optional[str] = None) -> List:
    """The execution providers a session on ``device`` asks for ('cpu',
    'cuda[:N]'; None: CUDA where onnxruntime has it), or a one-line error
    where this onnxruntime cannot run on ``device``."""
    import onnxruntime
    if device is not None and not (device == 'cpu'
                                   or device.startswith('cuda')):
        raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got "
                          f'{device!r}.')
    available = onnxruntime.get_available_providers()
    providers: List = ['CPUExecutionProvider']
    if device is None or device.startswith('cuda'):
        index = int(device.split(':')[1]) if device and ':' in device else 0
        if 'CUDAExecutionProvider' in available:
            providers.insert(0,
                             ('CUDAExecutionProvider', dict(device_id=index)))
        elif device is not None:
            raise ToolError(
                f'onnxruntime has no CUDA provider here (it has '
                f'{", ".join(available)}); install onnxruntime-gpu or run on '
                f'the CPU.')
    return providers


def onnx_session(onnx_file: str,
                 device: Optional[str] = None,
                 session_options: Optional[dict] = None):
    """An onnxruntime session on ``device`` (see ``onnx_providers``);
    ``session_options``: attributes of its SessionOptions, e.g.
    ``intra_op_num_threads``."""
    import onnxruntime
    providers = onnx_providers(device)
    options = onnxruntime.SessionOptions()
    for name, value in (session_options or {}).items():
        if not hasattr(options, name):
            raise ConfigError(
                f'session_options: onnxruntime.SessionOptions has no '
                f'{name!r} (e.g. intra_op_num_threads, enable_profiling).')
        setattr(options, name, value)
    session = onnxruntime.InferenceSession(
        onnx_file, options, providers=providers)
    if (device or '').startswith('cuda') and ('CUDAExecutionProvider'
                                              not in session.get_providers()):
        raise ToolError(
            'onnxruntime could not load its CUDA provider (its log above '
            'says why; usually a missing CUDA or cuDNN library of the '
            'version onnxruntime-gpu was built for); fix that or run on the '
            'CPU.')
    return session


def onnx_classes(session) -> Optional[List[str]]:
    """The class names an exported file records, or None."""
    meta = session.get_modelmeta().custom_metadata_map
    return json.loads(meta['classes']) if 'classes' in meta else None


@MODELS.register_module()
class OnnxDetector(BaseModel):
    """``onnx_file``, exported with ``--part detector``; ``classes``: the
    config's, which must be the file's; ``mask_head`` and ``rcnn_test_cfg``
    paste the masks of a Mask R-CNN; ``device`` and ``session_options``:
    see ``onnx_session``."""

    def __init__(self,
                 onnx_file: str,
                 classes: Sequence[str],
                 mask_head: Optional[dict] = None,
                 rcnn_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 device: Optional[str] = None,
                 session_options: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.session = onnx_session(onnx_file, device, session_options)
        recorded = onnx_classes(self.session)
        if recorded is None:
            raise CheckpointError(
                f'{onnx_file!r} is not a whole detector exported by '
                f'tools/export_onnx.py --part detector (it records no class '
                f'names); export the detector with that option.')
        if list(recorded) != list(classes):
            raise CheckpointError(
                f'{onnx_file!r} was exported for {len(recorded)} classes '
                f'({", ".join(recorded[:3])}, ...), the config names '
                f'{len(classes)} ({", ".join(list(classes)[:3])}, ...); pass '
                f'the config it was exported from.')
        self.mask_head = MODELS.build(mask_head) if mask_head else None
        self.rcnn_test_cfg = ConfigDict(rcnn_test_cfg or {})

    def forward(self,
                inputs: List[torch.Tensor],
                data_samples: List[DetDataSample],
                mode: str = 'predict') -> List[DetDataSample]:
        if mode != 'predict':
            raise ValueError(f'OnnxDetector only predicts, not {mode!r}.')
        for image, sample in zip(inputs, data_samples):
            outputs = self.session.run(
                None, {'image': image.float()[None].cpu().numpy()})
            sample.pred_instances = self.instances(
                [torch.from_numpy(np.asarray(o)) for o in outputs],
                sample.metainfo)
        return data_samples

    def instances(self, outputs: List[torch.Tensor],
                  img_meta: dict) -> InstanceData:
        """mmdet's post-processing after the network, for one image."""
        boxes, scores, labels = outputs[:3]
        if self.mask_head is None:
            scale = boxes.new_tensor(img_meta['scale_factor']).repeat(2)
            return InstanceData(
                bboxes=boxes / scale, scores=scores, labels=labels)
        # The probabilities are already those of each box's class: mmdet's
        # head picks its channel by label, here the only one (label 0).
        pasting = InstanceData(
            bboxes=boxes.clone(), labels=torch.zeros_like(labels))
        pasted = self.mask_head.predict_by_feat((outputs[3][:, None], ),
                                                [pasting], [img_meta],
                                                self.rcnn_test_cfg,
                                                rescale=True,
                                                activate_map=True)[0]
        return InstanceData(
            bboxes=pasted.bboxes,
            scores=scores,
            labels=labels,
            masks=pasted.masks)


def use_onnx_file(cfg: Config, onnx_file: str) -> None:
    """Put ``onnx_file`` in the place of the config's detector: data,
    pipeline and evaluator stay."""
    require_file(onnx_file, 'ONNX file')
    model = dict(
        type='OnnxDetector',
        onnx_file=onnx_file,
        classes=list(config_metainfo(cfg).get('classes', ())))
    mask_head = (cfg.model.get('roi_head') or {}).get('mask_head')
    if isinstance(mask_head, (list, tuple)):
        mask_head = mask_head[-1]  # a cascade's stages: the last one pastes
    if mask_head:
        model.update(
            mask_head=mask_head, rcnn_test_cfg=cfg.model.test_cfg.rcnn)
    cfg.model = model
    cfg.load_from = None
