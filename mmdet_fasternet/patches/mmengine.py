"""mmengine: its checkpoint loaders replaced by the weights-only gate, what
its checkpoints pickle allow-listed, ``--cfg-options`` parsing, and two
switches of its data preprocessor."""
import pickle
from typing import Any, Tuple

import mmengine.runner.checkpoint as mmengine_checkpoint
import torch
from mmengine.config import DictAction
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from ..safe_loading import (load_from_http_weights_only,
                            load_from_local_weights_only)
from .torch_numpy import numpy_pickle_globals

# HistoryBuffer fills its registry of statistics lazily, on first use; a
# fresh process that loads a checkpoint has not used one yet.
DEFAULT_STATISTICS = frozenset(('min', 'max', 'current', 'mean'))


def replace_checkpoint_loaders() -> None:
    """Route mmengine's loaders for paths and URLs to ``safe_loading``."""
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_from_http_weights_only,
        force=True)
    # '' is the scheme every path without another prefix falls back to.
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_weights_only, force=True)
    # open-mmlab://, torchvision:// and friends call the module function.
    mmengine_checkpoint.load_from_http = load_from_http_weights_only


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to HistoryBuffer's statistics methods (the
    refusal's text is matched by ``safe_loading.read_checkpoint``)."""
    allowed = DEFAULT_STATISTICS.union(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        f'only HistoryBuffer statistics methods are allowed')


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list exactly what mmengine 0.10.7's checkpoints pickle in
    their ``message_hub`` (idempotent): a ``HistoryBuffer`` and numpy
    arrays, so weights-only loading reads them and refuses the rest.

    The buffer pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; instead of allowing
    ``builtins.getattr`` (attribute access to anything a file can name),
    a stand-in answers only those lookups.
    """
    torch.serialization.add_safe_globals([
        HistoryBuffer,
        bytes,  # protocol-2 pickles of empty numpy arrays (unused buffers)
        (history_buffer_getattr, 'builtins.getattr'),
        *numpy_pickle_globals(),
    ])


class ConfigOptionsAction(DictAction):
    """mmengine's DictAction, except that a single value keeps its spaces.

    mmengine deletes every space of a value (so that ``[1, 2]`` parses),
    which turns ``data_root=/data/my coco/`` into ``/data/mycoco/``. Lists,
    tuples and comma-separated values parse as before; one pair of
    surrounding quotes is still removed.
    """

    @staticmethod
    def _parse_iterable(val: str) -> Any:
        text = val.strip()
        if text[:1] in '([' or ',' in text:
            return DictAction._parse_iterable(val)
        if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':
            text = text[1:-1]
        return DictAction._parse_int_float_bool(text)


def preprocessor_switches(preprocessor: Any) -> Tuple[bool, bool]:
    """Whether mmengine's ImgDataPreprocessor normalises and whether it
    swaps BGR and RGB: set in its ``__init__``, kept private."""
    return preprocessor._enable_normalize, preprocessor._channel_conversion
