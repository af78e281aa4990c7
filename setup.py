"""setup.cfg holds the metadata; this adds what OpenMMLab packages ship
beside their code, where ``mim`` and ``config_files.find_config`` look:
``configs/`` and ``tools/`` in ``mmdet_fasternet/.mim/``, copied into a
wheel, linked to the checkout's in an editable install (so that edits to a
config count at once, as mmdet's setup.py does it)."""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools')


class BuildWithMim(build_py):
    """build_py, plus the configs and tools in ``mmdet_fasternet/.mim``."""

    def run(self) -> None:
        super().run()
        # An editable install imports the checkout's package: link there.
        package = ROOT if self.editable_mode else self.build_lib
        mim = osp.join(package, 'mmdet_fasternet', '.mim')
        os.makedirs(mim, exist_ok=True)
        for name in MIM_FILES:
            target = osp.join(mim, name)
            if osp.islink(target):
                os.remove(target)
            elif osp.isdir(target):
                shutil.rmtree(target)
            if self.editable_mode:
                os.symlink(osp.join(os.pardir, os.pardir, name), target)
            else:
                shutil.copytree(
                    osp.join(ROOT, name),
                    target,
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


setup(cmdclass=dict(build_py=BuildWithMim))
