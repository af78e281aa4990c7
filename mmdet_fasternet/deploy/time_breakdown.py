"""Where a detector's time goes: backbone, neck, heads, post-processing.

In PyTorch, forward hooks time the modules of each part; in an exported
file's runtime, its profiler times every node (``Session.node_times``),
and the exporter's record of the module each node came from
(``pkg.torch.onnx.name_scopes``), matched against the module paths the
file records (``file_metadata.recorded_names``), names the part. The heads
include the RoI feature extraction (RoIAlign); post-processing is the rest
of the measured time: decoding, NMS, top-k, pasting masks, and the
framework's own overhead.
"""
import ast
import time
from statistics import mean
from typing import Callable, Dict, List, Tuple

from torch import nn

from .file_metadata import model_metadata, recorded_names
from .graph import NAMED_PARTS, stages
from .runtimes import Session

TIME_PARTS = ('backbone', 'neck', 'heads', 'post-processing')


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
    from (which a runtime's fused nodes inherit)."""
    import onnx
    model = onnx.load(onnx_file, load_external_data=False)
    names = recorded_names(model_metadata(model))
    scopes_of = {p: names[p] for p in NAMED_PARTS if p in names}
    parts = {}
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = ast.literal_eval(meta.get('pkg.torch.onnx.name_scopes', '[]'))
        module = scopes[-2] if len(scopes) > 1 else ''
        part = next((p for p, scope in scopes_of.items()
                     if module == scope or module.startswith(scope + '.')),
                    None)
        if part is None:
            part = 'heads' if ('head' in module or node.op_type
                               == 'RoiAlign') else 'post-processing'
        parts[node.name] = part
        if scopes:
            parts.setdefault(scopes[-1], part)
    return parts


def exported_breakdown(onnx_file: str, step: Callable[[], None],
                       session: Session, runs: int) -> Dict[str, float]:
    """Mean ms per part over ``runs`` calls of ``step``, which runs
    ``session`` (opened with ``profile``) on ``onnx_file`` or a file made
    from it; one warm-up call first, which the breakdown leaves out. Nodes
    a runtime added itself (layout reorders) count as post-processing."""
    node_parts = onnx_node_parts(onnx_file)
    step()
    totals = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        totals.append(time.perf_counter() - start)
        session.record_profile()
    return with_rest(
        node_times_by_part(session.node_times(runs), node_parts),
        1e3 * mean(totals))


def node_times_by_part(times: Dict[Tuple[str, ...], float],
                       node_parts: Dict[str, str]) -> Dict[str, float]:
    """``times`` (``Session.node_times``) summed by part, each node by the
    first of its names that ``node_parts`` knows."""
    spent = {part: 0.0 for part in TIME_PARTS}
    for names, ms in times.items():
        part = next((node_parts[n] for n in names if n in node_parts),
                    'post-processing')
        spent[part] += ms
    return spent
