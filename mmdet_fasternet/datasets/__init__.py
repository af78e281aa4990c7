from .shapes import SHAPE_CLASSES, SyntheticShapesDataset

__all__ = ['SHAPE_CLASSES', 'SyntheticShapesDataset']
