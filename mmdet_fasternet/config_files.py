"""Where a config named on the command line is (the path itself, or one of
the configs shipped with the package), and the config it holds.

As OpenMMLab packages ship theirs (and ``mim`` finds them), the configs and
tools live in ``mmdet_fasternet/.mim/``: copies in a wheel, links to the
checkout's ``configs/`` and ``tools/`` in an editable install (setup.py).
"""
import os.path as osp
from pathlib import Path

from mmengine.config import Config
from mmengine.hub import get_config

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


def load_model_config(name: str) -> Config:
    """A config file, one shipped with this package (``find_config``), or
    one shipped with mmdet (``mmdet::retinanet/...``)."""
    if name.startswith('mmdet::'):
        try:
            return get_config(name)
        except FileNotFoundError as exc:
            raise ToolError(f'{name!r} is not a config shipped with mmdet '
                            f'(look under mmdet/.mim/configs/).') from exc
    return Config.fromfile(find_config(name))
