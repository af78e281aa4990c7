"""Deployment: a detector exported whole (image in, detections out) to a
runtime's file, run by that runtime as mmdet runs a checkpoint, and
checked against the model it came from.

- ``api.py``: ``export`` and ``load_exported``, two calls for notebooks
  and scripts (the tools call the exporters they wrap).
- ``graph.py`` (and ``graph_onnx.py``): the detector as one traceable
  graph, and its two custom ops in ONNX.
- ``onnx_export.py``, ``openvino_export.py``: the exporters.
- ``runtimes.py``: the runtimes, one entry each (``onnxruntime_runtime.py``,
  ``openvino_runtime.py``); ``exported_detector.py``: a file as an mmdet
  model, for tools/test.py and tools/demo.py.
- ``checks.py``, ``numerics.py``: how an export is checked;
  ``time_breakdown.py``: where a detector's time goes.

BN folding, which the exports use by default, is a model transform:
``models/bn_folding.py``.
"""
from .api import export, load_exported
from .runtimes import RUNTIMES, is_exported_file, open_session

__all__ = [
    'RUNTIMES', 'export', 'is_exported_file', 'load_exported', 'open_session'
]
