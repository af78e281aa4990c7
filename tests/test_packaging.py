"""The package as a user installs it: configs found by name, in a checkout
and from a wheel installed the ordinary way (not editable)."""
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mmengine.config import Config
from tool_runner import ROOT, describe, run_tool

from mmdet_fasternet.config_files import find_config
from mmdet_fasternet.errors import ToolError

# What `pip wheel` reads from a checkout (README.md: the long description).
SOURCES = ('setup.py', 'setup.cfg', 'pyproject.toml', 'MANIFEST.in',
           'README.md', 'mmdet_fasternet', 'configs', 'tools')


def test_configs_are_found_by_path_or_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    for name in ('mask_rcnn_fasternet_t0.py',
                 'configs/mask_rcnn_fasternet_t0.py'):
        assert Path(find_config(name)).name == 'mask_rcnn_fasternet_t0.py'
    # Its relative _base_ and mmdet:: bases are found from there too.
    cfg = Config.fromfile(find_config('demo/mask_rcnn_fasternet_t0_shapes.py'))
    assert cfg.model.backbone.type == 'FasterNet'
    own = tmp_path / 'mask_rcnn_fasternet_t0.py'
    own.write_text("_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'")
    assert find_config(own.name) == own.name  # a file wins over a name
    with pytest.raises(ToolError) as error:
        find_config('mask_rcnn_fasternet_xl.py')
    message = str(error.value)
    assert "config file 'mask_rcnn_fasternet_xl.py' does not exist" in message
    assert '\n' not in message and 'ls -R ' in message
    shipped = message.split('ls -R ')[1].split(' ')[0]
    assert (Path(shipped) / 'mask_rcnn_fasternet_t0.py').is_file()


def python(venv: Path) -> str:
    return str(venv / 'bin' / 'python')


def output(*command) -> str:
    return subprocess.run([str(c) for c in command],
                          check=True,
                          capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.e2e
def test_a_wheel_installed_elsewhere_finds_and_benchmarks_its_configs(
        tmp_path, monkeypatch):
    """Built and installed into a fresh venv that sees this one's packages
    (mmdet, torch...) through a .pth file but not this checkout: .pth files
    in a folder added that way are not read, so this venv's editable
    install stays out of sight."""
    src = tmp_path / 'src'
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name,
                src / name,
                ignore=shutil.ignore_patterns('__pycache__', '.mim'))
        else:
            shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    output(*pip, 'wheel', '--no-deps', '--no-build-isolation', '--no-index',
           '-w', tmp_path / 'dist', src)
    wheel, = (tmp_path / 'dist').glob('mmdet_fasternet-*.whl')
    shipped = zipfile.ZipFile(wheel).namelist()
    assert 'mmdet_fasternet/.mim/configs/mask_rcnn_fasternet_s.py' in shipped
    assert 'mmdet_fasternet/.mim/tools/benchmark.py' in shipped

    venv = tmp_path / 'venv'
    output(sys.executable, '-m', 'venv', '--without-pip', venv)
    output(*pip, '--python', python(venv), 'install', '--no-deps',
           '--no-index', wheel)
    purelib = Path(
        output(
            python(venv), '-c',
            'import sysconfig; print(sysconfig.get_paths()["purelib"])'))
    # After the install: pip must not see (nor touch) this venv's packages.
    (purelib / 'dependencies.pth').write_text('\n'.join(
        site.getsitepackages()))

    monkeypatch.delenv('PYTHONPATH', raising=False)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    found = run_tool([
        python(venv), '-c', 'import mmdet_fasternet\n'
        'from mmdet_fasternet.config_files import MIM, find_config\n'
        'print(mmdet_fasternet.__file__, MIM)\n'
        "print(find_config('demo/mask_rcnn_fasternet_t0_shapes.py'))"
    ], elsewhere)
    assert found.returncode == 0, describe(found)
    package, mim, config = found.stdout.split()
    for path in (package, mim, config):
        assert Path(path).is_relative_to(purelib), path
    benchmark = run_tool([
        python(venv),
        Path(mim) / 'tools' / 'benchmark.py', '--arch', 't0', '--parts',
        'backbone', '--settings', 'eval', '--shape', '64', '96', '--runs', '1',
        '--warmup', '0'
    ], elsewhere)
    assert benchmark.returncode == 0, describe(benchmark)
    assert '| backbone | eval |' in benchmark.stdout
