"""An exported detector, run by another runtime, as an mmdet model.

``tools/test.py CONFIG FILE`` puts it in the config's place, so the file is
evaluated through the same dataloader, test pipeline and evaluator as a
checkpoint. The file holds the network from the resized image to the
detections (``graph.py``); what mmdet does after that, here too:
boxes back to the original image's scale, masks pasted into it by mmdet's
own mask head code. The file is run by its runtime (``runtimes.py``, by
its suffix).
"""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from ..errors import require_file
from ..metainfo import config_metainfo
from .file_metadata import check_classes
from .runtimes import open_session, runtime_of


@MODELS.register_module()
class ExportedDetector(BaseModel):
    """``file``, opened by its runtime (``runtimes.open_session``: device,
    threads, profile, options), must record ``classes``, the config's;
    ``mask_head`` and ``rcnn_test_cfg`` paste the masks of a Mask R-CNN."""

    def __init__(self,
                 file: str,
                 classes: Sequence[str],
                 mask_head: Optional[dict] = None,
                 rcnn_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 device: Optional[str] = None,
                 threads: Optional[int] = None,
                 profile: Optional[str] = None,
                 options: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.session = open_session(file, device, threads, profile, options)
        check_classes(file, self.session.metadata(), classes)
        self.mask_head = MODELS.build(mask_head) if mask_head else None
        self.rcnn_test_cfg = ConfigDict(rcnn_test_cfg or {})
        report = self.session.report()
        if report:
            print_log(f'{file}: {report}', logger='current')

    def forward(self,
                inputs: List[torch.Tensor],
                data_samples: List[DetDataSample],
                mode: str = 'predict') -> List[DetDataSample]:
        if mode != 'predict':
            raise ValueError(f'{type(self).__name__} only predicts, not '
                             f'{mode!r}.')
        for image, sample in zip(inputs, data_samples):
            outputs = self.session.run(image.float()[None].cpu().numpy())
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


def use_exported_file(cfg: Config, file: str, **session: object) -> None:
    """Put the exported detector ``file`` (``runtimes.SUFFIXES``) in the
    place of the config's detector: data, pipeline and evaluator stay;
    ``session``: how to open it (``ExportedDetector``)."""
    require_file(file, f'{runtime_of(file).suffix[1:].upper()} file')
    model = dict(
        type='ExportedDetector',
        file=file,
        classes=list(config_metainfo(cfg).get('classes', ())))
    mask_head = (cfg.model.get('roi_head') or {}).get('mask_head')
    if isinstance(mask_head, (list, tuple)):
        mask_head = mask_head[-1]  # a cascade's stages: the last one pastes
    if mask_head:
        model.update(
            mask_head=mask_head, rcnn_test_cfg=cfg.model.test_cfg.rcnn)
    cfg.model = dict(model, **session)
    cfg.load_from = None
