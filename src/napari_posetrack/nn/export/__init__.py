"""Model export for deployment (ONNX + sidecar) and the onnxruntime inference backend.

See :mod:`.exporter` (``export_model``) and :mod:`.runtime` (``load_onnx_predictor``).
Importing this package imports neither torch nor onnx.
"""

from __future__ import annotations

__all__ = ["export_model", "load_onnx_predictor", "load_backend_predictor", "OnnxModule", "ExportError",
           "read_sidecar", "is_export_dir", "BACKENDS"]


def __getattr__(name):
    if name in ("export_model", "ExportError", "read_sidecar", "is_export_dir"):
        from . import exporter

        return getattr(exporter, name)
    if name in ("load_onnx_predictor", "load_backend_predictor", "OnnxModule", "BACKENDS"):
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
