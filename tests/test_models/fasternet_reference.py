"""An independent, functional FasterNet forward written from the paper's spec.

It reads weights straight from a state dict in the official key layout, so a
match with ``FasterNet`` checks both the numbers and the layout.
"""
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F

BN_EPS = 1e-5
ALL_OUTPUTS = (0, 1, 2, 3)


def _bn(sd: Dict[str, torch.Tensor], prefix: str,
        x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, sd[prefix + 'running_mean'],
                        sd[prefix + 'running_var'], sd[prefix + 'weight'],
                        sd[prefix + 'bias'], False, 0.0, BN_EPS)


def reference_forward(sd: Dict[str, torch.Tensor],
                      x: torch.Tensor,
                      depths: Sequence[int],
                      act: str,
                      out_indices: Sequence[int],
                      n_div: int = 4) -> List[torch.Tensor]:
    """Eval-mode FasterNet with split/concatenate PConv, outputs per stage."""
    activation = {'GELU': F.gelu, 'ReLU': F.relu}[act]
    x = _bn(sd, 'patch_embed.norm.',
            F.conv2d(x, sd['patch_embed.proj.weight'], stride=4))
    outs = []
    for stage, depth in enumerate(depths[:max(out_indices) + 1]):
        if stage > 0:
            merge = f'stages.{2 * stage - 1}.'
            x = _bn(sd, merge + 'norm.',
                    F.conv2d(x, sd[merge + 'reduction.weight'], stride=2))
        for j in range(depth):
            p = f'stages.{2 * stage}.blocks.{j}.'
            part = x.shape[1] // n_div
            mixed = torch.cat([
                F.conv2d(
                    x[:, :part],
                    sd[p + 'spatial_mixing.partial_conv3.weight'],
                    padding=1), x[:, part:]
            ], 1)
            hidden = activation(
                _bn(sd, p + 'mlp.1.', F.conv2d(mixed, sd[p + 'mlp.0.weight'])))
            x = x + F.conv2d(hidden, sd[p + 'mlp.3.weight'])
        if stage in out_indices:
            outs.append(_bn(sd, f'norm{2 * stage}.', x))
    return outs


def official_keys(depths: Sequence[int],
                  out_indices: Sequence[int] = ALL_OUTPUTS) -> List[str]:
    """The state-dict keys of the authors' detection model (FASTERNET.md)."""
    bn = [
        'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'
    ]
    keys = ['patch_embed.proj.weight'] + [f'patch_embed.norm.{k}' for k in bn]
    for stage, depth in enumerate(depths[:max(out_indices) + 1]):
        if stage > 0:
            merge = f'stages.{2 * stage - 1}.'
            keys += [merge + 'reduction.weight'
                     ] + [f'{merge}norm.{k}' for k in bn]
        for j in range(depth):
            p = f'stages.{2 * stage}.blocks.{j}.'
            keys += [
                p + 'spatial_mixing.partial_conv3.weight', p + 'mlp.0.weight'
            ]
            keys += [f'{p}mlp.1.{k}' for k in bn] + [p + 'mlp.3.weight']
    for i in out_indices:
        keys += [f'norm{2 * i}.{k}' for k in bn]
    return keys
