"""Inference-only FasterNet layers, and the switch that installs them.

Deploy mode folds every BN that follows a conv into that conv. On the CPU,
when no gradient is needed, each block then runs as oneDNN's fused kernels:
the expanding 1x1 conv with its bias and activation in one pass, and the
projecting 1x1 conv that adds its result straight into the residual stream.
The BN, activation and residual-add passes over memory disappear, which is
most of what keeps plain eval mode from running at the convolutions' speed.
Elsewhere (CUDA, autocast, tracing, ONNX export, ``torch.compile``) the same
folded arithmetic runs with standard ops.

PConv keeps its split-and-concatenate form: writing the conv result into the
input's first channels would change the block's shortcut (docs/speed.md
says which exact alternatives were timed).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn

from ..errors import ConfigError
from ..patches.torch_numpy import (batch_norm_base, has_forward_hooks,
                                   onednn_bf16_supported, onednn_conv1x1,
                                   onednn_conv1x1_add, onednn_fusion_available,
                                   running_stats_norm_base)

ONEDNN_FUSION = onednn_fusion_available()


def fold_bn(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    """A conv with bias that computes ``bn(conv(x))`` of an eval-mode
    BatchNorm ``bn``."""
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)
        shift = -bn.running_mean.double() * scale
        if bn.affine:
            scale = scale * bn.weight.double()
            shift = shift * bn.weight.double() + bn.bias.double()
        if conv.bias is not None:
            shift = shift + conv.bias.double() * scale
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=True,
            padding_mode=conv.padding_mode).to(conv.weight)
        fused.weight.copy_(conv.weight.double() * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_(shift)
    return fused.requires_grad_(False)


def _onednn_activation(act: nn.Module) -> Optional[Tuple[str, str]]:
    """oneDNN's name (and algorithm) for an activation it can fuse."""
    if type(act) is nn.ReLU:
        return 'relu', ''
    if type(act) is nn.GELU:
        return 'gelu', act.approximate
    if type(act) is nn.SiLU:
        return 'swish', ''
    if type(act) is nn.Hardswish:
        return 'hardswish', ''
    return None


def _onednn_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (ONEDNN_FUSION and x.device.type == 'cpu'
            and x.dtype == weight.dtype
            and (x.dtype == torch.float32 or
                 (x.dtype == torch.bfloat16 and onednn_bf16_supported()))
            and not (torch.is_grad_enabled() and
                     (x.requires_grad or weight.requires_grad))
            and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and not torch.compiler.is_compiling()
            and not torch.onnx.is_in_onnx_export())


def check_foldable(module: nn.Module) -> None:
    """Refuse, in one line, norms that cannot be folded into a conv."""
    norms = (running_stats_norm_base(), nn.GroupNorm, nn.LayerNorm)
    for name, m in module.named_modules():
        if isinstance(m, norms) and not (isinstance(m, batch_norm_base())
                                         and m.running_var is not None):
            raise ConfigError(
                f'deploy mode folds BatchNorm layers with running statistics '
                f'into the convs; {name!r} is {m!r}. Evaluate this model '
                f'without deploy mode (drop --deploy).')


class FusedBlock(nn.Module):
    """A FasterNet block with its MLP's BN folded into the expanding conv.

    With ``inplace=True`` the oneDNN path writes the residual sum into ``x``
    itself, which saves allocating (and page-faulting) a feature map per
    block; only ``FusedStage`` asks for it, for inputs no one else holds.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        pconv = block.spatial_mixing
        self.split = [pconv.conv_channels, pconv.untouched_channels]
        self.partial_conv3 = pconv.partial_conv3.requires_grad_(False)
        self.expand = fold_bn(block.mlp[0], block.mlp[1])
        self.act = block.mlp[2]
        self.project = block.mlp[3].requires_grad_(False)
        self.onednn_act = _onednn_activation(self.act)

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        x_conv, x_rest = torch.split(x, self.split, dim=1)
        mixed = torch.cat((self.partial_conv3(x_conv), x_rest), dim=1)
        if self.onednn_act is None or not _onednn_applies(
                x, self.expand.weight):
            return x + self.project(self.act(self.expand(mixed)))
        attr, algorithm = self.onednn_act
        hidden = onednn_conv1x1(mixed, self.expand.weight, self.expand.bias,
                                attr, algorithm)
        return onednn_conv1x1_add(hidden, x, self.project.weight, inplace)


class FusedStage(nn.Sequential):
    """Fused blocks of one stage. A block writes into its input only when
    that input is the previous block's output and no forward hook (which
    may keep it) has seen it; the stage's own input is never written."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self):
            previous = self[i - 1] if i > 0 else None
            inplace = previous is not None and not has_forward_hooks(previous)
            x = block(x, inplace=inplace)
        return x


def deploy_model(model: nn.Module, channels_last: bool = False) -> nn.Module:
    """Put a whole model (e.g. a detector) into its inference form, in place.

    Every submodule with ``switch_to_deploy`` (FasterNet) switches; then
    mmcv's ``fuse_conv_bn`` folds the BN layers left elsewhere (a ResNet
    backbone, heads with BN), so that models compared side by side get the
    same treatment. ``channels_last`` also stores weights and the backbone's
    input in that layout; mmcv's compiled ops (RoIAlign among them) read
    their inputs as NCHW whatever the strides say and would silently compute
    garbage, so they are handed contiguous copies.
    """
    model.eval()
    for module in list(model.modules()):
        if hasattr(module, 'switch_to_deploy'):
            module.switch_to_deploy()
    _fold_bn_outside_deployed(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        getattr(model, 'backbone',
                model).register_forward_pre_hook(_channels_last_inputs)
        for module in model.modules():
            if type(module).__module__.startswith('mmcv.ops'):
                module.register_forward_pre_hook(_contiguous_inputs)
    return model


def _fold_bn_outside_deployed(module: nn.Module) -> None:
    """mmcv's ``fuse_conv_bn`` pairs a BN with the last conv among its
    siblings even across other modules; inside a switched FasterNet that
    would fold an output norm into the stem, so it never goes there."""
    if hasattr(module, 'switch_to_deploy'):
        return
    if not any(hasattr(m, 'switch_to_deploy') for m in module.modules()):
        fuse_conv_bn(module)
        return
    for child in module.children():
        _fold_bn_outside_deployed(child)


def _channels_last_inputs(module: nn.Module, args: tuple) -> tuple:
    return tuple(
        a.contiguous(memory_format=torch.channels_last
                     ) if isinstance(a, torch.Tensor) and a.dim() == 4 else a
        for a in args)


def _contiguous_inputs(module: nn.Module, args: tuple) -> tuple:
    return tuple(a.contiguous() if isinstance(a, torch.Tensor) else a
                 for a in args)
