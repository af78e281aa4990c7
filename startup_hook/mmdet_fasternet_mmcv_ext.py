"""Answers ``import mmcv._ext`` from interpreter start-up where mmcv-lite
has no compiled extension, so that code which imports ``mmcv.ops`` before
it imports ``mmdet_fasternet`` (mmdet's own ``tools/test.py`` does, before
it reads the config's ``custom_imports``) still finds the package's
kernels.

Installed (not editable) by ``pip install ./startup_hook``; the ``.pth``
file it puts in site-packages imports this module when Python starts, so
it imports only the standard library. Its finder comes after Python's
own: a compiled ``mmcv._ext`` is always found first. Where none exists,
the module it hands out resolves each kernel from
``mmdet_fasternet.ops.extension`` when the kernel is first called, after
``mmcv.ops`` has finished importing.
"""
import importlib
import importlib.abc
import sys
import types
from importlib.machinery import ModuleSpec
from typing import Any, Callable, Optional

EXT_NAME = 'mmcv._ext'


class LazyExtension(types.ModuleType):
    """``mmcv._ext``: every public name is a kernel of the package's
    stand-in, looked up when called."""
    STAND_IN = True

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith('_'):
            raise AttributeError(f'module {EXT_NAME!r} has no attribute '
                                 f'{name!r}')

        def kernel(*args: Any, **kwargs: Any) -> Any:
            extension = importlib.import_module(
                'mmdet_fasternet.ops.extension')
            return getattr(extension.stand_in(), name)(*args, **kwargs)

        kernel.__name__ = kernel.__qualname__ = name
        setattr(self, name, kernel)
        return kernel


class LazyExtensionLoader(importlib.abc.Loader):

    def create_module(self, spec: ModuleSpec) -> types.ModuleType:
        return LazyExtension(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class LazyExtensionFinder(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: asked only when no compiled
    ``mmcv._ext`` was found."""

    def find_spec(self,
                  fullname: str,
                  path: Any = None,
                  target: Any = None) -> Optional[ModuleSpec]:
        if fullname != EXT_NAME:
            return None
        return ModuleSpec(
            EXT_NAME, LazyExtensionLoader(), origin='mmdet_fasternet')


if not any(isinstance(f, LazyExtensionFinder) for f in sys.meta_path):
    sys.meta_path.append(LazyExtensionFinder())
