"""Draw a detector's predictions: boxes, masks, class names and scores.

Runs mmdet's DetInferencer on one image or every image of a folder and
draws with its DetLocalVisualizer; one picture per input goes to --out-dir
under the input's name, and one line per image says what was kept.

Examples:
    python tools/demo.py data/shapes/val/images/ \\
        configs/demo/mask_rcnn_fasternet_t0_shapes.py \\
        --weights work_dirs/mask_rcnn_fasternet_t0_shapes/epoch_6.pth
    python tools/demo.py street.jpg configs/mask_rcnn_fasternet_s.py \\
        --weights mask_rcnn_fasternet_s_fpn_1x_coco_20221111_063419.pth
"""
import argparse
import logging
import os
import os.path as osp
from typing import Callable, List, Optional

import mmcv
import torch
from mmdet.apis import DetInferencer
from mmdet.registry import DATASETS
from mmdet.structures import DetDataSample
from mmdet.utils.misc import IMG_EXTENSIONS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from torch import nn

from mmdet_fasternet.errors import ToolError
from mmdet_fasternet.runtime import check_device, run_cli
from mmdet_fasternet.weights import load_state_strictly, read_checkpoint

# Detections listed by name on an image's line; the rest are counted.
MAX_LISTED = 8


class SafeDetInferencer(DetInferencer):
    """DetInferencer that reads ``weights`` weights-only and strictly.

    mmengine's loader calls ``torch.load`` without ``weights_only``, which
    unpickles anything on torch < 2.6 or under
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``; ``read_checkpoint`` always passes
    ``weights_only=True``. Weights that do not fit the config are an error,
    not a half-random model, and class names come from the checkpoint or the
    config, never COCO's by default.
    """

    def __init__(self, config: Config, weights: Optional[str],
                 device: str) -> None:
        self.weights_source = weights
        super().__init__(
            model=config, weights=None, device=device, show_progress=False)

    def _load_weights_to_model(self, model: nn.Module, checkpoint: None,
                               cfg: Config) -> None:
        meta = config_metainfo(cfg)
        if self.weights_source is None:
            print_log(
                'no --weights: the model is untrained, its detections are '
                'random.',
                logger='current',
                level=logging.WARNING)
        else:
            ckpt = read_checkpoint(self.weights_source)
            load_state_strictly(model, ckpt, self.weights_source)
            saved = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
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


def config_metainfo(cfg: Config) -> dict:
    """Class names and palette of the config's test dataset, read from its
    class without building it (building the shapes dataset generates it)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    dataset_cls = DATASETS.get(dataset['type']) if 'type' in dataset else None
    meta = dict(getattr(dataset_cls, 'METAINFO', {}))
    meta.update(dataset.get('metainfo') or {})
    return meta


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('inputs', help='an image, or a folder of images')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--weights',
        help='checkpoint (path or URL); without it the model is untrained')
    parser.add_argument(
        '--out-dir',
        default='work_dirs/demo',
        help='where the pictures go (default: work_dirs/demo)')
    parser.add_argument(
        '--pred-score-thr',
        type=float,
        default=0.3,
        help='draw and count detections scoring at least this (default 0.3)')
    parser.add_argument(
        '--device', help='e.g. cpu, cuda:0 (default: cuda:0 if available)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite pictures already in --out-dir')
    return parser.parse_args()


def list_images(inputs: str) -> List[str]:
    """The image, or the folder's images (not its subfolders), sorted."""
    if osp.isdir(inputs):
        images = sorted(
            osp.join(inputs, name) for name in os.listdir(inputs)
            if name.lower().endswith(IMG_EXTENSIONS)
            and osp.isfile(osp.join(inputs, name)))
        if not images:
            raise ToolError(f'folder {inputs!r} holds no images '
                            f'({", ".join(IMG_EXTENSIONS)}).')
        return images
    if not osp.isfile(inputs):
        raise ToolError(f'input {inputs!r} does not exist.')
    if not inputs.lower().endswith(IMG_EXTENSIONS):
        raise ToolError(f'input {inputs!r} is not an image '
                        f'({", ".join(IMG_EXTENSIONS)}) nor a folder.')
    return [inputs]


def output_paths(images: List[str], out_dir: str, force: bool) -> List[str]:
    """One picture per image, named like it; never over an input, and over
    an earlier picture only with --force."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ToolError(f'--out-dir {out_dir!r} is a file, not a folder.')
    outs = [osp.join(out_dir, osp.basename(img)) for img in images]
    for img, out in zip(images, outs):
        if osp.exists(out) and osp.samefile(img, out):
            raise ToolError(f'--out-dir {out_dir!r} holds the input images; '
                            f'the pictures would replace them. Choose '
                            f'another --out-dir.')
    existing = [out for out in outs if osp.exists(out)]
    if existing and not force:
        raise ToolError(
            f'--out-dir {out_dir!r} already holds {len(existing)} of the '
            f'pictures (e.g. {osp.basename(existing[0])}); pass --force to '
            f'overwrite them or choose another --out-dir.')
    return outs


def pick_device(device: Optional[str]) -> str:
    if device is None:
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    check_device(device)
    return device


def describe(pred: DetDataSample, classes: tuple, thr: float) -> str:
    """``3 detections >= 0.3: circle 0.99, star 0.97, square 0.81``."""
    instances = pred.pred_instances
    keep = instances.scores >= thr
    found = sorted(
        zip(instances.scores[keep].tolist(), instances.labels[keep].tolist()),
        reverse=True)
    names = [
        f'{classes[label] if label < len(classes) else label} {score:.2f}'
        for score, label in found[:MAX_LISTED]
    ]
    if len(found) > MAX_LISTED:
        names.append(f'... {len(found) - MAX_LISTED} more')
    plural = '' if len(found) == 1 else 's'
    listed = ': ' + ', '.join(names) if names else ''
    return f'{len(found)} detection{plural} >= {thr:g}{listed}'


def main() -> None:
    args = parse_args()
    if not 0.0 <= args.pred_score_thr <= 1.0:
        raise ToolError(f'--pred-score-thr must lie in [0, 1], got '
                        f'{args.pred_score_thr}.')
    images = list_images(args.inputs)
    if not osp.isfile(args.config):
        raise ToolError(f'config file {args.config!r} does not exist.')
    if (args.weights and '://' not in args.weights
            and not osp.isfile(args.weights)):
        raise ToolError(f'--weights {args.weights!r} does not exist.')
    outs = output_paths(images, args.out_dir, args.force)
    device = pick_device(args.device)

    inferencer = SafeDetInferencer(
        Config.fromfile(args.config), args.weights, device)
    classes = tuple(inferencer.model.dataset_meta.get('classes', ()))
    for path, out in zip(images, outs):
        img = mmcv.imread(path)
        if img is None:
            raise ToolError(f'cannot read image {path!r}.')
        pred = inferencer(img, return_datasamples=True)['predictions'][0]
        inferencer.visualizer.add_datasample(
            osp.basename(path),
            mmcv.bgr2rgb(img),
            pred,
            draw_gt=False,
            pred_score_thr=args.pred_score_thr,
            out_file=out)
        print(f'{path}: {describe(pred, classes, args.pred_score_thr)} '
              f'-> {out}')


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
