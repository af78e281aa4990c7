"""Where a detector's time goes: backbone, neck, heads, post-processing.

In PyTorch, forward hooks time the modules of each part; in onnxruntime
and OpenVINO, their profilers time every node, and the exporter's record
of the module each node came from (``pkg.torch.onnx.name_scopes``) names
the part. The heads include the RoI feature extraction (RoIAlign);
post-processing is the rest of the measured time: decoding, NMS, top-k,
pasting masks, and the framework's own overhead.
"""
import ast
import json
import re
import time
from statistics import mean
from typing import Callable, Dict, List

from torch import nn

from ..models.detector_graph import stages

TIME_PARTS = ('backbone', 'neck', 'heads', 'post-processing')
# What onnxruntime's optimiser adds to the name of a node it fuses or
# re-lays out.
FUSED_PREFIX = re.compile(r'^fused ')
LAYOUT_SUFFIX = re.compile(r'_nchwc$')


def part_modules(detector: nn.Module) -> Dict[str, List[nn.Module]]:
    """The modules whose forward makes up each part but post-processing."""
    found = {'backbone': [detector.backbone], 'neck': [], 'heads': []}
    if getattr(detector, 'neck', None) is not None:
        found['neck'].append(detector.neck)
    if not hasattr(detector, 'roi_head'):
        found['heads'].append(detector.bbox_head)
        return found
    heads = [detector.rpn_head]
    for kind in ('bbox', 'mask'):
        if getattr(detector.roi_head, f'with_{kind}'):
            for extractor, head in stages(detector.roi_head, kind):
                heads += [extractor, head]
    # A cascade may share one extractor among its stages: hooked once.
    for head in heads:
        if all(head is not known for known in found['heads']):
            found['heads'].append(head)
    return found


def with_rest(parts: Dict[str, float], total: float) -> Dict[str, float]:
    """``parts`` in ms, post-processing the rest of ``total``, and total.

    Where the parts add up to more than ``total`` (a runtime's node times
    overlap: OpenVINO's did by 1% for RetinaNet), they are scaled to it,
    post-processing's own nodes included, so that no part is negative."""
    measured = sum(parts.values())
    if measured > total:
        scale = total / measured
        return dict({k: v * scale for k, v in parts.items()}, total=total)
    timed = {k: v for k, v in parts.items() if k != 'post-processing'}
    return dict(
        timed, **{
            'post-processing': total - sum(timed.values()),
            'total': total
        })


def torch_breakdown(detector: nn.Module, step: Callable[[], None], runs: int,
                    sync: Callable[[], None]) -> Dict[str, float]:
    """Mean ms per part over ``runs`` calls of ``step`` (a predict)."""
    spent = {part: 0.0 for part in TIME_PARTS}
    started: Dict[int, float] = {}
    handles = []

    def pre_hook(module, args):
        sync()
        started[id(module)] = time.perf_counter()

    def hook_for(part):

        def hook(module, args, output):
            sync()
            spent[part] += time.perf_counter() - started.pop(id(module))

        return hook

    for part, modules in part_modules(detector).items():
        for module in modules:
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(hook_for(part)))
    try:
        totals = []
        for _ in range(runs):
            start = time.perf_counter()
            step()
            totals.append(time.perf_counter() - start)
    finally:
        for handle in handles:
            handle.remove()
    return with_rest({
        k: 1e3 * v / runs
        for k, v in spent.items()
    }, 1e3 * mean(totals))


def onnx_node_parts(onnx_file: str) -> Dict[str, str]:
    """Each node's part, by its name and by the name of the FX node it came
    from (which onnxruntime's fused nodes inherit)."""
    import onnx
    model = onnx.load(onnx_file, load_external_data=False)
    parts = {}
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = ast.literal_eval(meta.get('pkg.torch.onnx.name_scopes', '[]'))
        module = scopes[-2] if len(scopes) > 1 else ''
        part = next(
            (p for p in ('backbone', 'neck') if f'.detector.{p}' in module),
            None)
        if part is None:
            part = 'heads' if ('head' in module or node.op_type
                               == 'RoiAlign') else 'post-processing'
        parts[node.name] = part
        if scopes:
            parts.setdefault(scopes[-1], part)
    return parts


def profiled_parts(profile_file: str, node_parts: Dict[str, str],
                   runs: int) -> Dict[str, float]:
    """Mean ms per part of the node times of the last ``runs`` runs in an
    onnxruntime profile; nodes onnxruntime made itself (layout reorders)
    count as post-processing."""
    spent = {part: 0.0 for part in TIME_PARTS}
    with open(profile_file) as f:
        events = json.load(f)
    starts = sorted(e['ts'] for e in events
                    if e.get('cat') == 'Session' and e['name'] == 'model_run')
    if len(starts) < runs:
        raise RuntimeError(f'{profile_file}: {len(starts)} runs recorded, '
                           f'{runs} expected')
    first = starts[-runs]
    for event in events:
        name = event.get('name', '')
        if (event.get('cat') != 'Node' or event['ts'] < first
                or not name.endswith('_kernel_time')):
            continue
        node = LAYOUT_SUFFIX.sub(
            '',
            FUSED_PREFIX.sub('', name[:-len('_kernel_time')]).split('/')[0])
        part = node_parts.get(node) or node_parts.get('node_' + node)
        spent[part or 'post-processing'] += event['dur'] / 1e3
    return {k: v / runs for k, v in spent.items()}


def onnx_breakdown(onnx_file: str, step: Callable[[], None], session,
                   runs: int) -> Dict[str, float]:
    """Mean ms per part over ``runs`` calls of ``step``, which runs
    ``session``, a session created with profiling on; one warm-up call
    first, which the breakdown leaves out."""
    step()
    totals = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        totals.append(time.perf_counter() - start)
    parts = profiled_parts(session.end_profiling(), onnx_node_parts(onnx_file),
                           runs)
    return with_rest(parts, 1e3 * mean(totals))


def openvino_breakdown(onnx_file: str, step: Callable[[], None], request,
                       runs: int) -> Dict[str, float]:
    """Mean ms per part over ``runs`` calls of ``step``, which runs the
    OpenVINO ``request`` of a model converted from ``onnx_file`` and
    compiled with PERF_COUNT; one warm-up call first. OpenVINO names a
    node it made of ONNX nodes after one of them (``name/suffix`` for
    what it split off); nodes it added count as post-processing."""
    node_parts = onnx_node_parts(onnx_file)
    step()
    spent = {part: 0.0 for part in TIME_PARTS}
    totals = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        totals.append(time.perf_counter() - start)
        for info in request.get_profiling_info():
            part = node_parts.get(info.node_name) or node_parts.get(
                info.node_name.split('/')[0])
            spent[part or 'post-processing'] += (
                info.real_time.total_seconds() * 1e3)
    return with_rest({
        k: v / runs
        for k, v in spent.items()
    }, 1e3 * mean(totals))
