"""Sigmoid focal loss with mmcv 2.1.0's kernel formula.

mmdet's ``FocalLoss`` calls ``mmcv.ops.sigmoid_focal_loss`` whenever the
prediction is on a GPU; mmcv has that kernel for CUDA only
(``common/cuda/sigmoid_focal_loss_cuda_kernel.cuh``). Element (n, c), with
``p = sigmoid(x)``, ``t = target[n]`` (``t == num_classes`` is background):

- forward: ``-alpha (1-p)^gamma log(max(p, FLT_MIN))`` where ``c == t``,
  else ``-(1-alpha) p^gamma log(max(1-p, FLT_MIN))``;
- backward (d/dx), where ``c == t``:
  ``-alpha (1-p)^gamma (1 - p - gamma p log(max(p, FLT_MIN)))``, else
  ``-(1-alpha) p^gamma (gamma (1-p) log(max(1-p, FLT_MIN)) - p)``;

both times ``weight[t]`` when a per-class ``weight`` is given (non-empty).
"""
from typing import Tuple

import torch
from torch import Tensor


def _terms(input: Tensor, target: Tensor,
           alpha: float) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    p = 1.0 / (1.0 + torch.exp(-input))
    tiny = torch.finfo(input.dtype).tiny
    classes = torch.arange(input.size(1), device=input.device)
    positive = target[:, None] == classes[None, :]
    return p, positive, p.clamp(min=tiny).log(), (1.0 -
                                                  p).clamp(min=tiny).log()


def _weighted(value: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    if weight.numel() == 0:
        return value
    return value * weight[target][:, None]


def sigmoid_focal_loss_forward(input: Tensor,
                               target: Tensor,
                               weight: Tensor,
                               output: Tensor,
                               gamma: float = 2.0,
                               alpha: float = 0.25) -> None:
    """Write the per-element loss into ``output`` (N, C)."""
    p, positive, log_p, log_q = _terms(input, target, alpha)
    pos = -alpha * (1.0 - p).pow(gamma) * log_p
    neg = -(1.0 - alpha) * p.pow(gamma) * log_q
    output.copy_(_weighted(torch.where(positive, pos, neg), target, weight))


def sigmoid_focal_loss_backward(input: Tensor,
                                target: Tensor,
                                weight: Tensor,
                                grad_input: Tensor,
                                gamma: float = 2.0,
                                alpha: float = 0.25) -> None:
    """Write d loss / d input into ``grad_input`` (N, C)."""
    p, positive, log_p, log_q = _terms(input, target, alpha)
    q = 1.0 - p
    pos = -alpha * q.pow(gamma) * (q - gamma * p * log_p)
    neg = -(1.0 - alpha) * p.pow(gamma) * (gamma * q * log_q - p)
    grad_input.copy_(
        _weighted(torch.where(positive, pos, neg), target, weight))
