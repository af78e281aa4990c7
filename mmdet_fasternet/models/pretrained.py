"""FasterNet weights in every published layout: read safely, load loudly.

Layouts, told apart by the file itself:
- official ImageNet ``.pth``: a plain state dict (``patch_embed.*``,
  ``stages.0..6.*``, classification head ``avgpool_pre_head.*``/``head.*``);
- PyTorch-Lightning ``.ckpt``: the same under ``state_dict``, prefix
  ``model.``;
- timm (``.pth`` or ``.safetensors``): stages renumbered 0..3 with
  ``downsample`` inside, ``conv_head``/``classifier`` head;
- whole detectors, mmdet 2.x or 3.x: backbone keys under ``backbone.``;
- this project's converter output (official or timm layout, either format).

Pickles are read with ``weights_only=True`` (plus the mmengine allow-list of
``safe_loading``), safetensors without pickle at all.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

from ..atomic_files import atomic_write
from ..errors import CheckpointError
from ..safe_loading import read_checkpoint
from .variants import ARCH_SETTINGS, NUM_STAGES

StateDict = Dict[str, torch.Tensor]

CLS_HEAD_PREFIXES = ('avgpool_pre_head.', 'head.')
FASTERNET_KEY = re.compile(r'^(patch_embed\.|stages\.\d+\.|norm\d+\.|'
                           r'avgpool_pre_head\.|head\.)')
# timm's names -> the official ones (FASTERNET.md), most specific first.
TIMM_TO_OFFICIAL = (
    ('stages.1.downsample.', 'stages.1.'),
    ('stages.2.downsample.', 'stages.3.'),
    ('stages.3.downsample.', 'stages.5.'),
    ('stages.1.', 'stages.2.'),
    ('stages.2.', 'stages.4.'),
    ('stages.3.', 'stages.6.'),
    ('conv_head.', 'avgpool_pre_head.1.'),
    ('classifier.', 'head.'),
)
# Official prefixes never overlap, so the inverse needs no special order.
OFFICIAL_TO_TIMM = tuple((new, old) for old, new in TIMM_TO_OFFICIAL)


def rename_prefixes(sd: StateDict, table: Tuple[Tuple[str, str],
                                                ...]) -> StateDict:
    """Rename each key by the first matching prefix of ``table``."""
    out = OrderedDict()
    for key, value in sd.items():
        for old, new in table:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def is_timm_layout(sd: StateDict) -> bool:
    return any(
        k.startswith(('stages.1.downsample.', 'conv_head.', 'classifier.'))
        for k in sd)


@dataclass
class Extracted:
    """The FasterNet part of a checkpoint, in the official layout."""
    state_dict: StateDict
    kind: str  # what the file was, e.g. 'whole detector, timm layout'
    dropped: int  # tensors that are not FasterNet weights (neck, heads...)


# What a prefix in front of the backbone's keys tells about the file.
PREFIX_KINDS = {
    '': 'backbone',
    'backbone.': 'whole detector',
    'model.': 'PyTorch-Lightning',
    'module.': 'DistributedDataParallel',
}
STEM_KEY = 'patch_embed.proj.weight'


def extract_fasternet(ckpt: object) -> Extracted:
    """Find the FasterNet weights in any supported checkpoint."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'the checkpoint is a {type(ckpt).__name__}, not a state dict.')
    for wrapper in ('state_dict', 'model'):
        if isinstance(ckpt.get(wrapper), dict):
            ckpt = ckpt[wrapper]
            break
    tensors = {k: v for k, v in ckpt.items() if isinstance(v, torch.Tensor)}
    # The backbone sits where its stem is: '', 'backbone.', 'model.', ...
    # (the shortest such prefix, if e.g. a distillation teacher is stored).
    prefixes = sorted(
        (k[:-len(STEM_KEY)] for k in tensors if k.endswith(STEM_KEY)), key=len)
    if not prefixes:
        sample = ', '.join(list(tensors)[:5]) or 'none'
        raise CheckpointError(
            f'the checkpoint holds no FasterNet weights (no {STEM_KEY}, '
            f'under any prefix); its first keys: {sample}.')
    prefix = prefixes[0]
    kind = PREFIX_KINDS.get(prefix, 'checkpoint')
    if prefix:
        kind = f'{kind}, keys under {prefix}'
    sd = {
        k[len(prefix):]: v
        for k, v in tensors.items() if k.startswith(prefix)
    }
    if is_timm_layout(sd):
        sd, kind = rename_prefixes(sd, TIMM_TO_OFFICIAL), f'{kind}, timm'
    else:
        kind = f'{kind}, official layout'
    fasternet = OrderedDict(
        (k, v) for k, v in sd.items() if FASTERNET_KEY.match(k))
    return Extracted(fasternet, kind, len(tensors) - len(fasternet))


def describe_variant(sd: StateDict) -> str:
    """The variant a state dict's shapes say it is, e.g. "FasterNet-S"."""
    embed_dim = sd[STEM_KEY].shape[0]
    depths = tuple(
        len({
            k.split('.')[3]
            for k in sd if k.startswith(f'stages.{2 * i}.blocks.')
        }) for i in range(NUM_STAGES))
    for name, settings in ARCH_SETTINGS.items():
        if (settings['embed_dim'], tuple(settings['depths'])) == (embed_dim,
                                                                  depths):
            return f"FasterNet-{name.upper()} (arch='{name}')"
    return (f'a custom FasterNet (embed_dim={embed_dim}, '
            f'depths={list(depths)})')


@dataclass
class LoadReport:
    source: str
    kind: str
    variant: str
    loaded: int
    missing: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f'Loaded {self.loaded} tensors of {self.variant} from '
                f'{self.source} ({self.kind})')
        if self.missing:
            text += ('; missing, left at their initial values: ' +
                     ', '.join(group_keys(self.missing)))
        if self.ignored:
            text += ('; ignored (classification head, or parts that '
                     'out_indices does not build): ' +
                     ', '.join(group_keys(self.ignored)))
        return text + '.'


def group_keys(keys: List[str]) -> List[str]:
    """``norm0.weight, norm0.bias, ...`` -> ``norm0.* (5)``."""
    groups: Dict[str, int] = OrderedDict()
    for key in keys:
        module = key.rsplit('.', 1)[0]
        groups[module] = groups.get(module, 0) + 1
    return [f'{m}.* ({n})' for m, n in groups.items()]


def _ignorable(key: str, model_keys: set, num_built: int) -> bool:
    """Keys the model has no place for, by design: the classification
    head, and stages or output norms its ``out_indices`` does not build."""
    if key.startswith(CLS_HEAD_PREFIXES):
        return True
    match = re.match(r'^(stages\.|norm)(\d+)\.', key)
    if match is None:
        return False
    index = int(match.group(2))
    if match.group(1) == 'stages.':
        return index >= num_built
    return f'norm{index}.weight' not in model_keys


def load_pretrained(model: nn.Module, source: str) -> LoadReport:
    """Load FasterNet weights into ``model`` or raise, never half-way."""
    found = extract_fasternet(read_checkpoint(source))
    sd, variant = found.state_dict, describe_variant(found.state_dict)
    own = model.state_dict()
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape))
                  for k, v in sd.items()
                  if k in own and v.shape != own[k].shape]
    if mismatched:
        key, theirs, ours = mismatched[0]
        raise CheckpointError(
            f'checkpoint {source!r} does not fit this FasterNet: {key} is '
            f'{list(theirs)} in the checkpoint but {list(ours)} in the model '
            f'({len(mismatched)} tensors differ). The checkpoint looks like '
            f'{variant}; set the backbone arch to match.')
    model_keys = set(own)
    ignored = [k for k in sd if k not in model_keys]
    unexpected = [
        k for k in ignored if not _ignorable(k, model_keys, len(model.stages))
    ]
    missing = [k for k in own if k not in sd]
    bad_missing = [k for k in missing if not re.match(r'^norm\d+\.', k)]
    if unexpected or bad_missing:
        detail = (f'missing {bad_missing[:3]}'
                  if bad_missing else f'unexpected {unexpected[:3]}')
        raise CheckpointError(
            f'checkpoint {source!r} does not fit this FasterNet: {detail} '
            f'({len(bad_missing)} missing, {len(unexpected)} unexpected). '
            f'The checkpoint looks like {variant}; set the backbone arch '
            f'to match.')
    loadable = {k: v for k, v in sd.items() if k in model_keys}
    model.load_state_dict(loadable, strict=False)
    report = LoadReport(
        source=source,
        kind=found.kind,
        variant=variant,
        loaded=len(loadable),
        missing=missing,
        ignored=ignored)
    print_log(str(report), logger='current')
    return report


def official_to_timm(sd: StateDict) -> StateDict:
    return rename_prefixes(sd, OFFICIAL_TO_TIMM)


def save_state_dict(sd: StateDict,
                    path: str,
                    fmt: str,
                    metadata: Optional[Dict[str, str]] = None) -> None:
    """Write ``sd`` as a plain .pth or .safetensors file, atomically."""
    with atomic_write(path) as tmp:
        if fmt == 'safetensors':
            from safetensors.torch import save_file
            save_file({
                k: v.contiguous()
                for k, v in sd.items()
            },
                      tmp,
                      metadata=metadata)
        else:
            torch.save(OrderedDict(sd), tmp)
