"""A torch older than setup.cfg's floor stops ``import mmdet_fasternet``
with one line that names both versions and the fix."""
import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmdet_fasternet.errors import UnsupportedTorchError
from mmdet_fasternet.torch_floor import check_torch_version, torch_floor

ROOT = Path(__file__).resolve().parents[1]


def setup_cfg_torch_floor() -> str:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    requirements = cfg['options']['install_requires'].split()
    return next(
        re.fullmatch(r'torch>=([\d.]+)', r).group(1) for r in requirements
        if r.startswith('torch>='))


def test_the_floor_checked_is_setup_cfgs():
    # None (no metadata, or an unparsed requirement) would check nothing.
    assert torch_floor() == setup_cfg_torch_floor()


@pytest.mark.parametrize('version', ['2.6.0', '2.6.0+cu124', '2.10.1'])
def test_torch_at_or_above_the_floor_imports(monkeypatch, version):
    monkeypatch.setattr(torch, '__version__', version)
    check_torch_version()


def test_older_torch_stops_the_import_in_one_line(tmp_path):
    floor = setup_cfg_torch_floor()
    major, minor = floor.split('.')[:2]
    old = f'{major}.{int(minor) - 1}.1+cpu'
    code = (f'import torch; torch.__version__ = {old!r}; '
            f'import mmdet_fasternet')
    run = subprocess.run([sys.executable, '-c', code],
                         cwd=tmp_path,
                         capture_output=True,
                         text=True)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f'{UnsupportedTorchError.__module__}.UnsupportedTorchError: '
        f'mmdet-fasternet needs torch >= {floor} (checkpoints load '
        f'weights-only) but torch {old} is installed: '
        f"pip install 'torch>={floor}'")
    assert 'mmengine' not in run.stderr  # stopped before anything else
