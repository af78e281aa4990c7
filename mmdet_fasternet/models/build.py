"""A detector built from its config, as the tools and the benchmark need it:
mmdet's registry, with mmdet's modules registered."""
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config


def build_detector(cfg: Config) -> BaseDetector:
    """The detector of a config, weights left at their initial values."""
    register_all_modules()
    return MODELS.build(cfg.model)
