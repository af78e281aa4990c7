from .audited_coco import AuditedCocoDataset
from .shapes import SHAPE_CLASSES, SyntheticShapesDataset

__all__ = ['AuditedCocoDataset', 'SHAPE_CLASSES', 'SyntheticShapesDataset']
