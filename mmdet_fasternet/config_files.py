"""Where a config named on the command line is: the path itself, or one of
the configs shipped with the package.

As OpenMMLab packages ship theirs (and ``mim`` finds them), the configs and
tools live in ``mmdet_fasternet/.mim/``: copies in a wheel, links to the
checkout's ``configs/`` and ``tools/`` in an editable install (setup.py).
"""
import os.path as osp
from pathlib import Path

from .errors import ToolError

MIM = Path(__file__).resolve().parent / '.mim'
CONFIGS = MIM / 'configs'


def find_config(name: str, what: str = 'config file') -> str:
    """``name`` if it is a file; else the shipped config of that name, e.g.
    ``mask_rcnn_fasternet_s.py`` or ``demo/mask_rcnn_fasternet_t0_shapes.py``
    (``configs/`` in front is allowed: the README's commands name them so).
    """
    if osp.isfile(name):
        return name
    relative = Path(name)
    if relative.parts[:1] == ('configs', ):
        relative = relative.relative_to('configs')
    shipped = CONFIGS / relative
    if shipped.is_file():
        return str(shipped)
    raise ToolError(f'{what} {name!r} does not exist, nor is it one of the '
                    f'configs shipped with mmdet-fasternet (ls -R {CONFIGS} '
                    f'lists them).')
