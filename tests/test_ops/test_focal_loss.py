"""ops/focal_loss.py: mmcv's sigmoid focal loss (mmcv has no CPU kernel to
compare with, so: mmdet's own PyTorch version, py_sigmoid_focal_loss, in
float64, and autograd of it)."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import sigmoid_focal_loss
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss

from mmdet_fasternet.ops import (sigmoid_focal_loss_backward,
                                 sigmoid_focal_loss_forward)


def reference(logits, target, weight, gamma, alpha):
    """mmdet's PyTorch focal loss, per element: labels one-hot (the last
    class, ``C``, is background), ``weight`` per class as mmcv's kernel
    takes it (each sample weighted by its label's)."""
    one_hot = F.one_hot(target, logits.size(1) + 1)[:, :-1]
    return py_sigmoid_focal_loss(
        logits,
        one_hot,
        None if weight is None else weight[target],
        gamma,
        alpha,
        reduction='none')


@pytest.mark.parametrize('gamma,alpha,weighted', [(2.0, 0.25, False),
                                                  (1.5, 0.5, True),
                                                  (0.0, 0.75, False)])
def test_sigmoid_focal_loss_matches_mmdets_pytorch_version(
        gamma, alpha, weighted):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 6, generator=gen) * 4
    target = torch.randint(0, 7, (40, ), generator=gen)  # 6: background
    weight = torch.rand(7, generator=gen) if weighted else None
    target_w = target.clamp(max=5) if weighted else target
    x = logits.double().requires_grad_()
    expected = reference(x, target_w,
                         None if weight is None else weight[:6].double(),
                         gamma, alpha)
    expected.sum().backward()
    output = torch.zeros_like(logits)
    grad = torch.zeros_like(logits)
    w = logits.new_zeros(0) if weight is None else weight[:6]
    sigmoid_focal_loss_forward(logits, target_w, w, output, gamma, alpha)
    sigmoid_focal_loss_backward(logits, target_w, w, grad, gamma, alpha)
    torch.testing.assert_close(
        output, expected.detach().float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, x.grad.float(), rtol=1e-4, atol=1e-5)


def test_sigmoid_focal_loss_through_mmcv():
    """mmcv's autograd function, with whichever mmcv._ext is in place; the
    compiled one has no CPU kernel, so this runs with the stand-in only."""
    import sys
    if not getattr(sys.modules.get('mmcv._ext'), 'STAND_IN', False):
        pytest.skip('compiled mmcv has no CPU sigmoid focal loss')
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(10, 4, generator=gen).requires_grad_()
    target = torch.randint(0, 5, (10, ), generator=gen)
    loss = sigmoid_focal_loss(logits, target, 2.0, 0.25, None, 'mean')
    loss.backward()
    x = logits.detach().double().requires_grad_()
    expected = reference(x, target, None, 2.0, 0.25).sum() / 10
    expected.backward()
    torch.testing.assert_close(loss, expected.float())
    torch.testing.assert_close(logits.grad, x.grad.float())
