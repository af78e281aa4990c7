"""Warnings from upstream imports that say nothing a user can act on.

mmengine and mmcv import ``pkg_resources``, and setuptools < 82 (which
their builds need) warns that it is deprecated: three times per tool
start. Only that warning is silenced, matched by its text, so the ones
that matter stand out. It must run before mmengine is first imported:
``mmdet_fasternet/__init__.py`` imports this module first.
"""
import warnings

PKG_RESOURCES_DEPRECATION = r'pkg_resources is deprecated as an API'

warnings.filterwarnings(
    'ignore', message=PKG_RESOURCES_DEPRECATION, category=UserWarning)
