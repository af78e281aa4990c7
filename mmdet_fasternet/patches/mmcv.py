"""mmcv: the private module its ops get their compiled kernels from.

Every ``mmcv/ops/*.py`` calls ``mmcv.utils.ext_loader.load_ext('_ext',
names)``, which imports ``mmcv._ext``; under mmcv-lite
``ops/extension.py`` installs its stand-in under that name (and
``startup_hook/``, a stdlib-only install, answers the same import).
Nothing here imports mmcv: ``ops/extension.py`` says in one line when
it is missing.
"""
import sys
import types

EXT_NAME = 'mmcv._ext'


def install_ext(module: types.ModuleType) -> None:
    """Make ``module`` what ``import mmcv._ext`` and ``mmcv._ext`` give."""
    sys.modules[EXT_NAME] = module
    sys.modules['mmcv']._ext = module
