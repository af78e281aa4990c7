"""Every private upstream symbol this package relies on still exists (an
upgrade that renames one fails here, by name), and none is used outside
``patches/``."""
import ast
import importlib
import sys
from pathlib import Path
from typing import List

import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmengine.model import ImgDataPreprocessor
from tool_runner import ROOT, describe, run_tool

import mmdet_fasternet
from mmdet_fasternet import patches

UPSTREAMS = {
    'mmcv', 'mmdet', 'mmengine', 'numpy', 'onnx', 'onnxruntime', 'onnxscript',
    'torch', 'torchvision'
}
# Symbols that exist once another package is imported, and that package.
REQUIRES = {'torch.ops.torchvision': 'torchvision'}

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
    for prefix, package in REQUIRES.items():
        if symbol.startswith(prefix + '.'):
            pytest.importorskip(package)
    try:
        resolve(symbol)
    except (AttributeError, ImportError) as exc:
        pytest.fail(f'{symbol} is gone ({exc}); it is used because: '
                    f'{patches.UPSTREAM_SYMBOLS[symbol]}. See '
                    f'mmdet_fasternet/patches/.')


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


def is_private(name: str) -> bool:
    return name.startswith('_') and not name.endswith('__')


def root_name(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ''


def private_upstream_uses(path: Path) -> List[str]:
    """Private attributes of upstream modules and of what is imported from
    them (``torch.ops.mkldnn._x``, ``from m import _X``, ``getattr(torch,
    '_x')``); a private attribute of an object passed in is not seen."""
    tree = ast.parse(path.read_text())
    upstream_names, found = set(), []
    for node in ast.walk(tree):
        imported = []
        if isinstance(node, ast.Import):
            imported = [(a.name, a.asname or a.name.split('.')[0])
                        for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported = [(f'{node.module}.{a.name}', a.asname or a.name)
                        for a in node.names]
        for dotted, bound in imported:
            if dotted.split('.')[0] in UPSTREAMS:
                upstream_names.add(bound)
                if any(is_private(part) for part in dotted.split('.')):
                    found.append(dotted)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and is_private(node.attr)
                and root_name(node) in upstream_names):
            found.append(ast.unparse(node))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ('getattr', 'hasattr', 'setattr')
              and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
              and is_private(str(node.args[1].value))
              and root_name(node.args[0]) in upstream_names):
            found.append(ast.unparse(node))
    return found


def test_no_private_upstream_attribute_outside_patches():
    package = ROOT / 'mmdet_fasternet'
    files = [
        p for folder in (package, ROOT / 'tools', ROOT / 'configs')
        for p in folder.rglob('*.py') if package / 'patches' not in p.parents
    ]
    assert len(files) > 50
    found = {
        str(p.relative_to(ROOT)): private_upstream_uses(p)
        for p in files if private_upstream_uses(p)
    }
    assert not found, (f'private upstream symbols used outside patches/ '
                       f'(register them in patches/register.py and reach '
                       f'them through patches/): {found}')
