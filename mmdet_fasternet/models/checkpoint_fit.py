"""Does a whole-model checkpoint fit the model it is loaded into?

Where mmdet loads what fits and warns, a checkpoint that does not fit is
an error here, naming the first offending tensor with both shapes and the
FasterNet variant the checkpoint holds, so that a wrong file never reads
as a bad model. The one exception is fine-tuning (``load_from`` before
training): the layers that depend on the classes may differ and start
from their initial values, as long as the backbone fits.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from torch import nn

from ..errors import CheckpointError
from .pretrained import describe_variant, extract_fasternet, group_keys

StateDict = Dict[str, torch.Tensor]
# FasterNet's output norms exist only for the stages out_indices names.
OPTIONAL_BACKBONE_KEY = re.compile(r'^backbone\.norm\d+\.')


def state_dict_of(ckpt: object, source: str) -> StateDict:
    """The model weights of a checkpoint (mmengine's ``state_dict`` or a
    bare state dict), without DDP's ``module.`` prefix."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'checkpoint {source!r} holds a '
                              f'{type(ckpt).__name__}, not a state dict.')
    state_dict = ckpt.get('state_dict', ckpt)
    return {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}


@dataclass
class Fit:
    """How a state dict lines up with a model, key by key."""
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    reshaped: List[str] = field(default_factory=list)
    loaded: int = 0

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.reshaped)

    def first(self, theirs: StateDict, own: StateDict) -> str:
        if self.missing:
            return f'missing {self.missing[0]}'
        if self.unexpected:
            return f'unexpected {self.unexpected[0]}'
        key = self.reshaped[0]
        return (f'{key} is {list(theirs[key].shape)} in the checkpoint but '
                f'{list(own[key].shape)} in the model')

    def counts(self) -> str:
        return (f'{len(self.missing)} tensors missing, {len(self.unexpected)}'
                f' unexpected, {len(self.reshaped)} of another shape')


def compare(own: StateDict, theirs: StateDict) -> Fit:
    reshaped = [
        k for k in own
        if k in theirs and tuple(theirs[k].shape) != tuple(own[k].shape)
    ]
    return Fit(
        missing=[k for k in own if k not in theirs],
        unexpected=[k for k in theirs if k not in own],
        reshaped=reshaped,
        loaded=sum(k in theirs for k in own) - len(reshaped))


def looks_like(theirs: StateDict) -> str:
    """The variant a checkpoint's backbone is, for the error message."""
    try:
        return (f'its backbone is '
                f'{describe_variant(extract_fasternet(theirs).state_dict)}')
    except CheckpointError:
        return (f'it holds no FasterNet backbone (first keys: '
                f'{", ".join(list(theirs)[:2])})')


def misfit_error(source: str, fit: Fit, theirs: StateDict,
                 own: StateDict) -> CheckpointError:
    return CheckpointError(
        f'weights {source!r} do not fit this config: {fit.counts()} (first: '
        f'{fit.first(theirs, own)}); {looks_like(theirs)}. Pass the config '
        f'the weights were trained with.')


def check_state_fits(model: nn.Module, ckpt: object, source: str) -> StateDict:
    """The state dict of ``ckpt`` if it fits ``model`` tensor for tensor,
    else a CheckpointError."""
    theirs, own = state_dict_of(ckpt, source), model.state_dict()
    fit = compare(own, theirs)
    if not fit.exact:
        raise misfit_error(source, fit, theirs, own)
    return theirs


def load_state_strictly(model: nn.Module, ckpt: object, source: str) -> None:
    """Load every tensor of a whole model from ``ckpt`` or raise: never a
    half-random model."""
    model.load_state_dict(check_state_fits(model, ckpt, source))


@dataclass
class FineTuningFit:
    """What ``load_from`` gives a model about to be trained: the keys that
    keep their initial values, and the strict error for evaluation."""
    reinitialised: List[str]
    ignored: List[str]
    loaded: int
    strict_error: CheckpointError

    def summary(self, source: str) -> str:
        text = (f'load_from {source!r}: {self.loaded} tensors loaded; '
                f're-initialised (not in the checkpoint or of another '
                f'shape, e.g. the class-dependent layers): ' +
                ', '.join(group_keys(self.reinitialised)))
        if self.ignored:
            text += '; ignored: ' + ', '.join(group_keys(self.ignored))
        return text + '.'


def fine_tuning_fit(model: nn.Module, ckpt: object,
                    source: str) -> Optional[FineTuningFit]:
    """None if ``ckpt`` fits outright; else what fine-tuning from it keeps
    initial, or a CheckpointError if the backbone itself does not fit (a
    wrong variant, another backbone): that is never fine-tuning."""
    theirs, own = state_dict_of(ckpt, source), model.state_dict()
    fit = compare(own, theirs)
    if fit.exact:
        return None
    backbone = Fit(
        missing=[
            k for k in fit.missing
            if k.startswith('backbone.') and not OPTIONAL_BACKBONE_KEY.match(k)
        ],
        reshaped=[k for k in fit.reshaped if k.startswith('backbone.')])
    if not backbone.exact:
        raise misfit_error(source, backbone, theirs, own)
    return FineTuningFit(
        reinitialised=fit.missing + fit.reshaped,
        ignored=fit.unexpected,
        loaded=fit.loaded,
        strict_error=misfit_error(source, fit, theirs, own))


def not_resumable(source: str, kind: str) -> CheckpointError:
    return CheckpointError(
        f"cannot resume from {source!r}: it is {kind}, without the run's "
        f'progress (epoch, iteration, optimizer state) that a training '
        f'checkpoint (epoch_N.pth) holds. To start a new run from these '
        f'weights, pass the file as load_from (--cfg-options '
        f'load_from=...) without --resume.')


def check_resumable(ckpt: object, source: str) -> None:
    """What mmengine's ``Runner.resume`` reads besides the weights."""
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if not (isinstance(meta, dict) and {'epoch', 'iter'} <= set(meta)
            and 'message_hub' in ckpt):
        raise not_resumable(source, 'a checkpoint of weights only')
