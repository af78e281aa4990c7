"""ops/extension.py: the stand-in for mmcv._ext (mmcv-lite)."""
import ast
import glob
import os.path as osp
import subprocess
import sys
from pathlib import Path

import mmcv
import pytest
from golden import compiled_ext

from mmdet_fasternet.ops import MissingOpError
from mmdet_fasternet.ops.extension import KERNELS, make_extension
from mmdet_fasternet.ops.nms import nms_cpu

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter, from the repository root."""
    return subprocess.run([sys.executable, '-c', code],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)


def load_ext_names():
    """Every name mmcv's op files ask load_ext('_ext', [...]) for, read
    from mmcv's sources."""
    ops_dir = osp.join(osp.dirname(mmcv.__file__), 'ops')
    names = set()
    for path in glob.glob(osp.join(ops_dir, '*.py')):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call)
                    and getattr(node.func, 'attr', None) == 'load_ext'):
                names.update(ast.literal_eval(node.args[1]))
    return names


def test_stand_in_answers_every_name_mmcv_asks_for():
    names = load_ext_names()
    assert len(names) > 100 and set(KERNELS) - {
        'get_compiler_version', 'get_compiling_cuda_version'
    } <= names
    module = make_extension()
    assert all(callable(getattr(module, name)) for name in names)
    assert not hasattr(module, '__file__')


def test_op_we_do_not_provide_raises_one_line_naming_it():
    module = make_extension()
    with pytest.raises(MissingOpError) as info:
        module.deform_conv_forward(None, None)
    message = str(info.value)
    assert '\n' not in message
    assert "'deform_conv_forward'" in message
    assert 'pip install --no-build-isolation mmcv==2.1.0' in message


def test_import_order_and_who_serves_mmcv_ext():
    """In a fresh interpreter: import mmdet_fasternet, then mmdet.models and
    mmdet's mask structures; mmcv._ext is ours exactly when no compiled
    one exists."""
    code = '\n'.join([
        'import importlib.util, os, sys',
        "mmcv_dir = os.path.dirname(importlib.util.find_spec('mmcv').origin)",
        "so = [p for p in os.listdir(mmcv_dir) if p.startswith('_ext.')]",
        'import mmdet_fasternet',
        'import mmdet.models, mmdet.structures.mask',
        'from mmdet.utils import register_all_modules',
        'register_all_modules()',
        "ours = getattr(sys.modules['mmcv._ext'], 'STAND_IN', False)",
        'assert ours == (not so), (ours, so)',
        "print('stand-in' if ours else 'compiled')",
    ])
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() in ('stand-in', 'compiled')


def test_cpu_kernels_run_on_one_thread_and_restore_the_count(monkeypatch):
    import torch

    from mmdet_fasternet.ops import extension
    inside = []
    monkeypatch.setattr(
        extension, 'nms_cpu',
        lambda *args: inside.append(torch.get_num_threads()) or nms_cpu(*args))
    module = make_extension()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        boxes = torch.tensor([[0., 0., 4., 4.], [0., 0., 4., 3.]])
        keep = module.nms(boxes, torch.tensor([0.9, 0.8]), 0.5, 0)
        assert keep.tolist() == [0] and inside == [1]
        assert torch.get_num_threads() == 2
        feats = torch.zeros(1, 1, 4, 4)
        out = torch.zeros(1, 1, 2, 2)
        with pytest.raises(MissingOpError):  # raised on the one thread
            module.roi_align_forward(feats, torch.zeros(1, 5), out, out, out,
                                     2, 2, 1.0, 0, 0, True)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_without_any_mmcv_the_import_says_what_to_install():
    code = ("import sys; sys.modules['mmcv'] = None  # as if not installed\n"
            'import mmdet_fasternet')
    result = run_python(code)
    assert result.returncode == 1
    assert ('ImportError: mmdet-fasternet needs mmcv 2.0 to 2.1, which is '
            'not installed: pip install mmcv-lite==2.1.0'
            in result.stderr.splitlines()[-1])


def test_start_up_hook_hands_out_the_package_kernels():
    """startup_hook/ (installed beside mmcv-lite, imported at start-up):
    where no compiled mmcv._ext exists, its module for that name says
    STAND_IN and runs this package's kernels, looked up when called. The
    tree's file is tested (the installed copy is already imported at
    start-up), and the installed copy is the tree's."""
    tree = Path(ROOT) / 'startup_hook' / 'mmdet_fasternet_mmcv_ext.py'
    installed = sys.modules.get('mmdet_fasternet_mmcv_ext')
    if installed is not None:
        assert Path(installed.__file__).read_text() == tree.read_text(), (
            'the installed start-up hook is not the tree\'s: pip install '
            './startup_hook')
    code = '\n'.join([
        'import sys, torch',
        "sys.modules.pop('mmdet_fasternet_mmcv_ext', None)  # the installed",
        "sys.path.insert(0, 'startup_hook')",
        'import mmdet_fasternet_mmcv_ext as hook',
        f'assert hook.__file__ == {str(tree)!r}, hook.__file__',
        "spec = hook.LazyExtensionFinder().find_spec('mmcv._ext')",
        'module = spec.loader.create_module(spec)',
        'assert module.STAND_IN and not hasattr(module, "__file__")',
        "assert 'mmdet_fasternet' not in sys.modules  # nothing yet",
        'boxes = torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, '
        '30]])',
        'kept = module.nms(boxes, torch.tensor([.9, .8, .7]), 0.5, 0)',
        'assert kept.tolist() == [0, 2], kept',
        'try:',
        '    module.deform_conv_forward()',
        'except NotImplementedError as exc:',
        "    print(str(exc).split(' needs ')[0])",
    ])
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "mmcv op 'deform_conv_forward'"


def test_golden_file_is_not_made_from_the_stand_in():
    """make_golden.py records compiled mmcv: under the stand-in (which
    ``from mmcv import _ext`` finds too) it refuses and writes nothing."""
    if compiled_ext() is not None:
        pytest.skip('compiled mmcv is installed: make_golden.py would run')
    from make_golden import GOLDEN, main
    before = Path(GOLDEN).read_bytes()
    with pytest.raises(
            SystemExit, match="mmcv._ext here is mmdet_fasternet"
            "'s stand-in"):
        main()
    assert Path(GOLDEN).read_bytes() == before
