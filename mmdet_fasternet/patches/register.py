"""The register: every private upstream symbol this package touches, and
why. ``tests/test_patches.py`` resolves each one, so an upgrade that
renames one fails there by its name and this reason."""
from typing import Dict

UPSTREAM_SYMBOLS: Dict[str, str] = {
    # mmengine (mmengine.py)
    'mmengine.runner.checkpoint.load_from_http':
    'unpickles downloads with weights_only=False; replaced (open-mmlab://, '
    'torchvision:// and http(s):// URLs)',
    'mmengine.runner.checkpoint.load_from_local':
    "the '' scheme (every path): torch.load without weights_only, and a "
    'bare KeyError for a file that is not a checkpoint; replaced',
    'mmengine.runner.checkpoint.CheckpointLoader.register_scheme':
    "public, but the http(s) and '' schemes it replaces are "
    'mmengine-internal',
    'mmengine.config.DictAction._parse_iterable':
    '--cfg-options: mmengine deletes the spaces of every value',
    'mmengine.config.DictAction._parse_int_float_bool':
    '--cfg-options: how a single value is parsed',
    'mmengine.logging.history_buffer.HistoryBuffer._statistics_methods':
    'weights-only loading: the statistics a checkpoint may name',
    'mmengine.model.ImgDataPreprocessor._enable_normalize':
    'ONNX export: whether the preprocessor normalises (set in __init__)',
    'mmengine.model.ImgDataPreprocessor._channel_conversion':
    'ONNX export: whether it swaps BGR and RGB (set in __init__)',
    # mmdet (mmdet.py; the datasets use the public COCOAPI)
    'mmdet.apis.DetInferencer._load_weights_to_model':
    'demo weights: weights-only, strict, class names from the checkpoint',
    'mmdet.apis.DetInferencer._init_collate':
    "demo: skips mmengine's warning about mmdet's missing FUNCTIONS registry",
    'mmdet.datasets.CocoDataset.COCOAPI':
    'AuditedCocoDataset audits what this COCO api parsed (the attribute '
    'mmdet offers for other COCO apis)',
    'mmdet.evaluation.CocoMetric._coco_api':
    "the evaluator's ground truth (an attribute set in __init__)",
    # mmcv (mmcv.py)
    'mmcv.utils.ext_loader.load_ext':
    "mmcv-lite: mmcv's ops import their kernels from the module "
    "'mmcv._ext' through it; ops/extension.py stands in for that module, "
    'and so does startup_hook/ (stdlib-only, a separate install: it '
    "answers the import of 'mmcv._ext' by name)",
    'mmcv._ext':
    'mmcv-lite: the module name the stand-in is installed under (ours '
    'there, the compiled one with full mmcv)',
    'mmcv.ops.nms.NMSop':
    'mmcv-lite: calls ext_module.nms(boxes, scores, iou_threshold=, '
    'offset=), which ops/nms.py serves',
    'mmcv.ops.roi_align.RoIAlignFunction':
    'mmcv-lite: calls ext_module.roi_align_forward/backward with the '
    'keywords ops/roi_align.py takes, writing into its tensors',
    'mmcv.ops.focal_loss.SigmoidFocalLossFunction':
    'mmcv-lite: calls ext_module.sigmoid_focal_loss_forward/backward '
    '(ops/focal_loss.py)',
    # torch, torchvision and numpy (torch_numpy.py)
    'torch.nn.modules.batchnorm._BatchNorm':
    'the base of every BatchNorm a norm_cfg builds (frozen statistics, '
    'norm_eval, deploy folding)',
    'torch.nn.modules.batchnorm._NormBase':
    'deploy: any norm with running statistics (InstanceNorm too) is '
    'refused unless it is a BatchNorm',
    'torch.nn.Module._forward_hooks':
    'deploy: a fused block writes in place only where no hook saw its input',
    'torch.nn.modules.module._global_forward_hooks':
    'deploy: the same, for hooks registered on every module',
    'torch.ops.mkldnn._convolution_pointwise':
    "deploy on the CPU: oneDNN's 1x1 conv with its bias and activation",
    'torch.ops.mkldnn._convolution_pointwise.binary':
    'deploy on the CPU: the projecting conv adding into the residual',
    'torch.ops.mkldnn._convolution_pointwise_.binary':
    'deploy on the CPU: the same, writing into the residual itself',
    'torch.ops.mkldnn._is_mkldnn_bf16_supported':
    'deploy on the CPU: whether the fused kernels may run in bf16',
    'torch._check':
    "ONNX export: tells torch.export's tracer that the RPN keeps a "
    'proposal (documented, but underscore-named)',
    'torch.utils.data.DataLoader._iterator':
    "deterministic resume: a persistent loader's workers are restarted",
    'torch.utils.data.dataloader._MultiProcessingDataLoaderIter'
    '._shutdown_workers':
    'deterministic resume: how they are ended',
    'torch.ops.torchvision._roi_align_backward':
    "mmcv-lite on a GPU: torchvision's RoIAlign gradient kernel",
    'torch._inductor.cpp_builder.get_cpp_compiler':
    "benchmark: deploy-compile on the CPU needs the C++ compiler inductor "
    'finds; without one the setting is reported as not run',
    'torch._inductor.exc.InvalidCxxCompiler':
    'benchmark: what that search raises where it finds none',
    'numpy._core.multiarray._reconstruct':
    'weights-only loading: how a numpy array pickles (numpy.core.* in '
    'files numpy 1.x wrote)',
    'numpy._core.multiarray.scalar':
    'weights-only loading: how a numpy scalar pickles',
}
