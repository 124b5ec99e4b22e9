"""``posetrack export-model``: a trained model as ONNX graphs + a JSON sidecar, for deployment.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_export_model`).
"""

from __future__ import annotations


def parse_size(text):
    """``"HxW"`` -> ``(H, W)``; None -> None."""
    from ..core.errors import ConfigError

    if text in (None, ""):
        return None
    try:
        h, w = str(text).lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise ConfigError(f"Expected a frame size HxW (for example 1024x1024), got {text!r}.",
                          hint="Give height and width separated by 'x'.") from None


def export_model(model_dir, out, *, format: str = "onnx", opset: int = 17, weights=None, frame_size=None,
                 verify: bool = True, overwrite: bool = False) -> dict:
    """Export ``model_dir`` to ``out``; returns the sidecar (see ``nn.export.exporter.export_model``)."""
    from ..nn.export.exporter import export_model as _export

    if isinstance(frame_size, str):
        frame_size = parse_size(frame_size)
    return _export(model_dir, out, format=format, opset=opset, which=weights, frame_size=frame_size,
                   verify=verify, overwrite=overwrite)

