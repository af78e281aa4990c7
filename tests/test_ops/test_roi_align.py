"""ops/roi_align.py matches mmcv 2.1.0's CPU kernel (avg mode)."""
import numpy as np
import pytest
import torch
from golden import compiled_ext, golden
from mmcv.ops import roi_align
from mmdet.structures.mask import BitmapMasks

from mmdet_fasternet.ops import MissingOpError
from mmdet_fasternet.ops import roi_align as ours
from mmdet_fasternet.ops import roi_align_backward, roi_align_forward

CASES = golden()['roi_align']
IDS = [
    f"aligned{c['aligned']}-sr{c['sampling_ratio']}-rois{len(c['rois'])}"
    for c in CASES
]


def direct(case, chunk_bytes=None):
    """Our kernels called as mmcv's RoIAlignFunction calls the extension."""
    feats, rois = case['feats'], case['rois']
    kwargs = dict(
        aligned_height=case['output_size'][0],
        aligned_width=case['output_size'][1],
        spatial_scale=case['spatial_scale'],
        sampling_ratio=case['sampling_ratio'],
        pool_mode=1,
        aligned=case['aligned'])
    output = feats.new_zeros(case['output'].shape)
    grad_input = torch.zeros_like(feats)
    empty = feats.new_zeros(0)
    roi_align_forward(feats, rois, output, empty, empty, **kwargs)
    roi_align_backward(case['grad_output'], rois, empty, empty, grad_input,
                       **kwargs)
    return output, grad_input


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_roi_align_matches_golden(case, monkeypatch):
    output, grad_input = direct(case)
    torch.testing.assert_close(output, case['output'], rtol=0, atol=1e-5)
    torch.testing.assert_close(
        grad_input, case['grad_input'], rtol=0, atol=1e-4)
    # Tiny chunks: one RoI at a time.
    monkeypatch.setattr(ours, 'CHUNK_BYTES', 1)
    output, grad_input = direct(case)
    torch.testing.assert_close(output, case['output'], rtol=0, atol=1e-5)
    torch.testing.assert_close(
        grad_input, case['grad_input'], rtol=0, atol=1e-4)
    # Through mmcv's autograd function and whichever mmcv._ext is in place.
    feats = case['feats'].clone().requires_grad_()
    out = roi_align(feats, case['rois'], case['output_size'],
                    case['spatial_scale'], case['sampling_ratio'], 'avg',
                    case['aligned'])
    out.backward(case['grad_output'])
    torch.testing.assert_close(out.detach(), case['output'], rtol=0, atol=1e-5)
    torch.testing.assert_close(
        feats.grad, case['grad_input'], rtol=0, atol=1e-4)


def test_crop_and_resize_matches_golden():
    case = golden()['crop_and_resize']
    masks = BitmapMasks(case['masks'].numpy(), *case['masks'].shape[1:])
    resized = masks.crop_and_resize(
        case['bboxes'].numpy(),
        case['out_shape'],
        np.arange(len(case['bboxes'])),
        device='cpu',
        binarize=False)
    np.testing.assert_allclose(
        resized.masks, case['resized'].numpy(), rtol=0, atol=1e-5)


def test_max_mode_is_one_line_error():
    feats = torch.randn(1, 2, 5, 5)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    output = feats.new_zeros(1, 2, 2, 2)
    with pytest.raises(MissingOpError, match='pool_mode=max'):
        roi_align_forward(feats, rois, output, output.clone(), output.clone(),
                          2, 2, 1.0, 0, 0, True)


def test_roi_align_matches_compiled_mmcv_live():
    ext = compiled_ext()
    if ext is None:
        pytest.skip('compiled mmcv._ext not installed (mmcv-lite)')
    gen = torch.Generator().manual_seed(1)
    for trial in range(6):
        height, width = (
            int(v) for v in torch.randint(2, 30, (2, ), generator=gen))
        feats = torch.randn(3, 4, height, width, generator=gen)
        n = int(torch.randint(0, 30, (), generator=gen))
        xy = (torch.rand(n, 2, generator=gen) * 1.4 - 0.2) * torch.tensor(
            [width * 2., height * 2.])
        wh = torch.rand(n, 2, generator=gen) * 40 * (trial % 3)
        rois = torch.cat(
            [torch.randint(0, 3,
                           (n, 1), generator=gen).float(), xy, xy + wh], 1)
        grad = torch.randn(n, 4, 7, 6, generator=gen)
        for aligned in (True, False):
            for sampling_ratio in (0, 1, 3):
                kwargs = dict(
                    aligned_height=7,
                    aligned_width=6,
                    spatial_scale=0.5,
                    sampling_ratio=sampling_ratio,
                    pool_mode=1,
                    aligned=aligned)
                empty = feats.new_zeros(0)
                expected = feats.new_zeros(n, 4, 7, 6)
                ext.roi_align_forward(feats, rois, expected, empty, empty,
                                      **kwargs)
                got = torch.zeros_like(expected)
                roi_align_forward(feats, rois, got, empty, empty, **kwargs)
                torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
                expected = torch.zeros_like(feats)
                ext.roi_align_backward(grad, rois, empty, empty, expected,
                                       **kwargs)
                got = torch.zeros_like(feats)
                roi_align_backward(grad, rois, empty, empty, got, **kwargs)
                torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
