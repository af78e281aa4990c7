"""Every place this package relies on a private internal of mmengine, mmdet
or torch, or changes their behaviour, and why.

``apply_patches`` runs once when ``mmdet_fasternet`` is imported. The rest
are subclasses overriding private methods and helpers reading private
attributes, kept here so that an upgrade that renames one breaks
``tests/test_patches.py`` by the symbol's name, not a user's run.
``UPSTREAM_SYMBOLS`` lists each symbol with its reason.
"""
import logging
from typing import Any, Callable, Dict, Optional

import mmengine.runner.checkpoint as mmengine_checkpoint
import torch
from mmdet.apis import DetInferencer
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from .datasets.metainfo import config_metainfo
from .safe_loading import (load_from_http_weights_only,
                           load_from_local_weights_only)

UPSTREAM_SYMBOLS: Dict[str, str] = {
    'mmengine.runner.checkpoint.load_from_http':
    'unpickles downloads with weights_only=False; replaced (open-mmlab://, '
    'torchvision:// and http(s):// URLs)',
    'mmengine.runner.checkpoint.load_from_local':
    "the '' scheme (every path): torch.load without weights_only, and a "
    'bare KeyError for a file that is not a checkpoint; replaced',
    'mmengine.runner.checkpoint.CheckpointLoader.register_scheme':
    "public, but the http(s) and '' schemes it replaces are "
    'mmengine-internal',
    'mmengine.config.DictAction._parse_iterable':
    '--cfg-options: mmengine deletes the spaces of every value',
    'mmengine.config.DictAction._parse_int_float_bool':
    '--cfg-options: how a single value is parsed',
    'mmdet.apis.DetInferencer._load_weights_to_model':
    'demo weights: weights-only, strict, class names from the checkpoint',
    'mmdet.apis.DetInferencer._init_collate':
    "demo: skips mmengine's warning about mmdet's missing FUNCTIONS registry",
    'mmdet.datasets.CocoDataset.COCOAPI':
    'AuditedCocoDataset audits what this COCO api parsed (the attribute '
    'mmdet offers for other COCO apis)',
    'mmdet.evaluation.CocoMetric._coco_api':
    "the evaluator's ground truth (an attribute set in __init__)",
    'torch.nn.Module._forward_hooks':
    'deploy: a fused block writes in place only where no hook saw its input',
    'torch.nn.modules.module._global_forward_hooks':
    'deploy: the same, for hooks registered on every module',
    'mmengine.logging.history_buffer.HistoryBuffer._statistics_methods':
    'weights-only loading: the statistics a checkpoint may name',
    'mmengine.model.ImgDataPreprocessor._enable_normalize':
    'ONNX export: whether the preprocessor normalises (set in __init__)',
    'mmengine.model.ImgDataPreprocessor._channel_conversion':
    'ONNX export: whether it swaps BGR and RGB (set in __init__)',
    'torch.utils.data.DataLoader._iterator':
    "deterministic resume: a persistent loader's workers are restarted",
    'torch.utils.data.dataloader._MultiProcessingDataLoaderIter'
    '._shutdown_workers':
    'deterministic resume: how they are ended',
    'mmcv.utils.ext_loader.load_ext':
    "mmcv-lite: mmcv's ops import their kernels from the module "
    "'mmcv._ext' through it; ops/extension.py stands in for that module",
    'mmcv._ext':
    'mmcv-lite: the module name the stand-in is installed under (ours '
    'there, the compiled one with full mmcv)',
    'mmcv.ops.nms.NMSop':
    'mmcv-lite: calls ext_module.nms(boxes, scores, iou_threshold=, '
    'offset=), which ops/nms.py serves',
    'mmcv.ops.roi_align.RoIAlignFunction':
    'mmcv-lite: calls ext_module.roi_align_forward/backward with the '
    'keywords ops/roi_align.py takes, writing into its tensors',
    'mmcv.ops.focal_loss.SigmoidFocalLossFunction':
    'mmcv-lite: calls ext_module.sigmoid_focal_loss_forward/backward '
    '(ops/focal_loss.py)',
}

_applied = False


def apply_patches() -> None:
    """Make mmengine load every checkpoint path and URL through
    ``safe_loading.read_checkpoint``, and import
    ``torch.distributed.nn`` while no process group exists (idempotent).

    ``torch.distributed.nn.functional`` binds ``group.WORLD`` as default
    arguments when first imported; imported after ``init_process_group``
    (DDP does so), it keeps the group and its threads alive to the end of
    the interpreter (see ``engine/distributed.py``).
    """
    global _applied
    if _applied:
        return
    import torch.distributed.nn  # noqa: F401
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_from_http_weights_only,
        force=True)
    # '' is the scheme every path without another prefix falls back to.
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_weights_only, force=True)
    # open-mmlab://, torchvision:// and friends call the module function.
    mmengine_checkpoint.load_from_http = load_from_http_weights_only
    _applied = True


class ConfigOptionsAction(DictAction):
    """mmengine's DictAction, except that a single value keeps its spaces.

    mmengine deletes every space of a value (so that ``[1, 2]`` parses),
    which turns ``data_root=/data/my coco/`` into ``/data/mycoco/``. Lists,
    tuples and comma-separated values parse as before; one pair of
    surrounding quotes is still removed.
    """

    @staticmethod
    def _parse_iterable(val: str) -> Any:
        text = val.strip()
        if text[:1] in '([' or ',' in text:
            return DictAction._parse_iterable(val)
        if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':
            text = text[1:-1]
        return DictAction._parse_int_float_bool(text)


class SafeDetInferencer(DetInferencer):
    """DetInferencer whose weights come from ``load_weights`` (the caller
    reads them weights-only and loads them strictly; it returns the
    checkpoint's ``meta``), or nowhere (None: an untrained model).

    mmengine's loader calls ``torch.load`` without ``weights_only``, which
    unpickles anything on torch < 2.6 or under
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. Class names come from the
    checkpoint or the config, never COCO's by default.
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


def image_preprocessing(preprocessor: nn.Module) -> Dict[str, Any]:
    """What mmdet's DetDataPreprocessor does to one test image, for a
    graph that does it itself: ``mean``/``std`` (None if it does not
    normalise), ``swap_channels``, ``pad_size_divisor`` and ``pad_value``."""
    normalises = preprocessor._enable_normalize
    return dict(
        mean=preprocessor.mean.clone() if normalises else None,
        std=preprocessor.std.clone() if normalises else None,
        swap_channels=preprocessor._channel_conversion,
        pad_size_divisor=preprocessor.pad_size_divisor,
        pad_value=preprocessor.pad_value)


def coco_ground_truth(metric: Any) -> Optional[Any]:
    """The COCO api a CocoMetric evaluates against, or None."""
    return getattr(metric, '_coco_api', None)


def has_forward_hooks(module: nn.Module) -> bool:
    """Whether a forward hook, the module's own or a global one, sees the
    module's output (and may keep it)."""
    return bool(module._forward_hooks
                or torch.nn.modules.module._global_forward_hooks)


def restart_persistent_workers(loader: torch.utils.data.DataLoader) -> bool:
    """End a persistent loader's workers, so the next epoch starts new ones
    seeded afresh; True if there were any."""
    iterator = getattr(loader, '_iterator', None)
    if iterator is None:
        return False
    iterator._shutdown_workers()
    loader._iterator = None
    return True
