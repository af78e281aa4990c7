"""mmdet: its inferencer with weights read weights-only, and the ground
truth its COCO metric evaluates against."""
import logging
from typing import Any, Callable, Optional

from mmdet.apis import DetInferencer
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from torch import nn

from ..metainfo import config_metainfo


class SafeDetInferencer(DetInferencer):
    """DetInferencer whose weights come from ``load_weights`` (the caller
    reads them weights-only and loads them strictly; it returns the
    checkpoint's ``meta``), or nowhere (None: an untrained model).

    mmengine's loader calls ``torch.load`` without ``weights_only``, which
    unpickles anything under ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. Class
    names come from the checkpoint or the config, never COCO's by default.
    """

    def __init__(self, config: Config, device: str,
                 load_weights: Optional[Callable[[nn.Module], dict]]) -> None:
        self.load_weights = load_weights
        super().__init__(
            model=config, weights=None, device=device, show_progress=False)

    def _load_weights_to_model(self, model: nn.Module, checkpoint: None,
                               cfg: Config) -> None:
        meta = config_metainfo(cfg)
        if self.load_weights is None:
            print_log(
                'no --weights: the model is untrained, its detections are '
                'random.',
                logger='current',
                level=logging.WARNING)
        else:
            saved = self.load_weights(model)
            if 'dataset_meta' in saved:
                meta.update({
                    k.lower(): v
                    for k, v in saved['dataset_meta'].items()
                })
            elif 'CLASSES' in saved:  # mmdet 2.x
                meta['classes'] = saved['CLASSES']
        meta.setdefault('palette', 'random')
        model.dataset_meta = meta

    def _init_collate(self, cfg: Config) -> Callable:
        # mmengine's lookup warns that mmdet has no FUNCTIONS registry, then
        # falls back to pseudo_collate: go there directly unless the config
        # names a collate function.
        if cfg.get('test_dataloader', {}).get('collate_fn'):
            return super()._init_collate(cfg)
        return pseudo_collate


def coco_ground_truth(metric: Any) -> Optional[Any]:
    """The COCO api a CocoMetric evaluates against, or None."""
    return getattr(metric, '_coco_api', None)
