"""What an exported detector's file records besides the network (ONNX
metadata, an IR's runtime info): class names, preprocessing, and the names
its pieces got (``graph.DetectorGraph.names_in``)."""
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..errors import CheckpointError

# Files exported before the names were recorded: the names they have.
NAMES_BEFORE_RECORDING = {
    'score_threshold': 'detector_graph.score_threshold',
    'backbone': 'detector_graph.detector.backbone',
    'neck': 'detector_graph.detector.neck',
}


def recorded_classes(meta: Mapping[str, str]) -> Optional[List[str]]:
    """The class names a file's metadata records, or None where it records
    none (not a whole detector)."""
    return json.loads(meta['classes']) if 'classes' in meta else None


def check_classes(file: str, meta: Mapping[str, str],
                  classes: Sequence[str]) -> None:
    """The file (its metadata ``meta``) must be a whole detector of
    ``classes``, the config's."""
    recorded = recorded_classes(meta)
    if recorded is None:
        raise CheckpointError(
            f'{file!r} records no class names: not a whole detector '
            f'exported by tools/export_onnx.py --part detector (and, for '
            f'an OpenVINO IR, converted by tools/export_openvino.py); '
            f'export it with those tools.')
    if list(recorded) != list(classes):
        raise CheckpointError(
            f'{file!r} was exported for {len(recorded)} classes '
            f'({", ".join(recorded[:3])}, ...), the config names '
            f'{len(classes)} ({", ".join(list(classes)[:3])}, ...); pass '
            f'the config it was exported from.')


def recorded_names(meta: Mapping[str, str]) -> Dict[str, str]:
    """The names the file's pieces got, by piece: the score threshold's
    tensor and the parts' module paths."""
    if 'names' in meta:
        return json.loads(meta['names'])
    return dict(NAMES_BEFORE_RECORDING)


def model_metadata(model: Any) -> Dict[str, str]:
    """What tools/export_onnx.py recorded in a loaded ONNX model, by name."""
    return {p.key: p.value for p in model.metadata_props}


def onnx_metadata(onnx_file: str) -> Dict[str, str]:
    """What tools/export_onnx.py recorded in an ONNX file, by name."""
    import onnx
    return model_metadata(onnx.load(onnx_file, load_external_data=False))
