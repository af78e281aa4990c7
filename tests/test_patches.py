"""Every private symbol of mmengine, mmdet or torch this package relies on
still exists: an upgrade that renames one fails here, by name."""
import importlib
import sys

import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmengine.model import ImgDataPreprocessor
from tool_runner import ROOT, describe, run_tool

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


# In a fresh interpreter: mmengine's loaders until the package is imported,
# ours from then on, whatever else calls apply_patches() afterwards.
PATCHED_ON_IMPORT = '''
from mmengine.runner import checkpoint


def loaders():
    schemes = checkpoint.CheckpointLoader._schemes
    return [checkpoint.load_from_http, schemes['https://'], schemes['']]


before = loaders()
import mmdet_fasternet
from mmdet_fasternet.safe_loading import (load_from_http_weights_only,
                                          load_from_local_weights_only)
ours = [load_from_http_weights_only] * 2 + [load_from_local_weights_only]
assert not any(a is b for a, b in zip(before, ours)), before
for _ in range(2):
    assert all(a is b for a, b in zip(loaders(), ours)), loaders()
    mmdet_fasternet.patches.apply_patches()
print('patched on import')
'''


def test_apply_patches_is_idempotent_and_applied_on_import():
    import mmengine.runner.checkpoint as mmengine_checkpoint

    from mmdet_fasternet.safe_loading import load_from_http_weights_only
    mmdet_fasternet.patches.apply_patches()
    assert mmengine_checkpoint.load_from_http is load_from_http_weights_only
    loaders = mmengine_checkpoint.CheckpointLoader._schemes
    assert loaders['https://'] is load_from_http_weights_only
    result = run_tool([sys.executable, '-c', PATCHED_ON_IMPORT], ROOT)
    assert result.returncode == 0, describe(result)
    assert result.stdout == 'patched on import\n'
