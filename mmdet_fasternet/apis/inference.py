"""tools/demo.py: a detector's predictions drawn on images.

Runs mmdet's DetInferencer (weights read weights-only and strictly, see
``patches.mmdet.SafeDetInferencer``) on one image or every image of a
folder and draws with its DetLocalVisualizer; one picture per input goes
to the output folder under the input's name, and one line per image says
what was kept.
"""
import argparse
import os
import os.path as osp
from typing import Callable, List, Optional

import mmcv
import torch
from mmdet.structures import DetDataSample
from mmdet.utils.misc import IMG_EXTENSIONS
from mmengine.config import Config
from torch import nn

from ..config_files import find_config
from ..deploy.exported_detector import use_exported_file
from ..deploy.runtimes import is_exported_file
from ..errors import ToolError, require_file
from ..models.checkpoint_fit import load_state_strictly
from ..patches.mmdet import SafeDetInferencer
from ..safe_loading import check_checkpoint_file, read_checkpoint
from .cli import check_device

# Detections listed by name on an image's line; the rest are counted.
MAX_LISTED = 8


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
    require_file(inputs, 'input')
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
    """``--device``, or the first GPU if there is one, else the CPU."""
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


def weights_loader(
        cfg: Config,
        weights: Optional[str]) -> Optional[Callable[[nn.Module], dict]]:
    """How the demo's model gets ``weights``: a checkpoint read now and
    loaded strictly into the model, or an exported file (.onnx, OpenVINO
    .xml) that replaces the config's model (the file holds the weights)."""
    if weights is None:
        return None
    if is_exported_file(weights):
        use_exported_file(cfg, weights)
        return lambda model: {}
    ckpt = read_checkpoint(weights)

    def load(model: nn.Module) -> dict:
        load_state_strictly(model, ckpt, weights)
        return ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}

    return load


def demo(args: argparse.Namespace) -> None:
    """tools/demo.py: draw the predictions on ``args.inputs``.

    Every argument is checked before the model is built, so a bad command
    line writes nothing.
    """
    if not 0.0 <= args.pred_score_thr <= 1.0:
        raise ToolError(f'--pred-score-thr must lie in [0, 1], got '
                        f'{args.pred_score_thr}.')
    images = list_images(args.inputs)
    config = find_config(args.config)
    if args.weights and is_exported_file(args.weights):
        require_file(args.weights, '--weights')
    elif args.weights:
        check_checkpoint_file(args.weights, '--weights')
    outs = output_paths(images, args.out_dir, args.force)
    device = pick_device(args.device)

    cfg = Config.fromfile(config)
    inferencer = SafeDetInferencer(cfg, device,
                                   weights_loader(cfg, args.weights))
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


def demo_parser() -> argparse.ArgumentParser:
    """tools/demo.py's command line."""
    parser = argparse.ArgumentParser(
        description="Draw a detector's predictions: boxes, masks, class "
        'names and scores.')
    parser.add_argument('inputs', help='an image, or a folder of images')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--weights',
        help='checkpoint (path or URL), or an exported detector (.onnx, '
        'OpenVINO .xml); without it the model is untrained')
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
    return parser
