"""High-level training entry point: inputs + model kind -> model directory.

``iter_train(inputs, "topdown", out_dir)`` is a generator of progress events that returns a
result dict; :func:`train` drains it. Model kinds (registry :data:`PIPELINES`):

* ``single``: one single-instance model in ``out_dir``;
* ``bottomup``: one bottom-up model in ``out_dir``;
* ``topdown``: ``out_dir/centroid`` and ``out_dir/centered_instance`` plus a pipeline
  ``config.yaml``; a time limit is shared 30/70 between the two stages (:data:`TOPDOWN_SHARES`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..core.errors import ConfigError
from ..core.progress import CancelToken, ProgressEvent
from .config import TrainingConfig, load_config

__all__ = ["PIPELINES", "iter_train", "train", "prepare_config"]


def prepare_config(base: TrainingConfig, model_type: str, dataset, overrides: dict | None = None) -> TrainingConfig:
    """Copy ``base`` with the model type, skeleton and overrides set, validated."""
    cfg = base.update(overrides or {})
    cfg.model.type = model_type
    sk = dataset.skeleton
    cfg.skeleton = sk.to_dict()  # node names, edges, symmetries, name, and its anchor/heading choice if any
    note = resolve_anchor_heading(cfg)
    if note:
        cfg.data["anchor_note"] = note
    cfg.validate()
    if model_type == "bottomup" and not sk.edges and not cfg.data.get("identity_classes"):
        raise ConfigError(f"A bottom-up model needs skeleton edges; skeleton {sk.name!r} has none.",
                          hint="Add edges to the skeleton, or train a single-instance or top-down model.")
    return cfg


def resolve_anchor_heading(cfg) -> str:
    """Replace ``auto`` anchor/heading nodes by names proposed from the skeleton; returns what was chosen and why.

    Only top-down stages use them; other model types get empty values.
    """
    from ..core.skeleton import Skeleton

    m = cfg.model
    if m.type not in ("centroid", "centered_instance"):
        m.anchor_node = "" if m.anchor_node == "auto" else m.anchor_node
        m.heading_node = "" if m.heading_node == "auto" else m.heading_node
        return ""
    sk = cfg.skeleton
    anchor, heading, why = Skeleton.from_dict({"node_names": sk.get("node_names", []), "anchor": sk.get("anchor"),
                                               "heading": sk.get("heading")}).alignment()
    picked = []
    if m.anchor_node == "auto":
        m.anchor_node = anchor
        picked.append(f"anchor node {anchor!r}" if anchor else "anchor = bounding-box centre")
    if m.heading_node == "auto":
        m.heading_node = heading if heading != m.anchor_node else ""
        picked.append(f"heading node {m.heading_node!r} (crops rotated heading-up)" if m.heading_node
                      else "no heading node (crops not aligned)")
    if not picked:
        return ""
    return (f"{' and '.join(picked)} (auto: {why}; choose them in the Skeleton dock, or set model.anchor_node / "
            "model.heading_node)")


def _fit_one(dataset, cfg, out_dir, frames_cache, *, resume, cancel, dist=None):
    from .data import collect_frames
    from .trainer import iter_fit

    key = (cfg.model.type == "single", cfg.train.use_negatives)
    if key not in frames_cache:
        frames_cache[key] = collect_frames(dataset, use_negatives=cfg.train.use_negatives,
                                           single_instance=cfg.model.type == "single")
    result = yield from iter_fit(frames_cache[key], cfg, out_dir, resume=resume, cancel=cancel, dist=dist)
    return result


def _single_like(model_type):
    def run(dataset, base, out_dir, *, resume, cancel, stage_overrides, dist=None):
        cfg = prepare_config(base, model_type, dataset, stage_overrides.get(model_type))
        result = yield from _fit_one(dataset, cfg, out_dir, {}, resume=resume, cancel=cancel, dist=dist)
        return {"kind": model_type, "out_dir": str(out_dir), "stages": {model_type: result}}

    return run


#: how a top-down time budget is shared: the centroid model sees a coarse view of the frame (1/8 for
#: flies in 1024 px frames) and learns fast; the centred-instance model is where the accuracy is
TOPDOWN_SHARES = (("centroid", 0.3), ("centered_instance", 0.7))


def _topdown(dataset, base, out_dir, *, resume, cancel, stage_overrides, dist=None):
    from .checkpoint import write_pipeline

    out_dir = Path(out_dir)
    cache: dict = {}
    stages = {}
    total_min = base.train.max_minutes
    for stage, share in TOPDOWN_SHARES:
        cfg = prepare_config(base, stage, dataset, stage_overrides.get(stage))
        if stage == "centroid" and cfg.data.get("anchor_note"):
            yield ProgressEvent("setup", message=cfg.data["anchor_note"])
        if total_min:
            cfg.train.max_minutes = total_min * share
        yield ProgressEvent("stage", message=f"training the {stage} model")
        stages[stage] = yield from _fit_one(dataset, cfg, out_dir / stage, cache, resume=resume, cancel=cancel,
                                            dist=dist)
        if cancel.cancelled:
            break
    if (out_dir / "centroid" / "config.yaml").is_file() and (out_dir / "centered_instance" / "config.yaml").is_file():
        if dist is None or dist.is_main:
            write_pipeline(out_dir, "topdown")
    return {"kind": "topdown", "out_dir": str(out_dir), "stages": stages}


def _topdown_id(dataset, base, out_dir, **kwargs):
    from .identity import iter_topdown_id

    return (yield from iter_topdown_id(dataset, base, out_dir, **kwargs))


def _bottomup_id(dataset, base, out_dir, **kwargs):
    from .identity_bottomup import iter_bottomup_id

    return (yield from iter_bottomup_id(dataset, base, out_dir, **kwargs))


#: model kind -> generator function
PIPELINES = {"single": _single_like("single"), "bottomup": _single_like("bottomup"), "topdown": _topdown,
             "topdown-id": _topdown_id, "bottomup-id": _bottomup_id}


def iter_train(inputs, model: str = "single", out_dir="model", *, config=None, overrides: dict | None = None,
               stage_overrides: dict | None = None, resume: bool = False, cancel: CancelToken | None = None,
               dist=None):
    """Train a model (generator of ProgressEvent; returns a dict with ``kind``, ``out_dir``, ``stages``).

    Parameters
    ----------
    inputs : path, PoseDataset or list of them
        Project stores, ``.slp`` files, DeepLabCut projects.
    model : {"single", "topdown", "bottomup"}
    config : TrainingConfig, dict or YAML path, optional
        A YAML may hold ``centroid:`` / ``centered_instance:`` sections of overrides for top-down.
    overrides : dict
        Nested overrides applied to every stage, e.g. ``{"train": {"epochs": 5}}``.
    """
    from .data import check_labels, load_inputs

    if model not in PIPELINES:
        raise ConfigError(f"Unknown model kind {model!r}; expected one of {sorted(PIPELINES)}.",
                          hint="Use --model single, topdown or bottomup.")
    stage_overrides = dict(stage_overrides or {})
    if config is None:
        base = TrainingConfig()
    elif isinstance(config, TrainingConfig):
        base = config
    else:
        raw = config if isinstance(config, dict) else _read_yaml(config)
        raw = dict(raw)
        for st in ("centroid", "centered_instance", "single", "bottomup"):
            if isinstance(raw.get(st), dict):
                stage_overrides.setdefault(st, raw.pop(st))
        base = load_config(raw)
    base = base.update(overrides or {})
    cancel = CancelToken() if cancel is None else cancel
    yield ProgressEvent("setup", message="loading labels")
    dataset = load_inputs(inputs)
    for msg in check_labels(dataset):
        warnings.warn(msg, stacklevel=2)
        yield ProgressEvent("setup", message="warning: " + msg)
    dataset, note = with_proposed_symmetries(dataset)
    if note:
        yield ProgressEvent("setup", message=note)
    result = yield from PIPELINES[model](dataset, base, out_dir, resume=resume, cancel=cancel,
                                         stage_overrides=stage_overrides, dist=dist)
    return result


def with_proposed_symmetries(dataset):
    """The dataset, with left/right node pairs recognised from the names when its skeleton declares none.

    They let flip augmentation swap left and right nodes (``augment.flip``). The caller's dataset and
    skeleton are not changed (the pairs live in the model's config only). Returns ``(dataset, message)``.
    """
    import dataclasses

    from ..core.skeleton import propose_symmetries

    sk = dataset.skeleton
    if sk.symmetries:
        return dataset, ""
    pairs = propose_symmetries(sk.node_names)
    if not pairs:
        return dataset, ""
    sk = sk.copy()
    sk.symmetries = [tuple(sorted((sk.index(a), sk.index(b)))) for a, b in pairs]
    shown = ", ".join(f"{a}/{b}" for a, b in pairs)
    return dataclasses.replace(dataset, skeleton=sk), (
        f"left/right pairs {shown} (auto: from the node names; the skeleton declares none). Flip augmentation "
        "swaps them; declare symmetries in the Skeleton dock to choose.")


def _read_yaml(path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file {p} not found.", path=p, hint="Check the --config path.")
    return yaml.safe_load(p.read_text()) or {}


def train(inputs, model: str = "single", out_dir="model", **kwargs) -> dict:
    """Train and return the result (drains :func:`iter_train` with a progress bar)."""
    from ..core.progress import drain

    show = kwargs.pop("show_progress", True)
    return drain(iter_train(inputs, model, out_dir, **kwargs), desc="train", show=show)
