"""The one-line error of a compiled mmcv op this package does not provide."""
from ..errors import UserError


class MissingOpError(UserError, NotImplementedError):
    """An mmcv op that needs mmcv's compiled extension, which is absent."""


def missing_op_error(name: str, reason: str = '') -> MissingOpError:
    """The error for op ``name``; ``reason`` says why mmcv's own extension
    is not used (default: mmcv-lite, which has none)."""
    why = reason or 'mmcv-lite has no compiled mmcv._ext'
    return MissingOpError(
        f'mmcv op {name!r} needs full mmcv with its compiled ops ({why}); '
        'install it with `pip install --no-build-isolation mmcv==2.1.0` '
        '(see docs/troubleshooting.md). mmdet_fasternet provides only nms, '
        'roi_align (avg) and sigmoid_focal_loss without it.')
