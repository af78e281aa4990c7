"""The stand-in's CUDA routes against its CPU kernels, on a GPU machine.

Not collected by pytest (no GPU in CI). Needs only torch (torchvision
optional), not mmcv or mmdet::

    python tests/measure/check_cuda.py

Prints, per case, the largest difference between the CPU kernels (exact to
mmcv's CPU kernel) and (a) the CUDA route the stand-in takes (torchvision's
kernels where they load), (b) our PyTorch kernels run on CUDA.
"""
import os.path as osp
import sys
import types

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_ops() -> types.ModuleType:
    """mmdet_fasternet.ops without the package's __init__ (which imports
    mmdet)."""
    package = types.ModuleType('mmdet_fasternet')
    package.__path__ = [osp.join(ROOT, 'mmdet_fasternet')]
    sys.modules.setdefault('mmdet_fasternet', package)
    from mmdet_fasternet.ops import extension
    return extension


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit('no CUDA device')
    ext = load_ops()
    from mmdet_fasternet.ops.nms import nms_cpu
    from mmdet_fasternet.ops.roi_align import (roi_align_backward,
                                               roi_align_forward)
    from mmdet_fasternet.ops.torchvision_kernels import torchvision_ops
    print(f'torch {torch.__version__}; torchvision ops: {torchvision_ops()}')
    gen = torch.Generator().manual_seed(0)
    routed = ours = 0
    for _ in range(50):
        xy = torch.rand(2000, 2, generator=gen) * 800
        wh = torch.rand(2000, 2, generator=gen) * 100 + 1
        boxes = torch.cat([xy, xy + wh], 1)
        scores = torch.rand(2000, generator=gen)
        expected = nms_cpu(boxes, scores, 0.6, 0)
        routed += not torch.equal(
            ext.nms(boxes.cuda(), scores.cuda(), 0.6, 0).cpu(), expected)
        ours += not torch.equal(
            nms_cpu(boxes.cuda(), scores.cuda(), 0.6, 0).cpu(), expected)
    print(f'nms: 50 cases, differ from CPU: route {routed}, ours {ours}')
    feats = torch.randn(2, 64, 50, 70, generator=gen)
    xy = torch.rand(300, 2, generator=gen) * torch.tensor([300., 220.]) - 10
    rois = torch.cat([
        torch.randint(0, 2, (300, 1), generator=gen).float(), xy,
        xy + torch.rand(300, 2, generator=gen) * 90
    ], 1)
    grad = torch.randn(300, 64, 7, 7, generator=gen)
    for aligned in (True, False):
        for sampling_ratio in (0, 2):
            kwargs = dict(
                aligned_height=7,
                aligned_width=7,
                spatial_scale=0.25,
                sampling_ratio=sampling_ratio,
                pool_mode=1,
                aligned=aligned)
            results = []
            for forward, backward, device in ((roi_align_forward,
                                               roi_align_backward, 'cpu'),
                                              (ext.roi_align_forward,
                                               ext.roi_align_backward, 'cuda'),
                                              (roi_align_forward,
                                               roi_align_backward, 'cuda')):
                x = feats.to(device)
                empty = x.new_zeros(0)
                out = x.new_zeros(300, 64, 7, 7)
                forward(x, rois.to(device), out, empty, empty, **kwargs)
                grad_input = torch.zeros_like(x)
                backward(
                    grad.to(device), rois.to(device), empty, empty, grad_input,
                    **kwargs)
                results.append((out.cpu(), grad_input.cpu()))
            (out, grad_in), *others = results
            diffs = [
                f'{(o - out).abs().max():.1e}/{(g - grad_in).abs().max():.1e}'
                for o, g in others
            ]
            print(f'roi_align aligned={aligned} sampling_ratio='
                  f'{sampling_ratio}: max |diff| forward/backward: route '
                  f'{diffs[0]}, ours {diffs[1]}')


if __name__ == '__main__':
    main()
