"""Every private symbol of mmengine, mmdet or torch this package relies on
still exists: an upgrade that renames one fails here, by name."""
import importlib

import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmengine.model import ImgDataPreprocessor

import mmdet_fasternet
from mmdet_fasternet import patches

# Symbols that are instance attributes: how to get an instance.
INSTANCES = {
    'mmdet.evaluation.CocoMetric':
    lambda: CocoMetric(ann_file=None, metric='bbox'),
    'mmengine.model.ImgDataPreprocessor':
    lambda: ImgDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1]),
    'torch.nn.Module':
    lambda: torch.nn.Module(),
    'torch.utils.data.DataLoader':
    lambda: torch.utils.data.DataLoader([0]),
}


def resolve(dotted: str) -> object:
    parts = dotted.split('.')
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError:
            continue
        for j, name in enumerate(parts[i:], start=i):
            owner = '.'.join(parts[:j])
            if not hasattr(obj, name) and owner in INSTANCES:
                obj = INSTANCES[owner]()
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize('symbol', sorted(patches.UPSTREAM_SYMBOLS))
def test_upstream_symbol_exists(symbol):
    try:
        resolve(symbol)
    except (AttributeError, ImportError) as exc:
        pytest.fail(f'{symbol} is gone ({exc}); it is used because: '
                    f'{patches.UPSTREAM_SYMBOLS[symbol]}. See patches.py.')


def test_apply_patches_is_idempotent_and_applied_on_import():
    import mmengine.runner.checkpoint as mmengine_checkpoint

    from mmdet_fasternet.safe_loading import load_from_http_weights_only
    mmdet_fasternet.patches.apply_patches()
    assert mmengine_checkpoint.load_from_http is load_from_http_weights_only
    loaders = mmengine_checkpoint.CheckpointLoader._schemes
    assert loaders['https://'] is load_from_http_weights_only
