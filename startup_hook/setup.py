"""The start-up hook of mmdet-fasternet for mmcv-lite: one module and the
.pth file that imports it (see mmdet_fasternet_mmcv_ext.py). Install it
with ``pip install ./startup_hook`` (not editable: an editable install
cannot place the .pth file)."""
import os.path as osp

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = 'mmdet_fasternet_mmcv_ext.pth'


class BuildWithPth(build_py):
    """build_py, plus the .pth file at the top of site-packages (written
    here: the repository ignores *.pth, its weights' suffix)."""

    def run(self) -> None:
        super().run()
        with open(osp.join(self.build_lib, PTH), 'w') as f:
            f.write('import mmdet_fasternet_mmcv_ext\n')


setup(
    name='mmdet-fasternet-mmcv-ext',
    version='0.1.0',
    description='Start-up hook: mmdet-fasternet kernels for mmcv-lite',
    py_modules=['mmdet_fasternet_mmcv_ext'],
    python_requires='>=3.9',
    cmdclass=dict(build_py=BuildWithPth))
