"""An exported detector, run by another runtime, as an mmdet model.

``tools/test.py CONFIG FILE`` puts it in the config's place, so the file is
evaluated through the same dataloader, test pipeline and evaluator as a
checkpoint. The file holds the network from the resized image to the
detections (``detector_graph.py``); what mmdet does after that, here too:
boxes back to the original image's scale, masks pasted into it by mmdet's
own mask head code. One subclass per runtime: ``onnx_detector.py``
(onnxruntime, ``.onnx``), ``openvino_detector.py`` (OpenVINO, ``.xml``).
"""
import json
from typing import List, Mapping, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from ..errors import CheckpointError, require_file
from ..metainfo import config_metainfo

# What each kind of file is read by, and the model type that does it.
RUNTIME_OF_SUFFIX = {'.onnx': 'OnnxDetector', '.xml': 'OpenVinoDetector'}


def recorded_classes(meta: Mapping[str, str]) -> Optional[List[str]]:
    """The class names an exported file's metadata records (ONNX
    metadata, IR runtime info), or None where it records none."""
    return json.loads(meta['classes']) if 'classes' in meta else None


class ExportedDetector(BaseModel):
    """``file``'s recorded class names (``recorded``, None where it records
    none) must be ``classes``, the config's; ``mask_head`` and
    ``rcnn_test_cfg`` paste the masks of a Mask R-CNN."""

    def __init__(self,
                 file: str,
                 recorded: Optional[Sequence[str]],
                 classes: Sequence[str],
                 mask_head: Optional[dict] = None,
                 rcnn_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if recorded is None:
            raise CheckpointError(
                f'{file!r} records no class names: not a whole detector '
                f'exported by tools/export_onnx.py --part detector (and, for '
                f'an OpenVINO IR, converted by tools/export_openvino.py); '
                f'export it with those tools.')
        if list(recorded) != list(classes):
            raise CheckpointError(
                f'{file!r} was exported for {len(recorded)} classes '
                f'({", ".join(recorded[:3])}, ...), the config names '
                f'{len(classes)} ({", ".join(list(classes)[:3])}, ...); pass '
                f'the config it was exported from.')
        self.mask_head = MODELS.build(mask_head) if mask_head else None
        self.rcnn_test_cfg = ConfigDict(rcnn_test_cfg or {})

    def run(self, image: np.ndarray) -> Sequence[np.ndarray]:
        """The file's outputs for ``image`` (1, 3, H, W), float32."""
        raise NotImplementedError

    def forward(self,
                inputs: List[torch.Tensor],
                data_samples: List[DetDataSample],
                mode: str = 'predict') -> List[DetDataSample]:
        if mode != 'predict':
            raise ValueError(f'{type(self).__name__} only predicts, not '
                             f'{mode!r}.')
        for image, sample in zip(inputs, data_samples):
            outputs = self.run(image.float()[None].cpu().numpy())
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


def is_exported_file(path: str) -> bool:
    """Whether tools take ``path`` for an exported detector (by suffix)."""
    return path.endswith(tuple(RUNTIME_OF_SUFFIX))


def use_exported_file(cfg: Config, file: str) -> None:
    """Put the exported detector ``file`` (.onnx or OpenVINO .xml) in the
    place of the config's detector: data, pipeline and evaluator stay."""
    suffix = next(s for s in RUNTIME_OF_SUFFIX if file.endswith(s))
    require_file(file, f'{suffix[1:].upper()} file')
    model = dict(
        type=RUNTIME_OF_SUFFIX[suffix],
        file=file,
        classes=list(config_metainfo(cfg).get('classes', ())))
    mask_head = (cfg.model.get('roi_head') or {}).get('mask_head')
    if isinstance(mask_head, (list, tuple)):
        mask_head = mask_head[-1]  # a cascade's stages: the last one pastes
    if mask_head:
        model.update(
            mask_head=mask_head, rcnn_test_cfg=cfg.model.test_cfg.rcnn)
    cfg.model = model
    cfg.load_from = None
