"""Export trained models to ONNX, with a JSON sidecar that holds what the decoder needs.

Layout of an export directory (``posetrack export-model MODEL_DIR --format onnx --out DIR``)::

    export.json               sidecar: kind, skeleton, thresholds, and per stage the input
                              scale, stride, channels, pad, heads, crop size, full config
    single.onnx               one graph per network: ``single``, ``bottomup``, or
    centroid.onnx             ``centroid`` + ``centered_instance`` for a top-down model
    centered_instance.onnx

Each graph takes ``image``: float32 ``(batch, channels, height, width)`` in [0, 1], already
scaled by the stage's ``input_scale`` and zero-padded at the bottom/right to a multiple of
``pad_to``; batch, height and width are dynamic axes. It returns one output per head
(``confmaps``, ``pafs``, ``centroids``, ``offsets``; ``classmaps`` of a ``bottomup-id`` model), each
``(batch, n, height / stride, width / stride)``; the ``identity`` head of a ``topdown-id``
centred-instance network gives ``(batch, classes, 1, 1)`` logits. The sidecar's
``identity_classes`` names those classes (empty for a model without identity). Peak finding,
grouping and crops are *not* in the graph: they are the decoder's job
(:mod:`napari_posetrack.nn.inference`), which the onnxruntime backend (:mod:`.runtime`) reuses
unchanged.

Every export is checked before it is kept: onnxruntime runs the graph at two input sizes
other than the traced one and its outputs must match torch (max abs difference below
:data:`VERIFY_TOLERANCE`); otherwise the export is refused and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from ...core.errors import ConfigError, PoseTrackError

__all__ = ["ExportError", "SIDECAR", "FORMATS", "SIDECAR_VERSION", "VERIFY_TOLERANCE", "export_model",
           "read_sidecar", "is_export_dir", "require_onnx"]

#: sidecar file name in an export directory
SIDECAR = "export.json"
#: schema version of the sidecar; a larger one is refused by :func:`read_sidecar`
SIDECAR_VERSION = 1
#: export formats this module writes
FORMATS = ("onnx",)
#: max abs difference between onnxruntime and torch head outputs accepted at export
VERIFY_TOLERANCE = 1e-4


class ExportError(PoseTrackError):
    """A model cannot be exported faithfully (or an export directory is unusable)."""


def require_onnx(what: str = "ONNX export"):
    """Import and return ``(onnx, onnxruntime)``, or raise a clear error naming the extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ExportError(f"{what} needs the packages onnx and onnxruntime, which are not installed ({exc}).",
                          hint="pip install 'napari-posetrack[onnx]'  (or: pip install onnx onnxruntime)") from None
    return onnx, onnxruntime


def is_export_dir(path) -> bool:
    """True when ``path`` is a directory written by :func:`export_model`."""
    return (Path(path) / SIDECAR).is_file()


def read_sidecar(export_dir) -> dict:
    """The parsed ``export.json`` of an export directory (checked for version and files)."""
    d = Path(export_dir)
    p = d / SIDECAR
    if not p.is_file():
        raise ExportError(f"{d} is not an exported model: it has no {SIDECAR}.", path=d,
                          hint="Pass the folder written by `posetrack export-model ... --out DIR`.")
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"The sidecar {p} is not valid JSON ({exc}).", path=p,
                          hint="Export the model again with `posetrack export-model`.") from None
    if meta.get("format") != "onnx":
        raise ExportError(f"{p} describes a {meta.get('format')!r} export; only 'onnx' exports are read here.",
                          path=p, hint="Export the model again with --format onnx.")
    if int(meta.get("version", 0)) > SIDECAR_VERSION:
        raise ExportError(f"{p} has sidecar version {meta.get('version')}, newer than the {SIDECAR_VERSION} this "
                          "napari-posetrack understands.", path=p, hint="Upgrade napari-posetrack.")
    for name, st in meta.get("stages", {}).items():
        if not (d / st["file"]).is_file():
            raise ExportError(f"The export {d} lists stage {name!r} in {st['file']}, which is missing.", path=d,
                              hint="Copy the whole export folder, or export the model again.")
    return meta


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stage_dirs(model_dir: Path) -> tuple[str, dict]:
    """(kind, {stage name: checkpoint dir}) of a model directory."""
    from ..checkpoint import checkpoint_kind

    kind = checkpoint_kind(model_dir)
    if kind == "topdown":
        return kind, {"centroid": model_dir / "centroid", "centered_instance": model_dir / "centered_instance"}
    return kind, {kind: model_dir}


def _check_exportable(name: str, model, cfg, stage_dir: Path) -> None:
    """Refuse what the exported graph + sidecar could not reproduce."""
    from ..model import PoseModel

    from ..model import HEADS, MODEL_HEADS, head_names

    mtype = cfg.model.type
    if mtype not in MODEL_HEADS:
        raise ExportError(f"The {name} model in {stage_dir} has type {mtype!r}, which the decoder cannot read; "
                          f"exportable types: {sorted(MODEL_HEADS)}.", path=stage_dir,
                          hint="Export a single, centroid, centered_instance, bottomup or top-down model.")
    if not isinstance(model, PoseModel):
        raise ExportError(f"The {name} model in {stage_dir} is a {type(model).__name__}, not a PoseModel; its "
                          "outputs are not known to follow the head contract.", path=stage_dir,
                          hint="Export models built by napari_posetrack.nn.model.build_model.")
    heads = set(model.heads.keys())
    unknown = heads - set(HEADS)
    need = set(head_names(cfg))  # its config's heads: an identity model has class maps instead of PAFs
    missing = need - heads
    if unknown or missing:
        raise ExportError(
            f"The {name} model in {stage_dir} has heads {sorted(heads)}; the decoder reads {sorted(HEADS)} and a "
            f"{mtype!r} model needs {sorted(need)} (unknown: {sorted(unknown)}, missing: "
            f"{sorted(missing)}). An export would decode wrongly.", path=stage_dir,
            hint="Teach nn/model.py and the decoder the new head first, then export.")
    if float(cfg.preprocess.input_scale) <= 0:
        raise ExportError(f"The {name} model in {stage_dir} has preprocess.input_scale 0 ('auto'): it was never "
                          "trained, so the scale its weights expect is unknown.", path=stage_dir,
                          hint="Train the model (training writes the scale it used), then export.")
    if mtype == "centered_instance" and int(cfg.model.crop_size or cfg.data.get("crop_size", 0) or 0) <= 0:
        raise ExportError(f"The centered-instance model in {stage_dir} does not say its crop size.", path=stage_dir,
                          hint="Set model.crop_size in its config.yaml to the crop size used in training.")


def _export_graph(model, channels: int, pad_to: int, heads: list[str], path: Path, opset: int) -> None:
    import torch

    side = max(2 * pad_to, 64)
    side = -(-side // pad_to) * pad_to
    dummy = torch.rand(1, channels, side, side)
    axes = {"image": {0: "batch", 2: "height", 3: "width"}}
    for h in heads:
        axes[h] = {0: "batch", 2: f"{h}_height", 3: f"{h}_width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        try:
            torch.onnx.export(model, (dummy,), str(path), input_names=["image"], output_names=heads,
                              dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False)
        except Exception as exc:  # noqa: BLE001 - any tracer/exporter failure means: cannot export
            raise ExportError(f"torch.onnx.export could not express this network in ONNX opset {opset}: "
                              f"{type(exc).__name__}: {exc}",
                              hint="Try another --opset, or a backbone made of standard layers (unet, resnet).") \
                from None


def _verify(model, path: Path, channels: int, pad_to: int, heads: list[str], threads: int) -> dict:
    """Run the graph in onnxruntime at two sizes other than the traced one; compare with torch."""
    import numpy as np
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    sizes = [(1, 3 * pad_to, 5 * pad_to), (2, 5 * pad_to, 2 * pad_to)]
    worst, where = 0.0, ""
    for b, h, w in sizes:
        x = torch.rand(b, channels, h, w, generator=g)
        with torch.inference_mode():
            ref = model(x)
        got = sess.run(heads, {"image": x.numpy()})
        for name, arr in zip(heads, got):
            r = ref[name].numpy()
            if arr.shape != r.shape:
                raise ExportError(f"The ONNX graph gives head {name!r} the shape {arr.shape} for input {x.shape}, "
                                  f"torch gives {r.shape}: the dynamic height/width did not survive the export.",
                                  hint="Report this model's backbone; export with a fixed input size meanwhile.")
            d = float(np.max(np.abs(arr - r))) if arr.size else 0.0
            if d > worst:
                worst, where = d, f"{name} at {b}x{channels}x{h}x{w}"
    if worst > VERIFY_TOLERANCE:
        raise ExportError(f"The ONNX graph does not reproduce the torch network: max abs difference {worst:.3g} "
                          f"({where}), above the {VERIFY_TOLERANCE:g} accepted. Nothing was written.",
                          hint="Try another --opset; this backbone may use an operator onnxruntime computes "
                               "differently.")
    return {"max_abs_diff": worst, "tolerance": VERIFY_TOLERANCE,
            "sizes": [[b, channels, h, w] for b, h, w in sizes]}


def export_model(model_dir, out_dir, *, format: str = "onnx", opset: int = 17, which: str | None = None,
                 frame_size=None, overwrite: bool = False, verify: bool = True, threads: int = 1) -> dict:
    """Export every network of a model directory to ONNX, plus the ``export.json`` sidecar.

    Parameters
    ----------
    model_dir : path
        Written by ``posetrack train``: single, bottom-up, a top-down dir (both stages are
        exported), or one centroid / centered-instance checkpoint.
    out_dir : path
        Created (must not exist, or be empty, unless ``overwrite``).
    format : {"onnx"}
    opset : int
        ONNX opset version.
    which : {"best", "last", None}
        Weights to export (None = best, else last).
    frame_size : (height, width), optional
        The frame size the model is meant for, recorded in the sidecar; live mode then resizes
        or refuses frames of another size (the graph itself accepts any size).
    verify : bool
        Compare onnxruntime with torch before keeping the export (on by default).

    Returns
    -------
    dict : the sidecar contents.
    """
    model_dir, out_dir, frame_size = _check_export_args(format, model_dir, out_dir, frame_size, overwrite)
    kind, dirs = _stage_dirs(model_dir)
    meta = _sidecar(kind, model_dir, opset, frame_size)
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    try:
        for name, sdir in dirs.items():
            meta["stages"][name], skeleton = _export_stage(name, sdir, tmp, which=which, opset=int(opset),
                                                           verify=verify, threads=threads)
            if skeleton.get("node_names"):
                meta["skeleton"] = skeleton
        meta["identity_classes"] = _identity_classes(meta["stages"])
        (tmp / SIDECAR).write_text(json.dumps(meta, indent=1, default=float))
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _identity_classes(stages: dict) -> list:
    """The identity classes of an exported model (``data.identity_classes`` of its stage configs), or []."""
    for st in stages.values():
        classes = ((st.get("config") or {}).get("data") or {}).get("identity_classes")
        if classes:
            return [str(c) for c in classes]
    return []


def _check_export_args(format, model_dir, out_dir, frame_size, overwrite: bool):
    """Refuse an export that cannot be done before any work; returns ``(model_dir, out_dir, frame_size)``."""
    if format not in FORMATS:
        extra = (" A TensorRT engine is built from the ONNX export with trtexec (see docs/live.md)."
                 if str(format).lower() in ("tensorrt", "trt", "engine") else "")
        raise ExportError(f"Export format {format!r} is not supported; supported: {list(FORMATS)}.{extra}",
                          hint="Use --format onnx.")
    require_onnx()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not model_dir.is_dir():
        raise ExportError(f"Model directory {model_dir} does not exist.", path=model_dir,
                          hint="Pass the folder that `posetrack train --out` wrote.")
    if out_dir.resolve() == model_dir.resolve() or model_dir.resolve() in out_dir.resolve().parents:
        raise ExportError(f"The export folder {out_dir} is inside the model directory {model_dir}.", path=out_dir,
                          hint="Pick an --out folder outside the model directory.")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise ExportError(f"The export folder {out_dir} exists and is not empty.", path=out_dir,
                          hint="Pass --overwrite, or pick another --out.")
    if frame_size is not None:
        frame_size = [int(v) for v in frame_size]
        if len(frame_size) != 2 or min(frame_size) <= 0:
            raise ConfigError(f"frame_size should be (height, width) > 0, got {frame_size}.",
                              hint="Give it as HxW, for example 1024x1024.")
    return model_dir, out_dir, frame_size


def _sidecar(kind: str, model_dir: Path, opset, frame_size) -> dict:
    """The sidecar's model-wide part (``stages`` and ``skeleton`` are filled per stage)."""
    import torch

    from ... import __version__
    from ..inference.predictors import PREDICTORS, PredictorSettings

    defaults = PredictorSettings()
    return {
        "format": "onnx", "version": SIDECAR_VERSION, "kind": kind,
        "predictor": kind if kind in PREDICTORS else None,
        "source_model": str(model_dir.resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "napari_posetrack": __version__, "torch": torch.__version__, "opset": int(opset),
        "frame_size": frame_size,
        "thresholds": {"peak_threshold": defaults.peak_threshold,
                       "centroid_threshold": defaults.centroid_threshold},
        "decoder": {"refine": defaults.refine, "paf_method": defaults.paf_method,
                    "paf_samples": defaults.paf_samples, "paf_threshold": defaults.paf_threshold,
                    "paf_min_fraction": defaults.paf_min_fraction, "paf_peak_weight": defaults.paf_peak_weight},
        "coordinates": "a peak at map cell m is at network-input pixel m * output_stride and at original pixel "
                       "(p + 0.5) / input_scale - 0.5 (plus the crop origin for centered_instance); padding is "
                       "zeros at the bottom/right",
        "skeleton": None, "stages": {},
    }


def _export_stage(name: str, sdir: Path, tmp: Path, *, which, opset: int, verify: bool, threads: int):
    """Export (and verify) one network into ``tmp``; returns ``(its sidecar entry, its config's skeleton)``."""
    from ..checkpoint import load_model
    from ..config import load_config
    from ..model import HEADS

    model, cfg_dict = load_model(sdir, "cpu", which=which, expect_type=name)
    model.float().eval()
    cfg = load_config(cfg_dict)
    _check_exportable(name, model, cfg, sdir)
    heads = list(model.heads.keys())
    channels = int(model.in_channels)
    pad_to = int(cfg.pad_to)
    path = tmp / f"{name}.onnx"
    _export_graph(model, channels, pad_to, heads, path, opset)
    check = _verify(model, path, channels, pad_to, heads, threads) if verify else None
    entry = {
        "file": path.name, "sha256": _sha256(path), "model_type": cfg.model.type,
        "input": {"name": "image", "dtype": "float32", "layout": "NCHW", "value_range": [0.0, 1.0],
                  "channels": channels, "dynamic_axes": ["batch", "height", "width"],
                  "height_width_multiple_of": pad_to},
        "input_scale": float(cfg.preprocess.input_scale), "output_stride": int(cfg.model.output_stride),
        "pad_to": pad_to, "max_stride": int(cfg.model.max_stride),
        "crop_size": int(cfg.model.crop_size or cfg.data.get("crop_size", 0) or 0),
        "anchor_node": cfg.model.anchor_node, "offsets": bool(cfg.model.offsets),
        "heading_node": getattr(cfg.model, "heading_node", None),
        "sigma": float(cfg.model.sigma),
        "heads": {h: int(HEADS[h](cfg)) for h in heads},
        "verified": check, "config": cfg_dict,
    }
    return entry, cfg.skeleton


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Give ``tmp`` the usual folder permissions and move it to ``out_dir`` (replacing what is there)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    if out_dir.exists():
        if out_dir.is_dir():
            shutil.rmtree(out_dir)
        else:
            out_dir.unlink()
    os.replace(tmp, out_dir)
