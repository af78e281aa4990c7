"""A synthetic COCO-format dataset of filled shapes: the embedded demo.

Scenes hold a few upright shapes of random class, size, colour and
position on a noisy background; later shapes may hide parts of earlier ones.
Boxes and polygon masks describe the *visible* part of each shape, so the
annotations agree with the pixels. A split is generated once, seeded, into a
temporary folder that is renamed into place when complete.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Tuple

import cv2
import numpy as np
from mmdet.registry import DATASETS
from mmengine.dist import barrier, get_rank
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress

from ..errors import DataError
from .audited_coco import AuditedCocoDataset

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'star')
SHAPE_PALETTE = [(220, 20, 60), (0, 130, 200), (60, 180, 75), (255, 165, 0)]
ANN_FILE = 'annotations.json'
IMG_DIR = 'images/'
# Shape radius, as a fraction of the image size.
RADIUS_RANGE = (0.12, 0.25)
# Shapes whose visible part is smaller than this are left out of a scene.
MIN_VISIBLE_FRACTION = 0.6
MIN_VISIBLE_AREA = 30
PLACEMENT_TRIES = 10
# Bumped whenever generation changes, so stale splits are not reused.
GENERATOR_VERSION = 3


def _shape_polygon(cls: str, center: np.ndarray, radius: float) -> np.ndarray:
    """Vertices (N, 2) of an upright shape inscribed in a circle of
    ``radius``: squares axis-aligned, triangles and stars pointing up.

    Upright, not rotated: with random rotations the from-scratch demo
    learned far more slowly than its 8-minute budget allows.
    """
    if cls == 'circle':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        r = np.full_like(t, radius)
    elif cls == 'star':
        t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        r = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    else:
        n = 4 if cls == 'square' else 3
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = np.full_like(t, radius)
    t = t + (np.pi / 4 if cls == 'square' else -np.pi / 2)
    return center + np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _random_colour(rng: np.random.Generator, avoid: np.ndarray) -> np.ndarray:
    """A colour clearly different from ``avoid`` (the background)."""
    while True:
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - avoid).sum() > 150:
            return colour


def _visible_polygons(mask: np.ndarray) -> List[List[float]]:
    """Outer contours of a binary mask, simplified to within a pixel."""
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = [cv2.approxPolyDP(c, 0.75, True) for c in contours]
    return [
        p.reshape(-1).astype(float).tolist() for p in polygons if len(p) >= 3
    ]


def _has_hole(mask: np.ndarray) -> bool:
    _, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


def _occlusion_ok(owner: np.ndarray, full_areas: List[int]) -> bool:
    """Every shape keeps enough visible area, and no visible part has a
    hole (a polygon annotation cannot describe one)."""
    for k, full_area in enumerate(full_areas):
        visible = owner == k
        area = int(visible.sum())
        if (area < MIN_VISIBLE_AREA or area < MIN_VISIBLE_FRACTION * full_area
                or _has_hole(visible)):
            return False
    return True


def _annotation(cls: int, visible: np.ndarray) -> dict:
    ys, xs = np.nonzero(visible)
    x0, y0 = int(xs.min()), int(ys.min())
    return dict(
        category_id=cls + 1,
        bbox=[x0, y0, int(xs.max()) - x0 + 1,
              int(ys.max()) - y0 + 1],
        area=int(visible.sum()),
        segmentation=_visible_polygons(visible),
        iscrowd=0)


def make_scene(rng: np.random.Generator, size: int,
               max_shapes: int) -> Tuple[np.ndarray, List[dict]]:
    """One image (BGR) and its annotations (without ids).

    A shape whose placement would hide too much of an earlier one, or cut a
    hole in it, is placed again (or left out after a few tries), so every
    drawn shape is annotated and every annotation matches its pixels.
    """
    background = rng.integers(0, 256, 3)
    noise = rng.normal(0, 12, (size, size, 3))
    img = np.clip(background + noise, 0, 255).astype(np.uint8)
    owner = np.full((size, size), -1, dtype=np.int64)
    classes: List[int] = []
    full_areas: List[int] = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        for _attempt in range(PLACEMENT_TRIES):
            cls = int(rng.integers(len(SHAPE_CLASSES)))
            radius = rng.uniform(*RADIUS_RANGE) * size
            center = rng.uniform(radius * 0.6, size - radius * 0.6, 2)
            poly = _shape_polygon(SHAPE_CLASSES[cls], center, radius)
            full = np.zeros((size, size), np.uint8)
            cv2.fillPoly(full, [np.round(poly).astype(np.int32)], 1)
            placed = np.where(full > 0, len(classes), owner)
            if _occlusion_ok(placed, full_areas + [int(full.sum())]):
                owner = placed
                img[full > 0] = _random_colour(rng, background)
                classes.append(cls)
                full_areas.append(int(full.sum()))
                break
    annotations = [
        _annotation(cls, owner == k) for k, cls in enumerate(classes)
    ]
    return img, annotations


def generate_split(out_dir: str, num_images: int, image_size: int,
                   max_shapes: int, seed: int) -> None:
    """Write ``num_images`` scenes and a COCO annotation file to out_dir."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, IMG_DIR))
    images, annotations = [], []
    for image_id in track_iter_progress(range(1, num_images + 1)):
        img, anns = make_scene(rng, image_size, max_shapes)
        file_name = f'{image_id:06d}.png'
        cv2.imwrite(osp.join(out_dir, IMG_DIR, file_name), img)
        images.append(
            dict(
                id=image_id,
                file_name=file_name,
                width=image_size,
                height=image_size))
        for ann in anns:
            annotations.append(
                dict(id=len(annotations) + 1, image_id=image_id, **ann))
    coco = dict(
        info=dict(
            description='mmdet-fasternet synthetic shapes',
            generator=generator_params(num_images, image_size, max_shapes,
                                       seed)),
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name) for i, name in enumerate(SHAPE_CLASSES)
        ])
    with open(osp.join(out_dir, ANN_FILE), 'w') as f:
        json.dump(coco, f)


def generator_params(num_images: int, image_size: int, max_shapes: int,
                     seed: int) -> Dict[str, int]:
    return dict(
        version=GENERATOR_VERSION,
        num_images=num_images,
        image_size=image_size,
        max_shapes=max_shapes,
        seed=seed)


def ensure_split(split_dir: str, num_images: int, image_size: int,
                 max_shapes: int, seed: int) -> None:
    """Generate the split once; refuse to reuse one made with other params.

    Several processes may race here (distributed training): each writes a
    private temporary folder and only the first rename wins, so a split is
    either complete or absent.
    """
    params = generator_params(num_images, image_size, max_shapes, seed)
    ann_path = osp.join(split_dir, ANN_FILE)
    if not osp.exists(ann_path):
        if osp.isdir(split_dir) and os.listdir(split_dir):
            raise DataError(
                f'{split_dir} exists but holds no {ANN_FILE}: it is not a '
                f'shapes split and is left untouched. Point data_root at a '
                f'new folder.')
        parent = osp.dirname(osp.abspath(split_dir))
        os.makedirs(parent, exist_ok=True)
        print_log(
            f'Generating synthetic shapes {params} in {split_dir} ...',
            logger='current')
        tmp = tempfile.mkdtemp(prefix='.shapes-', dir=parent)
        try:
            generate_split(
                osp.join(tmp, 'split'), num_images, image_size, max_shapes,
                seed)
            try:
                os.rename(osp.join(tmp, 'split'), split_dir)
            except OSError:
                if not osp.exists(ann_path):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    with open(ann_path) as f:
        found = json.load(f).get('info', {}).get('generator')
    if found != params:
        raise DataError(
            f'{split_dir} holds a shapes dataset generated with {found}, but '
            f'the config asks for {params}. Point data_root elsewhere or '
            f'delete {split_dir} to regenerate it.')


@DATASETS.register_module()
class SyntheticShapesDataset(AuditedCocoDataset):
    """COCO dataset of synthetic shapes, generated on first use.

    ``data_root`` is the split's folder; it receives ``annotations.json``
    and ``images/``.
    """

    METAINFO = dict(classes=SHAPE_CLASSES, palette=SHAPE_PALETTE)
    # Its files appear when it is built: nothing to check beforehand.
    generates_files = True

    def __init__(self,
                 *args,
                 num_images: int = 400,
                 image_size: int = 256,
                 max_shapes: int = 3,
                 seed: int = 0,
                 ann_file: str = ANN_FILE,
                 data_prefix: dict = dict(img=IMG_DIR),
                 **kwargs) -> None:
        data_root = kwargs.get('data_root')
        if not data_root:
            raise DataError('SyntheticShapesDataset needs data_root: the '
                            'folder the split is generated into.')
        # Rank 0 generates; the barrier is reached even if it fails, and
        # the others then check (or generate, on a node of their own).
        try:
            if get_rank() == 0:
                ensure_split(data_root, num_images, image_size, max_shapes,
                             seed)
        finally:
            barrier()
        ensure_split(data_root, num_images, image_size, max_shapes, seed)
        super().__init__(
            *args, ann_file=ann_file, data_prefix=data_prefix, **kwargs)
