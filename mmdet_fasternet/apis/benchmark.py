"""tools/benchmark.py: latency and training cost of FasterNet and mmdet's
ResNet-50, measured side by side.

Shared machines are noisy, so models are only ever compared inside one run:
each gets the same warm-up, runs alternate (in reversed order every other
round, so neither always runs on a warmer cache), and the median is kept.
"""
import argparse
import copy
import json
import multiprocessing
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmengine.utils import ProgressBar

from ..errors import ToolError, refuse_overwrite
from ..metainfo import config_metainfo
from ..models import ARCH_SETTINGS
from ..models.deploy import deploy_model
from ..models.onnx_detector import onnx_providers, onnx_session, use_onnx_file
from ..patches.mmengine import image_preprocessing
from .cli import check_device, check_shape
from .flops import build_detector, complexity, load_model_config
from .numerics import max_relative_error
from .onnx_export import ExportedPart, write_onnx
from .time_breakdown import TIME_PARTS, onnx_breakdown, torch_breakdown

PEAK_PREFIX = '1x1 conv '
# The repository's configs: the tools run from a checkout of it.
CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
RESNET50 = dict(
    mask_rcnn='mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    retinanet='mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
PARTS = ('backbone', 'mask_rcnn', 'retinanet')


@dataclass(frozen=True)
class Setting:
    """How both models of a comparison are prepared and run."""
    name: str
    deploy: bool
    channels_last: bool
    bf16: bool
    compile: bool
    description: str
    onnx: bool = False


SETTINGS = {
    s.name: s
    for s in (
        Setting('eval', False, False, False, False,
                'model.eval(), fp32, NCHW'),
        Setting(
            'deploy', True, True, False, False,
            'deploy_model(): BN folded (and FasterNet\'s fused '
            'kernels), channels_last, fp32'),
        Setting('deploy-bf16', True, True, True, False,
                'deploy + bf16 autocast'),
        Setting(
            'deploy-compile', True, True, False, True,
            'deploy + torch.compile (inductor, frozen weights) of '
            'backbone and neck: the same kernel fusion for both'),
        Setting(
            'onnxruntime',
            deploy=True,
            channels_last=False,
            bf16=False,
            compile=False,
            description='deploy_model(), exported to ONNX (a whole detector: '
            'NMS, RoIAlign and mask head in the graph, masks pasted on the '
            'host, as tools/test.py runs it) and run by onnxruntime (its CUDA '
            'provider with --device cuda)',
            onnx=True),
    )
}


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def prepare(model: nn.Module, setting: Setting,
            device: torch.device) -> nn.Module:
    model.to(device).eval()
    if setting.deploy:
        deploy_model(model, channels_last=setting.channels_last)
    if setting.compile:
        # Constant weights: inductor folds them into fused kernels.
        options = dict(freezing=True)
        if isinstance(model, BaseDetector):
            model.backbone = torch.compile(model.backbone, options=options)
            model.neck = torch.compile(model.neck, options=options)
        else:
            model = torch.compile(model, options=options)
    return model


def autocast(setting: Setting, device: torch.device):
    return torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=setting.bf16)


def image_batch(shape, device: torch.device, setting: Setting) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, *shape, generator=g).to(device)
    if setting.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def image_sample(shape) -> DetDataSample:
    return DetDataSample(
        metainfo=dict(
            img_shape=tuple(shape),
            ori_shape=tuple(shape),
            pad_shape=tuple(shape),
            batch_input_shape=tuple(shape),
            scale_factor=(1.0, 1.0)))


def keep_every_detection(detector: BaseDetector) -> None:
    """Score threshold 0: random weights then still produce the full 100
    detections (and mask-head work) per image, the same for both models."""
    test_cfg = detector.test_cfg
    for cfg in (test_cfg.get('rcnn'), test_cfg):
        if cfg is not None and 'score_thr' in cfg:
            cfg.score_thr = 0.0


def autocast_features(detector: BaseDetector, device: torch.device) -> None:
    """bf16 for backbone and neck only: mmcv's NMS has no bf16 kernel, so
    heads and post-processing stay fp32."""
    extract_feat = detector.extract_feat

    def extract_feat_bf16(x: torch.Tensor) -> tuple:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            feats = extract_feat(x)
        return tuple(f.float() for f in feats)

    detector.extract_feat = extract_feat_bf16


def inference_step(model: nn.Module, x: torch.Tensor, setting: Setting,
                   device: torch.device) -> Callable[[], None]:
    """One batch-1 forward: features for a backbone, ``predict`` (with
    post-processing) for a detector."""
    samples = [image_sample(x.shape[-2:])]
    detector = isinstance(model, BaseDetector)
    if detector and setting.bf16:
        autocast_features(model, device)

    def step() -> None:
        if detector:
            with torch.no_grad():
                model.predict(x, samples, rescale=False)
        else:
            with torch.no_grad(), autocast(setting, device):
                model(x)
        sync(device)

    return step


def peak_conv_steps(embed_dim: int, shape, setting: Setting,
                    device: torch.device) -> Dict[str, Tuple[Callable, int]]:
    """FasterNet's own expanding 1x1 convs (C -> 2C at each stage's size),
    channels_last, as (step, FLOPs) named like ``1x1 conv 512->1024
    @50x80``: the fastest of them stands for the machine's peak.

    (A fixed large shape is no peak: on the CPU, a fresh output above
    glibc's 32 MB mmap threshold costs page faults that a conv with a
    smaller output does not pay.)
    """
    steps = {}
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        c, stride = embed_dim * 2**i, 4 * 2**i
        h, w = shape[0] // stride, shape[1] // stride
        # bf16: converted once here, not by autocast inside the timing.
        dtype = torch.bfloat16 if setting.bf16 else torch.float32
        x = torch.randn(1, c, h, w, generator=g).to(device, dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = torch.randn(2 * c, c, 1, 1, generator=g).to(device, dtype)

        def step(x=x, weight=weight) -> None:
            with torch.no_grad():
                torch.nn.functional.conv2d(x, weight)
            sync(device)

        steps[f'{PEAK_PREFIX}{c}->{2 * c} @{h}x{w}'] = (step,
                                                        2 * c * c * h * w)
    return steps


def time_alternating(
        steps: Dict[str, Callable[[], None]],
        runs: int,
        warmup: int,
        progress: Optional[ProgressBar] = None) -> Dict[str, List[float]]:
    """Seconds per call of each step; warm-up calls are not kept."""
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
            if progress:
                progress.update()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for round_ in range(runs):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
            if progress:
                progress.update()
    return times


def median_ms(times: List[float]) -> float:
    return 1e3 * median(times)


def training_peak_memory(config: str, backbone_options: dict, shape,
                         device: str) -> Optional[int]:
    """Bytes of memory two training steps need beyond the built model.

    Measured in a fresh process: there the peak resident set (CPU, Linux)
    or the allocator's peak (CUDA) belongs to this model alone, whereas in
    a process that already ran other models the allocator's cached memory
    hides part of it. None where the platform reports no peak.
    """
    context = multiprocessing.get_context('spawn')
    with context.Pool(1) as pool:
        return pool.apply(_training_peak_memory,
                          (config, backbone_options, tuple(shape), device))


def _training_peak_memory(config: str, backbone_options: dict, shape,
                          device: str) -> Optional[int]:
    device = torch.device(device)
    step = training_step(config, backbone_options, shape, device)
    if device.type == 'cuda':
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        start = _status_kib('VmRSS')
    step()
    step()
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) - start
    peak = _status_kib('VmHWM')
    return None if None in (start, peak) else 1024 * (peak - start)


def _status_kib(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def training_batch(shape, device: torch.device, num_objects: int = 8):
    """One image with ``num_objects`` boxes and box-shaped masks."""
    from mmdet.structures.mask import BitmapMasks
    g = torch.Generator().manual_seed(0)
    h, w = shape
    x = torch.randn(1, 3, h, w, generator=g).to(device)
    corners = torch.rand(num_objects, 2, 2, generator=g)
    corners = corners * torch.tensor([w * 0.9, h * 0.9])
    boxes = torch.cat((corners.min(1).values, corners.max(1).values + 16), 1)
    masks = torch.zeros(num_objects, h, w, dtype=torch.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
        masks[i, y1:y2, x1:x2] = 1
    sample = image_sample(shape)
    sample.gt_instances = InstanceData(
        bboxes=boxes.to(device),
        labels=torch.randint(0, 80, (num_objects, ), generator=g).to(device),
        masks=BitmapMasks(masks.numpy(), h, w))
    return x, [sample]


def training_step(config: str, backbone_options: dict, shape,
                  device: torch.device) -> Callable[[], None]:
    """Forward with losses, backward and an SGD update of the detector of
    ``config`` with ``backbone_options`` applied to its backbone."""
    cfg = load_model_config(config)
    cfg.model.backbone.update(backbone_options)
    model = build_detector(cfg)
    model.to(device).train()
    x, samples = training_batch(shape, device)
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=1e-6)

    def step() -> None:
        losses = model.loss(x, samples)
        loss, _ = model.parse_losses(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sync(device)

    return step


def check_args(args: argparse.Namespace) -> torch.device:
    """Every option, before a model is built; the device to run on."""
    check_shape(args.shape, 32)
    runs = (args.runs, args.train_runs, args.breakdown_runs)
    if min(runs) < 1 or args.warmup < 0:
        raise ToolError('--runs, --train-runs and --breakdown-runs must be '
                        '>= 1, --warmup >= 0.')
    for option, path in (('--json', args.json), ('--plot', args.plot)):
        if path:
            refuse_overwrite(path, option, args.force)
    device = check_device(args.device)
    if 'onnxruntime' in args.settings:
        check_onnxruntime(device)
    if args.threads is not None:
        if args.threads < 1:
            raise ToolError(f'--threads must be >= 1, got {args.threads}.')
        torch.set_num_threads(args.threads)
    return device


@dataclass
class Contender:
    """One model of a comparison: its config and built detector."""
    cfg: Config
    detector: BaseDetector

    def module(self, part: str) -> nn.Module:
        return self.detector.backbone if part == 'backbone' else self.detector


def check_onnxruntime(device: torch.device) -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ToolError('the onnxruntime setting needs onnxruntime: pip '
                        'install onnxruntime (onnxruntime-gpu for CUDA).')
    onnx_providers(str(device))


def pair_of_models(part: str, arch: str) -> Dict[str, Contender]:
    """FasterNet-``arch`` and ResNet-50 (the detectors of ``part``, or Mask
    R-CNN's for backbones), by label."""
    detector_part = 'mask_rcnn' if part == 'backbone' else part
    names = {
        f'FasterNet-{arch.upper()}':
        str(CONFIGS / f'{detector_part}_fasternet_{arch}.py'),
        'ResNet-50':
        RESNET50[detector_part],
    }
    contenders = {}
    for label, name in names.items():
        cfg = load_model_config(name)
        detector = build_detector(cfg)
        detector.dataset_meta = config_metainfo(cfg)
        keep_every_detection(detector)
        contenders[label] = Contender(cfg, detector)
    return contenders


def to_pixels(x: torch.Tensor, detector: BaseDetector) -> torch.Tensor:
    """The image (BGR pixels) that the detector's preprocessing turns into
    ``x``: an exported detector normalises inside its graph."""
    pre = image_preprocessing(detector.data_preprocessor)
    pixels = x.float().cpu() * pre['std'] + pre['mean']
    return pixels.flip(1) if pre['swap_channels'] else pixels


class OnnxStep:
    """``contender``'s ``part`` exported (deploy mode) into ``folder`` and
    run by onnxruntime on ``x``, as tools/test.py runs a file: features of
    a backbone, or a detector's predictions with masks pasted."""

    def __init__(self, contender: Contender, part: str, x: torch.Tensor,
                 device: torch.device, folder: str, label: str) -> None:
        detector = copy.deepcopy(contender.detector).eval()
        deploy_model(detector)
        exported = ExportedPart(
            detector, 'backbone' if part == 'backbone' else 'detector')
        self.onnx_file = f'{folder}/{label}-{part}.onnx'
        write_onnx(exported.eval(), tuple(x.shape[-2:]), self.onnx_file)
        self.part, self.contender, self.device = part, contender, device
        if part == 'backbone':
            self.feed = {'image': x.float().cpu().numpy()}
        else:
            self.inputs = [to_pixels(x, detector)[0]]
            self.samples = [image_sample(x.shape[-2:])]
        self.session_options = dict(
            intra_op_num_threads=torch.get_num_threads())
        self.runner = self.build_runner(self.session_options)

    def build_runner(self, session_options: dict):
        if self.part == 'backbone':
            return onnx_session(self.onnx_file, str(self.device),
                                session_options)
        cfg = copy.deepcopy(self.contender.cfg)
        use_onnx_file(cfg, self.onnx_file)
        cfg.model.update(
            device=str(self.device), session_options=session_options)
        return MODELS.build(cfg.model)

    def run(self, runner) -> Tuple[torch.Tensor, ...]:
        if self.part == 'backbone':
            return tuple(
                torch.from_numpy(o) for o in runner.run(None, self.feed))
        runner(self.inputs, self.samples)
        return ()

    def __call__(self) -> Tuple[torch.Tensor, ...]:
        return self.run(self.runner)

    def breakdown(self, runs: int, folder: str) -> Dict[str, float]:
        runner = self.build_runner(
            dict(
                self.session_options,
                enable_profiling=True,
                profile_file_prefix=f'{folder}/profile'))
        return onnx_breakdown(self.onnx_file, lambda: self.run(runner),
                              runner.session, runs)


def measure_inference(args: argparse.Namespace, device: torch.device,
                      progress: ProgressBar) -> List[dict]:
    """One row per part and setting: median ms of both models (and for
    backbones the peak convs, GFLOPS, and the error against the first
    setting's output; for detectors with ``--breakdown``, the time by
    part)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for part in args.parts:
            rows += measure_part(args, part, device, progress, folder)
    return rows


def measure_part(args: argparse.Namespace, part: str, device: torch.device,
                 progress: ProgressBar, folder: str) -> List[dict]:
    rows = []
    contenders = pair_of_models(part, args.arch)
    flops = {
        label: complexity(c.module(part), tuple(args.shape)).flops
        for label, c in contenders.items()
    } if part == 'backbone' else {}
    reference = None
    for name in args.settings:
        setting = SETTINGS[name]
        x = image_batch(args.shape, device, setting)
        if setting.onnx:
            steps = {
                label: OnnxStep(c, part, x, device, folder, label)
                for label, c in contenders.items()
            }
            models = steps
        else:
            models = {
                label: prepare(copy.deepcopy(c.module(part)), setting, device)
                for label, c in contenders.items()
            }
            steps = {
                label: inference_step(m, x, setting, device)
                for label, m in models.items()
            }
        peak_convs = peak_conv_steps(ARCH_SETTINGS[args.arch]['embed_dim'],
                                     args.shape, setting,
                                     device) if part == 'backbone' else {}
        timed = dict(steps)
        timed.update({k: step for k, (step, _) in peak_convs.items()})
        times = time_alternating(timed, args.runs, args.warmup, progress)
        row = dict(
            part=part,
            setting=name,
            ms={
                k: median_ms(v)
                for k, v in times.items()
            },
            times_s=times)
        if part == 'backbone':
            fasternet = next(iter(models))
            features = models[fasternet]
            with torch.no_grad(), torch.autocast(
                    device.type, dtype=torch.bfloat16, enabled=setting.bf16):
                # An exported backbone holds its input already.
                outs = features() if setting.onnx else features(x)
            if reference is None:
                reference = [o.float() for o in outs]
            row['max_rel_error_vs_first_setting'] = max_relative_error(
                outs, reference)
            flops.update({k: f for k, (_, f) in peak_convs.items()})
            row['gflops'] = {
                label: f / (row['ms'][label] / 1e3) / 1e9
                for label, f in flops.items()
            }
            row['peak_conv'] = max(peak_convs, key=lambda k: row['gflops'][k])
            row['peak_gflops'] = row['gflops'][row['peak_conv']]
        elif args.breakdown and not (setting.onnx and device.type == 'cuda'):
            # (onnxruntime's CUDA node times are launch times: no breakdown)
            row['breakdown_ms'] = {
                label:
                steps[label].breakdown(args.breakdown_runs, folder)
                if setting.onnx else
                torch_breakdown(models[label], steps[label],
                                args.breakdown_runs, lambda: sync(device))
                for label in steps
            }
        rows.append(row)
        del models, steps, timed
    return rows


def measure_training(args: argparse.Namespace, device: torch.device,
                     progress: ProgressBar) -> List[dict]:
    """One row per model: median ms of a training step and peak memory."""
    arch = args.arch
    configs = {
        f'FasterNet-{arch.upper()}':
        (CONFIGS / f'mask_rcnn_fasternet_{arch}.py', {}),
        f'FasterNet-{arch.upper()} with_cp':
        (CONFIGS / f'mask_rcnn_fasternet_{arch}.py', dict(with_cp=True)),
        # mmdet's config freezes ResNet's stem and first stage and keeps its
        # BN in eval mode; FasterNet trains everything, and so does this.
        'ResNet-50': (RESNET50['mask_rcnn'],
                      dict(frozen_stages=-1, norm_eval=False)),
    }
    steps = {
        label: training_step(str(name), options, args.shape, device)
        for label, (name, options) in configs.items()
    }
    times = time_alternating(steps, args.train_runs, 1, progress)
    rows = []
    for label, (name, backbone_options) in configs.items():
        peak = training_peak_memory(
            str(name), backbone_options, args.shape, str(device))
        rows.append(
            dict(
                model=label,
                ms=median_ms(times[label]),
                peak_mib=None if peak is None else peak / 2**20,
                times_s=times[label]))
        progress.update()
    return rows


def print_inference(rows: List[dict], args, device) -> None:
    fasternet = f'FasterNet-{args.arch.upper()}'
    print(f'\n\n{fasternet} vs ResNet-50 at {args.shape[0]}x{args.shape[1]}'
          f', batch 1, {device} ({torch.get_num_threads()} threads), torch '
          f'{torch.__version__}; median of {args.runs} alternating runs '
          f'after {args.warmup} warm-up runs. Peak: the fastest of '
          f"{fasternet}'s own C->2C 1x1 convs (channels_last), timed in the "
          f'same loop. GFLOPS count one multiply-add as one FLOP. Detectors: '
          f'predict() with post-processing, score threshold 0 (100 '
          f'detections each).')
    print(f'| part | setting | {fasternet} ms | ResNet-50 ms | ratio | '
          f'{fasternet} GFLOPS | ResNet-50 GFLOPS | peak GFLOPS (conv) | '
          f'{fasternet} of peak | {fasternet} error vs first setting |')
    print('|---' * 10 + '|')
    for row in rows:
        ms = row['ms']
        cells = [
            row['part'], row['setting'], f'{ms[fasternet]:.1f}',
            f'{ms["ResNet-50"]:.1f}', f'{ms[fasternet] / ms["ResNet-50"]:.2f}x'
        ]
        if 'gflops' in row:
            g, peak = row['gflops'], row['peak_gflops']
            cells += [
                f'{g[fasternet]:.0f}', f'{g["ResNet-50"]:.0f}',
                f'{peak:.0f} ({row["peak_conv"][len(PEAK_PREFIX):]})',
                f'{100 * g[fasternet] / peak:.0f}%',
                f'{row["max_rel_error_vs_first_setting"]:.1e}'
            ]
        else:
            cells += ['-'] * 5
        print('| ' + ' | '.join(cells) + ' |')
    first = args.settings[0]
    for part in args.parts:
        by_setting = {r['setting']: r for r in rows if r['part'] == part}
        for name, row in by_setting.items():
            if name != first:
                speedup = by_setting[first]['ms'][fasternet] / row['ms'][
                    fasternet]
                print(f'{part}: {fasternet} {name} is {speedup:.2f}x as '
                      f'fast as {first} ({1 / speedup:.2f}x the time)')
    print_breakdown(rows)


def print_breakdown(rows: List[dict]) -> None:
    rows = [r for r in rows if 'breakdown_ms' in r]
    if not rows:
        return
    runs = len(next(iter(rows[0]['times_s'].values())))
    print(f'\nWhere the time goes, ms (mean of the profiled runs after '
          f'the {runs} timed ones): heads include RoIAlign; post-processing '
          f'is the rest of the measured time: decoding, NMS, top-k, pasting '
          f'masks, and the framework\'s overhead.')
    print('| part | setting | model | ' + ' | '.join(TIME_PARTS) +
          ' | total |')
    print('|---' * (4 + len(TIME_PARTS)) + '|')
    for row in rows:
        for label, spent in row['breakdown_ms'].items():
            cells = [row['part'], row['setting'], label]
            cells += [f'{spent[k]:.0f}' for k in TIME_PARTS + ('total', )]
            print('| ' + ' | '.join(cells) + ' |')


def print_training(rows: List[dict], args) -> None:
    print(f'\nMask R-CNN training step (forward with losses, backward, SGD '
          f'update), {args.shape[0]}x{args.shape[1]}, batch 1, 8 objects; '
          f'median of {args.train_runs} alternating runs; peak memory: what '
          f'two steps need beyond the built model, each model in a fresh '
          f'process')
    print('| model | ms / step | peak memory MiB |')
    print('|---|---|---|')
    for row in rows:
        peak = '-' if row['peak_mib'] is None else f'{row["peak_mib"]:.0f}'
        print(f'| {row["model"]} | {row["ms"]:.0f} | {peak} |')


def plot(rows: List[dict], args, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    labels = [f'{r["part"]}\n{r["setting"]}' for r in rows]
    models = [k for k in rows[0]['ms'] if not k.startswith(PEAK_PREFIX)]
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 4))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        xs = [
            j + (i - (len(models) - 1) / 2) * width for j in range(len(rows))
        ]
        bars = ax.bar(xs, [r['ms'][model] for r in rows], width, label=model)
        ax.bar_label(bars, fmt='%.0f', fontsize=7)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel('ms per image (median)')
    ax.set_title(f'{args.shape[0]}x{args.shape[1]}, batch 1, '
                 f'{platform.processor() or platform.machine()}, '
                 f'{torch.get_num_threads()} threads')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def benchmark(args: argparse.Namespace) -> None:
    """tools/benchmark.py: time FasterNet against ResNet-50, print the
    table, and save it as JSON and a bar chart if asked."""
    device = check_args(args)
    n_infer = sum((args.warmup + args.runs) * (6 if part == 'backbone' else 2)
                  for part in args.parts for _ in args.settings)
    n_train = 3 * (2 + args.train_runs) if args.train else 0
    progress = ProgressBar(n_infer + n_train)
    results = dict(
        arch=args.arch,
        shape=list(args.shape),
        device=str(device),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        runs=args.runs,
        warmup=args.warmup,
        inference=measure_inference(args, device, progress))
    if args.train:
        results['training'] = measure_training(args, device, progress)
    print_inference(results['inference'], args, device)
    if args.train:
        print_training(results['training'], args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
        print(f'measurements saved to {args.json}')
    if args.plot:
        plot(results['inference'], args, args.plot)
        print(f'bar chart saved to {args.plot}')
