"""The whole-detector graph computes what mmdet's predict computes.

In PyTorch its two custom ops call mmcv, so the graph and mmdet's own
predict must agree exactly; ``test_onnx.py`` then
checks the exported file against both.
"""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from tool_runner import CONFIGS, MASK_DEMO, RETINA_DEMO, many_detections

from mmdet_fasternet.config_files import load_model_config
from mmdet_fasternet.deploy.graph import DetectorGraph, stages
from mmdet_fasternet.errors import ConfigError
from mmdet_fasternet.models.build import build_detector


@pytest.mark.parametrize('config', [
    MASK_DEMO, RETINA_DEMO, CONFIGS / 'faster_rcnn_fasternet_t0.py',
    CONFIGS / 'cascade_mask_rcnn_fasternet_t0.py'
])
def test_graph_equals_mmdet_predict(config):
    detector = many_detections(config)
    height, width = 150, 230  # not multiples of 32: the graph pads
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
    meta = dict(
        img_shape=(height, width),
        ori_shape=(height, width),
        scale_factor=(1.0, 1.0))
    with torch.no_grad():
        data = detector.data_preprocessor(
            dict(inputs=[image], data_samples=[DetDataSample(metainfo=meta)]))
        expected = detector.predict(
            data['inputs'], data['data_samples'], rescale=False)[0]
        got = DetectorGraph(detector).eval()(image.float()[None])
    expected = expected.pred_instances
    assert len(got[0]) == detector.test_cfg.get('rcnn',
                                                detector.test_cfg).max_per_img
    assert torch.equal(got[0], expected.bboxes)
    assert torch.equal(got[1], expected.scores)
    assert torch.equal(got[2], expected.labels)
    if 'masks' in expected:  # pasted by mmdet's code, as ExportedDetector does
        assert got[3].shape == (len(got[0]), 28, 28)
        roi_head = detector.roi_head
        mask_head = stages(roi_head, 'mask')[-1][1]
        pasted = mask_head.predict_by_feat(
            (got[3][:, None], ),
            [InstanceData(bboxes=got[0], labels=torch.zeros_like(got[2]))],
            [meta],
            roi_head.test_cfg,
            rescale=False,
            activate_map=True)[0]
        assert torch.equal(pasted.masks, expected.masks)


def test_no_proposal_gives_no_detection():
    """Every RPN box below the minimum size: mmdet and the graph (in
    PyTorch; the tracer assumes proposals) give nothing, without error."""
    detector = many_detections(MASK_DEMO)
    detector.rpn_head.test_cfg.min_bbox_size = 10_000
    image = torch.randint(0, 256, (3, 96, 128), dtype=torch.uint8)
    meta = dict(img_shape=(96, 128), ori_shape=(96, 128), scale_factor=(1, 1))
    with torch.no_grad():
        data = detector.data_preprocessor(
            dict(inputs=[image], data_samples=[DetDataSample(metainfo=meta)]))
        expected = detector.predict(data['inputs'], data['data_samples'])[0]
        got = DetectorGraph(detector).eval()(image.float()[None])
    assert len(expected.pred_instances) == 0
    assert [tuple(t.shape) for t in got] == [(0, 4), (0, ), (0, ), (0, 28, 28)]


@pytest.mark.parametrize('config,problem', [
    ('mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
     'FCOS with a FCOSHead without anchors is not supported'),
    ('mmdet::htc/htc_r50_fpn_1x_coco.py',
     'HybridTaskCascade with a HybridTaskCascadeRoIHead is not supported'),
])
def test_unsupported_detectors_are_named(config, problem):
    with pytest.raises(ConfigError, match=problem):
        DetectorGraph(build_detector(load_model_config(config)))
