"""FasterNet backbone (Chen et al., "Run, Don't Walk", CVPR 2023).

Module and attribute names follow the authors' code on purpose: the stem is
``patch_embed``, stages sit at ``stages.0/2/4/6`` with patch merging at
``stages.1/3/5``, and the detection output norms are ``norm0/2/4/6``. With
this layout the official ImageNet and COCO checkpoints load unchanged.
"""
import inspect
from contextlib import contextmanager, nullcontext
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmcv.ops import SyncBatchNorm as MMSyncBN
from mmdet.registry import MODELS
from mmengine.model import BaseModule

from ..errors import CheckpointError, ConfigError, UnknownArgumentError
from ..patches.torch_numpy import batch_norm_base
from .bn_folding import FusedBlock, FusedStage, check_foldable, fold_bn
from .pretrained import load_pretrained
from .variants import NUM_STAGES, is_int, resolve_arch

RESNET_ONLY_KEYS = {'depth', 'num_stages', 'style', 'strides', 'dilations'}
# Every batch norm a norm_cfg can build: BN and torch's SyncBN are
# _BatchNorms, mmcv's MMSyncBN is not.
BATCH_NORMS = (batch_norm_base(), MMSyncBN)


class PartialConv(nn.Module):
    """PConv: a 3x3 conv over the first ``channels // n_div`` channels only.

    Split and concatenate, never write in place: the block's shortcut is the
    very tensor that comes in, so an in-place write would change the residual.
    """

    def __init__(self, channels: int, n_div: int) -> None:
        super().__init__()
        self.conv_channels = channels // n_div
        self.untouched_channels = channels - self.conv_channels
        self.partial_conv3 = nn.Conv2d(
            self.conv_channels, self.conv_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_conv, x_rest = torch.split(
            x, [self.conv_channels, self.untouched_channels], dim=1)
        return torch.cat((self.partial_conv3(x_conv), x_rest), dim=1)


class FasterNetBlock(nn.Module):
    """Inverted residual: ``x + drop_path(mlp(pconv(x)))``."""

    def __init__(self, channels: int, n_div: int, mlp_ratio: float,
                 drop_path: float, act_cfg: dict, norm_cfg: dict) -> None:
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.spatial_mixing = PartialConv(channels, n_div)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            build_norm_layer(norm_cfg, hidden)[1],
            build_activation_layer(act_cfg),
            nn.Conv2d(hidden, channels, 1, bias=False))
        self.drop_path = DropPath(
            drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.mlp(self.spatial_mixing(x)))


@contextmanager
def frozen_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Keep BN running statistics unchanged while the context is open.

    Activation checkpointing recomputes a block's forward in training mode
    during backward; without this, every BN would update its running mean and
    variance twice per step.
    """
    norms = [m for m in module.modules() if isinstance(m, BATCH_NORMS)]
    saved = [(m, m.momentum, m.num_batches_tracked.clone()) for m in norms
             if m.num_batches_tracked is not None]
    for m, _, _ in saved:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, num_batches in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(num_batches)


class FasterNetStage(nn.Module):
    """A run of FasterNet blocks at one resolution."""

    def __init__(self, channels: int, depth: int, drop_paths: Sequence[float],
                 with_cp: bool, **block_kwargs) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.blocks = nn.Sequential(*[
            FasterNetBlock(channels, drop_path=drop_paths[i], **block_kwargs)
            for i in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(
                    block,
                    x,
                    use_reentrant=False,
                    context_fn=lambda b=block:
                    (nullcontext(), frozen_bn_statistics(b)))
            else:
                x = block(x)
        return x


class PatchEmbed(nn.Module):
    """Stem: non-overlapping 4x4 patches (conv, no bias) + BN."""

    def __init__(self, in_channels: int, embed_dim: int,
                 norm_cfg: dict) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, 4, stride=4, bias=False)
        self.norm = build_norm_layer(norm_cfg, embed_dim)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class PatchMerging(nn.Module):
    """Between stages: 2x2 patches, channels doubled (conv, no bias) + BN."""

    def __init__(self, channels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.reduction = nn.Conv2d(
            channels, 2 * channels, 2, stride=2, bias=False)
        self.norm = build_norm_layer(norm_cfg, 2 * channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.reduction(x))


def _unknown_keys_message(unknown: dict) -> str:
    accepted = [
        name for name in inspect.signature(FasterNet.__init__).parameters
        if name not in ('self', 'unknown')
    ]
    message = (f'FasterNet got unknown argument(s) {sorted(unknown)}; '
               f'accepted arguments are {accepted}.')
    leaked = sorted(set(unknown) & RESNET_ONLY_KEYS)
    if leaked:
        message += (f' {leaked} belong to ResNet: a config that replaces '
                    f"the base's ResNet backbone needs `_delete_=True` in "
                    f'its backbone dict.')
    return message


def _check_out_indices(out_indices: Union[int, Sequence[int]]) -> Tuple[int]:
    if is_int(out_indices):
        out_indices = (out_indices, )
    allowed = f'a non-empty sequence of distinct ints in 0..{NUM_STAGES - 1}'
    if not isinstance(out_indices, (list, tuple)) or not out_indices:
        raise ConfigError(f'FasterNet: out_indices must be {allowed}, got '
                          f'{out_indices!r}.')
    for i in out_indices:
        if not is_int(i) or not 0 <= i < NUM_STAGES:
            raise ConfigError(f'FasterNet: out_indices must be {allowed}; '
                              f'{i!r} in {out_indices!r} is not.')
    if len(set(out_indices)) != len(out_indices):
        raise ConfigError(f'FasterNet: out_indices must be {allowed}; '
                          f'{out_indices!r} has duplicates.')
    return tuple(sorted(out_indices))


@MODELS.register_module()
class FasterNet(BaseModule):
    """FasterNet backbone: multi-scale features for detection.

    Outputs, for each stage in ``out_indices`` (returned in stage order),
    stride 4/8/16/32 features with C/2C/4C/8C channels, each through its own
    BN (``norm{2*i}``). Only the stages and output norms that ``out_indices``
    needs are built, so no parameter goes unused under
    DistributedDataParallel.

    Defaults follow the authors' published COCO recipe: no frozen stage and
    every BN trains (their configs passed ResNet's ``frozen_stages=1`` and
    ``norm_eval=True`` to a backbone that ignored them), drop_path 0.15 / 0.2
    / 0.3 for S / M / L and the ImageNet values for T0 / T1 / T2.

    Args:
        arch: 't0', 't1', 't2', 's', 'm', 'l', or a dict with ``embed_dim``,
            ``depths`` (4 ints) and ``act_cfg``, optionally
            ``drop_path_rate``, ``n_div`` (4) and ``mlp_ratio`` (2.0).
        in_channels: Channels of the input image.
        out_indices: Stages (0..3) whose features are returned.
        frozen_stages: -1 freezes nothing, 0 the stem, i >= 1 the stem and
            the first i stages with the merging layers and output norms
            that belong to them: no gradients, BN kept in eval mode.
        norm_eval: Keep every BN layer in eval mode during training.
        with_cp: Checkpoint each block to trade compute for memory; BN
            running statistics are updated once per step, as without it.
        drop_path_rate: Stochastic depth at the last block (linear from 0);
            None takes the variant's default.
        norm_cfg: Norm layers, e.g. ``dict(type='SyncBN')`` for multi-GPU.
        init_cfg: None gives Kaiming-normal conv weights (fan_out, as
            mmdet's ResNet), which train from scratch much faster than the
            authors' truncated normal (std 0.02; the README has the demo's
            figures). For real work use
            ``dict(type='Pretrained', checkpoint=...)``.
    """

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: Optional[float] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **unknown) -> None:
        if unknown:
            raise UnknownArgumentError(_unknown_keys_message(unknown))
        if init_cfg is None:
            init_cfg = dict(type='Kaiming', layer='Conv2d')
        super().__init__(init_cfg=init_cfg)
        settings = resolve_arch(arch)
        if not is_int(in_channels) or in_channels < 1:
            raise ConfigError(f'FasterNet: in_channels must be an int >= 1, '
                              f'got {in_channels!r}.')
        self.out_indices = _check_out_indices(out_indices)
        if not is_int(frozen_stages) or not (-1 <= frozen_stages <=
                                             NUM_STAGES):
            raise ConfigError(f'FasterNet: frozen_stages must be an int in '
                              f'-1..{NUM_STAGES}, got {frozen_stages!r}.')
        if drop_path_rate is None:
            drop_path_rate = settings['drop_path_rate']
        if isinstance(drop_path_rate, bool) or not isinstance(
                drop_path_rate, (int, float)) or not 0 <= drop_path_rate < 1:
            raise ConfigError(f'FasterNet: drop_path_rate must be in [0, 1), '
                              f'got {drop_path_rate!r}.')
        self.arch_settings = settings
        self.in_channels = in_channels
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = False

        embed_dim, depths = settings['embed_dim'], tuple(settings['depths'])
        self.num_stages = max(self.out_indices) + 1
        self.out_channels = [embed_dim * 2**i for i in range(NUM_STAGES)]
        drop_paths = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        block_kwargs = dict(
            n_div=settings['n_div'],
            mlp_ratio=settings['mlp_ratio'],
            act_cfg=settings['act_cfg'],
            norm_cfg=norm_cfg)

        self.patch_embed = PatchEmbed(in_channels, embed_dim, norm_cfg)
        self.stages = nn.ModuleList()
        for i in range(self.num_stages):
            if i > 0:
                self.stages.append(
                    PatchMerging(self.out_channels[i - 1], norm_cfg))
            first = sum(depths[:i])
            self.stages.append(
                FasterNetStage(
                    self.out_channels[i],
                    depths[i],
                    drop_paths[first:first + depths[i]],
                    with_cp=with_cp,
                    **block_kwargs))
        for i in self.out_indices:
            self.add_module(
                f'norm{2 * i}',
                build_norm_layer(norm_cfg, self.out_channels[i])[1])
        self._freeze_stages()

    def init_weights(self) -> None:
        """``init_cfg=dict(type='Pretrained', checkpoint=...)`` goes through
        this project's loader: any published layout, weights-only
        unpickling, and an error instead of a silent partial load."""
        cfgs = self.init_cfg if isinstance(self.init_cfg,
                                           list) else [self.init_cfg]
        pretrained = [
            c for c in cfgs
            if isinstance(c, dict) and c.get('type') == 'Pretrained'
        ]
        if not pretrained:
            super().init_weights()
            return
        if len(cfgs) > 1:
            raise CheckpointError(
                f'FasterNet: init_cfg {self.init_cfg!r} mixes Pretrained '
                f'with other initialisers; give the Pretrained dict alone.')
        if not pretrained[0].get('checkpoint'):
            raise CheckpointError(
                "FasterNet: init_cfg type 'Pretrained' needs a checkpoint "
                f"(a path or URL), got {pretrained[0].get('checkpoint')!r}.")
        load_pretrained(self, pretrained[0]['checkpoint'])
        self.is_init = True

    @property
    def min_input_size(self) -> int:
        """Smallest height/width that leaves one pixel at the last stage."""
        return 4 * 2**(self.num_stages - 1)

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules = [self.patch_embed]
        modules += list(self.stages[:max(0, 2 * self.frozen_stages - 1)])
        modules += [
            getattr(self, f'norm{2 * i}') for i in self.out_indices
            if i < self.frozen_stages
        ]
        return modules

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def switch_to_deploy(self) -> None:
        """Fold every BN into its conv for inference, in place (see
        ``bn_folding.py``); outputs equal eval mode's within float rounding.

        The output norms stay BNs: their input also feeds the next stage.
        Irreversible; a deployed model cannot train.
        """
        if self.deploy:
            return
        check_foldable(self)
        self.eval()
        self.patch_embed = fold_bn(self.patch_embed.proj,
                                   self.patch_embed.norm)
        for i, stage in enumerate(self.stages):
            if isinstance(stage, PatchMerging):
                self.stages[i] = fold_bn(stage.reduction, stage.norm)
            else:
                self.stages[i] = FusedStage(
                    *[FusedBlock(block) for block in stage.blocks])
        for param in self.parameters():
            param.requires_grad = False
        self.deploy = True

    def train(self, mode: bool = True) -> 'FasterNet':
        if mode and self.deploy:
            raise RuntimeError(
                'FasterNet was switched to deploy mode (BN folded into the '
                'convs), which is for inference only; build a new model to '
                'train.')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, BATCH_NORMS):
                    m.eval()
        return self

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f'FasterNet expected an input of shape (N, '
                f'{self.in_channels}, H, W) with {self.in_channels} '
                f'channels, got shape {tuple(x.shape)}; set in_channels to '
                f'match your images.')
        if min(x.shape[-2:]) < self.min_input_size:
            raise ConfigError(
                f'FasterNet needs height and width >= {self.min_input_size} '
                f'(stride {self.min_input_size} at the last stage), got '
                f'{tuple(x.shape[-2:])}; resize or pad the input.')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if not torch.jit.is_tracing():
            self._check_input(x)
        layout = _memory_format(x)
        if self.deploy and x.device.type == 'cpu':
            # oneDNN's native layout, which its fused kernels need to write
            # the residual in place; outputs keep the input's layout.
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.patch_embed(x)
        outs = []
        for idx, stage in enumerate(self.stages):
            x = stage(x)
            if idx % 2 == 0 and idx // 2 in self.out_indices:
                out = getattr(self, f'norm{idx}')(x)
                outs.append(out.contiguous(memory_format=layout))
        return tuple(outs)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
