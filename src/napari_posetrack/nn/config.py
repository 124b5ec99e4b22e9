"""Declarative training configuration (plain dataclasses, no torch import).

A :class:`TrainingConfig` holds everything needed to rebuild a model and its
preprocessing; it is saved as ``config.yaml`` in every checkpoint directory. Every field
carries ``metadata={"help": ..., "choices": ..., "min": ..., "max": ...}`` so that the
training dock builds its form from it (:func:`iter_fields`).

Model types
-----------
``single``            one animal per frame: confidence maps (+ optional offsets).
``centroid``          top-down stage 1: one centroid map per frame.
``centered_instance`` top-down stage 2: confidence maps on crops centred on an anchor.
``bottomup``          confidence maps + part affinity fields, grouped afterwards.
``topdown`` is not a model type but a pipeline of ``centroid`` + ``centered_instance``
(see :mod:`napari_posetrack.nn.checkpoint`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from ..core.errors import ConfigError

__all__ = [
    "CONFIG_VERSION",
    "MODEL_TYPES",
    "BackboneConfig",
    "ModelConfig",
    "PreprocessConfig",
    "AugmentConfig",
    "TrainConfig",
    "TrainingConfig",
    "iter_fields",
    "load_config",
    "save_config",
]

#: Version of the checkpoint/config schema; a checkpoint with a larger number is refused.
CONFIG_VERSION = 2
#: what a version-1 config (written before normalisation layers and heading alignment) meant
_V1_DEFAULTS = {"model": {"anchor_node": "", "heading_node": "", "backbone": {"norm": "none"}}}
MODEL_TYPES = ("single", "centroid", "centered_instance", "bottomup")


class RegistryChoices:
    """The ``choices`` of a config field that are the names of a registry, read each time they are asked for.

    A new entry (``@register_backbone("mine")``) is then a valid config value and a Training-dock choice
    with no other edit. The registry's module is imported on first use, not here: ``nn.backbones``
    imports torch and this module does not. Without it (no torch) nothing can be built, so no name is
    refused here; building the model refuses an unknown one.
    """

    def __init__(self, module: str, attribute: str):
        self.module, self.attribute = module, attribute

    def names(self) -> list[str] | None:
        import importlib

        try:
            return list(getattr(importlib.import_module(self.module), self.attribute).names())
        except ImportError:
            return None

    def __iter__(self):
        return iter(self.names() or [])

    def __contains__(self, value) -> bool:
        names = self.names()
        return names is None or value in names

    def __len__(self) -> int:
        return len(self.names() or [])

    def __repr__(self) -> str:
        return f"RegistryChoices({self.module}.{self.attribute}: {self.names()})"


def _f(default, help: str, **meta):
    """A dataclass field with help text and form hints."""
    meta["help"] = help
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def _check(cond: bool, section: str, name: str, value, expected: str) -> None:
    if not cond:
        raise ConfigError(
            f"Config value {section}.{name} = {value!r} is invalid: expected {expected}.",
            hint=f"Fix {section}.{name} in the config file or the training form.",
        )


class _Section:
    """Shared helpers for config sections."""

    _section = ""

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            meta = f.metadata
            if "choices" in meta:
                _check(v in meta["choices"], self._section, f.name, v, f"one of {list(meta['choices'])}")
            if "min" in meta and isinstance(v, (int, float)):
                _check(v >= meta["min"], self._section, f.name, v, f">= {meta['min']}")
            if "max" in meta and isinstance(v, (int, float)):
                _check(v <= meta["max"], self._section, f.name, v, f"<= {meta['max']}")

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, _Section) else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_dict(cls, d: dict | None):
        d = dict(d or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ConfigError(
                f"Unknown config key(s) {unknown} in section {cls._section!r}; known: {sorted(names)}.",
                hint="Remove or rename them (a config from a newer version may have new keys).",
            )
        defaults = cls()
        kwargs = {}
        for k, v in d.items():
            dv = getattr(defaults, k)
            kwargs[k] = type(dv).from_dict(v) if isinstance(dv, _Section) else v
        obj = cls(**kwargs)
        obj.validate()
        return obj


@dataclass
class BackboneConfig(_Section):
    """Feature extractor (see :data:`napari_posetrack.nn.backbones.BACKBONES`)."""

    _section = "model.backbone"
    name: str = _f("unet", "Backbone architecture.", choices=RegistryChoices(f"{__package__}.backbones", "BACKBONES"))
    filters: int = _f(16, "Filters of the first block (doubled by filters_rate at each level).", min=1, max=512)
    filters_rate: float = _f(2.0, "Filter growth factor per down block.", min=1.0, max=4.0)
    down_blocks: int = _f(4, "Down-sampling blocks (max stride = 2**down_blocks).", min=1, max=6)
    convs_per_block: int = _f(2, "Convolutions per UNet block / residual blocks per ResNet stage.", min=1, max=4)
    norm: str = _f("auto", "Normalisation after each UNet convolution: group norm (learns fastest in short runs, "
                   "independent of batch size), batch norm, or none (SLEAP's UNet). auto = group norm, except for "
                   "models trained on windows of whole frames (augment.patch_size): their group statistics would "
                   "differ between a window and a whole frame, batch norm's running statistics do not.",
                   choices=("auto", "group", "batch", "none"))
    pretrained: str = _f("", "Local file with encoder weights (.safetensors or .pt); empty = random init.")

    def validate(self) -> None:
        super().validate()
        if self.pretrained:
            _check(Path(self.pretrained).is_file(), self._section, "pretrained", self.pretrained,
                   "an existing local weights file")


@dataclass
class ModelConfig(_Section):
    """What the network predicts."""

    _section = "model"
    type: str = _f("single", "Model type.", choices=MODEL_TYPES)
    output_stride: int = _f(0, "Output stride of the heads (1, 2, 4, ...; <= max stride). 0 = auto: 2 (stride 1 "
                            "costs more per step; for centroid models it placed anchors less reliably in the fly "
                            "benchmark, see docs/training.md).", choices=(0, 1, 2, 4, 8, 16), special="auto")
    sigma: float = _f(0.0, "Gaussian sigma of confidence maps, in pixels of the scaled input. 0 = auto: 2.5; for "
                      "centroid models small enough that two animals side by side (half an animal apart, or the "
                      "closest labeled pair) give two peaks, at least 0.75 x the output stride (docs/training.md).",
                      min=0.0, max=50.0, special="auto")
    paf_width: float = _f(3.0, "Half-width of part affinity fields, in pixels of the scaled input.", min=0.5,
                          max=50.0)
    offsets: bool = _f(False, "Also predict sub-pixel offset maps (refinement).")
    anchor_node: str = _f("auto", "Top-down anchor node name; auto = a body-centre node recognised by name "
                          "(thorax, body, spine...), empty = bounding-box centre.")
    heading_node: str = _f("auto", "Top-down heading node: crops are rotated so that anchor -> heading points up "
                           "(egocentric alignment), and the centroid model also predicts each animal's heading. "
                           "auto = a front node recognised by name (head, nose, snout...); empty = no alignment.")
    crop_size: int = _f(0, "Top-down crop size in original pixels; 0 = from the data.", min=0, max=4096)
    backbone: BackboneConfig = field(default_factory=BackboneConfig,
                                       metadata={"help": "Backbone settings."})

    def validate(self) -> None:
        super().validate()
        self.backbone.validate()
        max_stride = 2 ** self.backbone.down_blocks
        _check(self.output_stride <= max_stride, self._section, "output_stride", self.output_stride,
               f"<= the backbone's max stride {max_stride}")
        _check(self.sigma == 0 or self.sigma >= 0.5, self._section, "sigma", self.sigma, "0 (auto) or >= 0.5")

    @property
    def max_stride(self) -> int:
        return 2 ** self.backbone.down_blocks

    @property
    def stride(self) -> int:
        """The output stride, ``auto`` (0) resolved: 2 (never above the max stride)."""
        if self.output_stride:
            return int(self.output_stride)
        return min(2, self.max_stride)


@dataclass
class PreprocessConfig(_Section):
    """How frames become model input (see :mod:`napari_posetrack.nn.preprocess`)."""

    _section = "preprocess"
    input_scale: float = _f(0.0, "Resize factor applied to frames (or crops) before the network; 0 = auto: "
                            "chosen from the frame and animal sizes when training starts (see docs/training.md) "
                            "and written to the model's config.yaml.", min=0.0, max=4.0, special="auto")
    channels: int = _f(0, "Input channels: 1 grey, 3 colour, 0 = from the data.", choices=(0, 1, 3))
    pad_to: int = _f(0, "Pad height/width to a multiple of this; 0 = the backbone's max stride.", min=0)

    def validate(self) -> None:
        super().validate()
        _check(self.input_scale == 0 or self.input_scale >= 0.05, self._section, "input_scale", self.input_scale,
               "0 (auto) or a factor >= 0.05")


@dataclass
class AugmentConfig(_Section):
    """Random augmentation applied on tensors during training."""

    _section = "augment"
    enabled: bool = _f(True, "Augment training batches.")
    rotation: float = _f(180.0, "Max rotation in degrees (uniform +/-). 180 suits top-view recordings, where "
                         "animals face every way; use about 15 for side views.", min=0.0, max=180.0)
    scale_min: float = _f(0.8, "Min zoom factor.", min=0.1, max=1.0)
    scale_max: float = _f(1.2, "Max zoom factor.", min=1.0, max=10.0)
    translate: float = _f(0.1, "Max translation as a fraction of the image size (of the crop, for top-down crops: "
                          "it stands for the centroid model's error).", min=0.0, max=0.5)
    aligned_rotation: float = _f(15.0, "Max rotation in degrees of heading-aligned top-down crops (they are "
                                 "already rotated to a common heading; this covers heading errors).",
                                 min=0.0, max=180.0)
    flip: float = _f(0.5, "Probability of a left/right mirror (swaps the skeleton's left/right node pairs; "
                     "switched off when the skeleton has none, declared or recognised in the node names).",
                     min=0.0, max=1.0)
    distractors: float = _f(0.5, "Top-down crops: probability of pasting another labeled animal beside the "
                            "centred one (0.35-0.75 animal lengths away; darker/lighter pixels win, as the animals "
                            "are darker/lighter than the background), so that the crop model follows the centred "
                            "animal when animals touch, also when the labels never show them close. 0 = off.",
                            min=0.0, max=1.0)
    crowd: float = _f(0.5, "Centroid models (top-down's first stage): probability of pasting one more "
                      "labeled animal, turned at random, 0.4-1 animal lengths from an animal of the frame, with its "
                      "labels, so that the model learns to separate touching animals also when the labeled frames "
                      "never show them close. 0 = off.", min=0.0, max=1.0)
    brightness: float = _f(0.2, "Max brightness shift (added, in [0,1] units).", min=0.0, max=1.0)
    contrast: float = _f(0.3, "Max contrast change (factor 1 +/- this).", min=0.0, max=1.0)
    noise: float = _f(0.01, "Std of additive Gaussian noise.", min=0.0, max=0.5)
    patch_size: int = _f(0, "Full-frame models (single, bottom-up) train on random square windows of this side "
                         "(network-input px), most of them around a labeled animal, and still predict on whole "
                         "frames: a step then costs the window, not the frame. 0 = auto: about twice the median "
                         "animal, when that is under half of the frame; -1 = whole frames.", min=-1, max=8192,
                         special="auto")


@dataclass
class TrainConfig(_Section):
    """Optimisation settings."""

    _section = "train"
    epochs: int = _f(0, "Maximum number of epochs; 0 = auto: no epoch limit when train.max_minutes is set (the time "
                     "budget or early stopping ends the run), else 100.", min=0, max=100000, special="auto")
    max_minutes: float = _f(0.0, "Stop after this many minutes (0 = no time limit).", min=0.0)
    time_clock: str = _f("wall", "Clock of max_minutes: wall time, or CPU time of this process (all threads).",
                         choices=("wall", "cpu"))
    steps_per_epoch: int = _f(0, "Batches per epoch; 0 = one pass over the training frames (at least 10 steps; "
                              "50 with a time limit, so that the epochs limit does not end it early).",
                              min=0)
    batch_size: int = _f(0, "Frames (or crops) per batch; 0 = auto: 4 on a CPU, 16 on a GPU, fewer when there are "
                         "few training samples (the log says which and why).", min=0, max=1024, special="auto")
    learning_rate: float = _f(0.0, "Adam learning rate (peak, after warm-up); 0 = auto: 5e-3 for the normalised "
                              "backbones (model.backbone.norm group/batch) and 1e-3 without normalisation, at batch 4, "
                              "times sqrt(batch / 4).", min=0.0, max=1.0, special="auto")
    scheduler: str = _f("cosine", "Learning-rate schedule: cosine (after the warm-up) anneals over max_minutes "
                        "when that is set, else over the epochs; plateau halves it when validation stalls.",
                        choices=("cosine", "plateau", "none"))
    warmup: float = _f(0.03, "Linear learning-rate warm-up, as a fraction of the run (time budget or epochs).",
                       min=0.0, max=0.5)
    foreground_weight: float = _f(20.0, "Extra loss weight of confidence-map pixels under a peak (weight 1 + this x "
                                  "target). Peaks cover ~0.1% of a map; without it a short run learns to output "
                                  "zeros for the hard nodes. 0 = plain MSE.", min=0.0, max=1000.0)
    ema: float = _f(0.998, "Validate, save and predict with an exponential moving average of the weights; the "
                    "decay per step (0.998: about the last 500 steps). 0 = the raw weights of the last step. Off "
                    "with a batch-norm backbone, whose running statistics belong to the raw weights.",
                    min=0.0, max=0.99999)
    select_by: str = _f("pose", "Best checkpoint: by a validation pose metric (OKS mAP, then PCK) or by "
                        "validation loss.", choices=("pose", "loss"))
    precision: str = _f("auto", "Training precision: auto = bfloat16 autocast on CPUs that compute it natively "
                        "(AVX512-BF16/AMX) and float16 AMP on CUDA (see amp), else float32.",
                        choices=("auto", "float32", "bf16"))
    patience: int = _f(10, "Early stopping: epochs without val improvement (0 = off); it also waits 1,000 "
                       "steps after the best epoch, so short epochs (few labeled frames) do not end a run early, "
                       "and, under max_minutes with the cosine schedule, until 3/4 of the budget is spent.",
                       min=0)
    val_fraction: float = _f(0.1, "Fraction of labeled frames held out for validation.", min=0.0, max=0.9)
    eval_every: int = _f(1, "Compute pose metrics on the validation split every N epochs (0 = only at end; "
                         "select_by pose needs them).", min=0)
    seed: int = _f(0, "Random seed (split, init, augmentation).", min=0)
    device: str = _f("auto", "Device.", choices=("auto", "cpu", "cuda", "mps"))
    amp: bool = _f(True, "Mixed precision (float16 autocast) on CUDA and MPS.")
    use_negatives: bool = _f(True, "Use frames marked as empty as negative examples.")
    threads: int = _f(0, "CPU threads for torch (0 = leave as is).", min=0)


@dataclass
class TrainingConfig(_Section):
    """Top-level config saved as ``config.yaml`` in a checkpoint."""

    _section = ""
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "Model."})
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig, metadata={"help": "Preprocessing."})
    augment: AugmentConfig = field(default_factory=AugmentConfig, metadata={"help": "Augmentation."})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "Optimisation."})
    skeleton: dict = _f({}, "Skeleton (node_names, edges, symmetries, name); filled from the data.")
    version: int = _f(CONFIG_VERSION, "Config schema version.")
    data: dict = _f({}, "Facts measured on the training data (crop size, channels, sources).")

    def validate(self) -> None:
        for sec in (self.model, self.preprocess, self.augment, self.train):
            sec.validate()
        if int(self.version) > CONFIG_VERSION:
            raise ConfigError(
                f"This config/checkpoint has schema version {self.version}, newer than the {CONFIG_VERSION} this "
                "napari-posetrack understands.",
                hint="Upgrade napari-posetrack to load it.",
            )
        names = self.skeleton.get("node_names")
        for key in ("anchor_node", "heading_node"):
            v = getattr(self.model, key)
            if v and v != "auto" and names and v not in names:
                raise ConfigError(
                    f"model.{key} {v!r} is not a node of the skeleton {names}.",
                    hint="Pick one of the node names, 'auto', or leave it empty.")
        m = self.model
        if m.heading_node and m.heading_node not in ("auto",) and m.heading_node == m.anchor_node:
            raise ConfigError(
                f"model.heading_node and model.anchor_node are both {m.anchor_node!r}: a heading needs two "
                "different nodes (the direction anchor -> heading node is rotated to point up).",
                hint="Pick a front node (head, nose...) as heading_node and a body-centre node as anchor_node, or "
                     "set heading_node to '' to train without alignment.")

    @classmethod
    def from_dict(cls, d: dict | None):
        d = dict(d or {})
        if "version" in d and int(d["version"]) < 2:  # a saved v1 config: keep what it meant
            d = _with_missing(d, _V1_DEFAULTS)
        return super().from_dict(d)

    @property
    def pad_to(self) -> int:
        return int(self.preprocess.pad_to or self.model.max_stride)

    def copy(self, **changes) -> TrainingConfig:
        cfg = TrainingConfig.from_dict(self.to_dict())
        for k, v in changes.items():
            setattr(cfg, k, v)
        return cfg

    def update(self, overrides: dict) -> TrainingConfig:
        """A copy with nested overrides, e.g. ``{"model": {"sigma": 3}, "train": {"epochs": 5}}``."""
        d = self.to_dict()
        _deep_update(d, overrides or {})
        return TrainingConfig.from_dict(d)


def _with_missing(d: dict, defaults: dict) -> dict:
    out = dict(d)
    for k, v in defaults.items():
        if isinstance(v, dict):
            out[k] = _with_missing(dict(out.get(k) or {}), v)
        else:
            out.setdefault(k, v)
    return out


def _deep_update(d: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict) and k not in ("skeleton", "data"):
            _deep_update(d[k], v)
        else:
            d[k] = v


def iter_fields(section: Any, prefix: str = "") -> Iterator[tuple[str, Any, dict, Any]]:
    """Walk a config: yields ``(dotted_name, dataclass_field, metadata, value)`` for leaf fields.

    The training dock builds its form from this.
    """
    for f in dataclasses.fields(section):
        v = getattr(section, f.name)
        name = f"{prefix}{f.name}"
        if isinstance(v, _Section):
            yield from iter_fields(v, name + ".")
        elif f.name not in ("skeleton", "data", "version"):
            yield name, f, dict(f.metadata), v


def load_config(path_or_dict) -> TrainingConfig:
    """Read a :class:`TrainingConfig` from a YAML file, a checkpoint dir or a dict (validated)."""
    import yaml

    if isinstance(path_or_dict, dict):
        return TrainingConfig.from_dict(path_or_dict)
    p = Path(path_or_dict)
    if p.is_dir():
        p = p / "config.yaml"
    if not p.is_file():
        raise ConfigError(f"No config file at {p}.", path=p, hint="Pass a YAML config or a checkpoint directory.")
    try:
        d = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config {p} is not valid YAML: {exc}", path=p, hint="Fix the YAML syntax.") from None
    if not isinstance(d, dict):
        raise ConfigError(f"Config {p} should hold a mapping, found {type(d).__name__}.", path=p,
                          hint="Write sections model:, train:, ... at the top level.")
    if int(d.get("version", CONFIG_VERSION)) > CONFIG_VERSION:
        raise ConfigError(
            f"Config {p} has schema version {d['version']}, newer than the {CONFIG_VERSION} this "
            "napari-posetrack understands.", path=p, hint="Upgrade napari-posetrack to load it.")
    return TrainingConfig.from_dict(d)


def save_config(cfg: TrainingConfig, path) -> None:
    """Write ``cfg`` as YAML."""
    import yaml

    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
