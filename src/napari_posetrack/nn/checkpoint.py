"""Checkpoints: a directory with ``config.yaml`` + weights, written atomically.

Layout of one model's checkpoint directory::

    config.yaml            TrainingConfig (model, preprocess, skeleton, data facts, metrics)
    best.safetensors       weights with the best validation score
    last.safetensors       weights at the end of the last epoch
    state.pt               optimizer/scheduler/epoch state for resuming (tensors only)
    history.json           per-epoch losses and metrics

A top-down model directory holds two such checkpoints, ``centroid/`` and
``centered_instance/``, plus ``config.yaml`` with ``pipeline: topdown``.

Every save goes to a temporary sibling directory that is renamed over the target, so a run
that fails or is stopped never leaves a half-written model directory behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..core.errors import ConfigError, PoseTrackError
from .config import TrainingConfig, load_config, save_config

__all__ = [
    "CheckpointError",
    "WEIGHT_NAMES",
    "save_checkpoint",
    "load_model",
    "load_pipeline",
    "checkpoint_kind",
    "write_pipeline",
    "weights_path",
]

#: weight files looked for, in order
WEIGHT_NAMES = ("best.safetensors", "weights.safetensors", "last.safetensors", "best.pt", "weights.pt", "last.pt")


class CheckpointError(PoseTrackError):
    """A checkpoint directory is missing files, corrupt, or of the wrong kind."""


def weights_path(ckpt_dir, which: str | None = None) -> Path:
    d = Path(ckpt_dir)
    names = [f"{which}.safetensors", f"{which}.pt"] if which else WEIGHT_NAMES
    for n in names:
        if (d / n).is_file():
            return d / n
    raise CheckpointError(f"No weights file ({', '.join(names)}) in checkpoint {d}.", path=d,
                          hint="Train a model into this directory first, or pick the right folder.")


def _atomic_dir_write(target: Path, fill) -> None:
    """Create ``target`` by filling a temp dir and renaming it over (keeping old contents not rewritten)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        if target.is_dir():
            for p in target.iterdir():
                if p.is_file():
                    shutil.copy2(p, tmp / p.name)
        fill(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for p in tmp.iterdir():
            os.chmod(p, 0o666 & ~umask)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_checkpoint(ckpt_dir, model, config: TrainingConfig, *, which=("last",), state: dict | None = None,
                    history: list | None = None) -> Path:
    """Atomically write config + weights (as ``<which>.safetensors`` for each name) to ``ckpt_dir``.

    Parameters
    ----------
    which : sequence of str
        Weight names to write, e.g. ``("best", "last")``.
    state : dict, optional
        Tensors/numbers for resuming (optimizer state...), saved as ``state.pt``.
    history : list of dict, optional
        Per-epoch records, saved as ``history.json``.
    """
    import torch
    from safetensors.torch import save_file

    sd = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}

    def fill(tmp: Path):
        save_config(config, tmp / "config.yaml")
        for w in which:
            save_file(sd, str(tmp / f"{w}.safetensors"))
        if state is not None:
            torch.save(state, tmp / "state.pt")
        if history is not None:
            (tmp / "history.json").write_text(json.dumps(history, default=float))

    _atomic_dir_write(Path(ckpt_dir), fill)
    return Path(ckpt_dir)


def _read_state_dict(path: Path) -> dict:
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(sd, dict):
            raise TypeError(f"expected a dict of tensors, found {type(sd).__name__}")
        return sd
    except Exception as exc:  # noqa: BLE001 - every failure here means a bad weights file
        raise CheckpointError(f"The weights file {path} is corrupted or not a weights file ({exc}).", path=path,
                              hint="Use the other weights file in the folder (last/best) or retrain.") from None


def checkpoint_kind(ckpt_dir) -> str:
    """``"topdown"`` for a top-down pipeline dir, else the model type in ``config.yaml``."""
    d = Path(ckpt_dir)
    cfg_path = d / "config.yaml"
    if not cfg_path.is_file():
        raise CheckpointError(f"{d} is not a model directory: it has no config.yaml.", path=d,
                              hint="Pick the folder that `posetrack train --out` wrote.")
    import yaml

    raw = yaml.safe_load(cfg_path.read_text()) or {}
    if raw.get("pipeline") == "topdown":
        return "topdown"
    return load_config(cfg_path).model.type


def write_pipeline(out_dir, kind: str = "topdown", **extra) -> None:
    """Write the ``config.yaml`` that marks ``out_dir`` as a pipeline of sub-checkpoints."""
    import yaml

    from .config import CONFIG_VERSION

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    data = {"pipeline": kind, "version": CONFIG_VERSION, "centroid": "centroid",
            "centered_instance": "centered_instance", **extra}
    tmp = d / ".config.yaml.tmp"
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, d / "config.yaml")


def load_model(ckpt_dir, device="cpu", *, which: str | None = None, expect_type: str | None = None):
    """Load one model checkpoint.

    Parameters
    ----------
    ckpt_dir : path
        A checkpoint directory (not a top-down pipeline dir: see :func:`load_pipeline`).
    device : str or torch.device
    which : {"best", "last", None}
        Weights to load; None = best, else weights, else last.
    expect_type : str, optional
        Raise :class:`CheckpointError` if the model type differs.

    Returns
    -------
    model : torch.nn.Module in eval mode on ``device``
    config : dict (the ``config.yaml`` contents, with ``config["model"]["output_stride"]``)
    """
    from .model import build_model

    d = Path(ckpt_dir)
    kind = checkpoint_kind(d)
    if kind == "topdown":
        raise CheckpointError(f"{d} is a top-down pipeline with two models (centroid/, centered_instance/).",
                              path=d, hint="Use load_pipeline(dir), or load_model(dir / 'centroid') etc.")
    if expect_type and kind != expect_type:
        raise CheckpointError(f"Checkpoint {d} holds a {kind!r} model, expected a {expect_type!r} model.", path=d,
                              hint=f"Pick a {expect_type} checkpoint, or train one.")
    try:
        cfg = load_config(d)
    except ConfigError as exc:
        raise CheckpointError(f"Checkpoint {d} has an unusable config.yaml: {exc}", path=d,
                              hint="Upgrade napari-posetrack or retrain the model.") from None
    model = build_model(cfg)
    sd = _read_state_dict(weights_path(d, which))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"Weights in {d} do not fit the model its config.yaml describes (missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}).", path=d,
            hint="The config and weights come from different runs; retrain or restore the folder.")
    model.to(device).eval()
    return model, cfg.to_dict()


def load_pipeline(model_dir, device="cpu") -> dict:
    """Load every model of a model directory.

    Returns ``{"kind": str, "models": {model_type: (model, config)}}``: one entry for single/
    bottom-up, ``centroid`` and ``centered_instance`` for top-down.
    """
    d = Path(model_dir)
    kind = checkpoint_kind(d)
    if kind == "topdown":
        models = {t: load_model(d / t, device, expect_type=t) for t in ("centroid", "centered_instance")}
    else:
        models = {kind: load_model(d, device)}
    return {"kind": kind, "models": models}
