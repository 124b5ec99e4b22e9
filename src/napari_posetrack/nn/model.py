"""Pose models: a backbone plus 1x1-conv heads, chosen by model type through registries.

:data:`HEADS` maps an output name to a function giving its channel count for a config;
:data:`MODEL_HEADS` maps a model type to the heads it has. ``offsets`` is added to every model
type when ``model.offsets`` is true.
"""

from __future__ import annotations

from torch import nn

from ..core.errors import ConfigError
from .backbones import build_backbone

__all__ = ["HEADS", "HEAD_MODULES", "MODEL_HEADS", "PoseModel", "build_model", "head_names", "has_heading"]


def _n_nodes(cfg) -> int:
    return len(cfg.skeleton.get("node_names", []))


def _n_edges(cfg) -> int:
    return len(cfg.skeleton.get("edges", []))


#: output name -> number of channels for a config
HEADS = {
    "confmaps": _n_nodes,
    "pafs": lambda cfg: 2 * _n_edges(cfg),
    "centroids": lambda cfg: 1,
    "offsets": lambda cfg: 2 if cfg.model.type == "centroid" else 2 * _n_nodes(cfg),
    "heading": lambda cfg: 2,
    "identity": lambda cfg: len(cfg.data.get("identity_classes") or []),
    "classmaps": lambda cfg: len(cfg.data.get("identity_classes") or []),
}


def _identity_head(feature_channels: int, n: int, image_channels: int):
    from .identity import IdentityHead

    return IdentityHead(feature_channels, n, image_channels)


#: output name -> module builder ``fn(feature_channels, n, image_channels) -> nn.Module`` for heads that
#: are not a 1x1 conv; a module with ``takes_image = True`` is called as ``head(feats, x)``
HEAD_MODULES = {"identity": _identity_head}

#: model type -> its heads (without offsets)
MODEL_HEADS = {
    "single": ("confmaps",),
    "centered_instance": ("confmaps",),
    "centroid": ("centroids",),
    "bottomup": ("confmaps", "pafs"),
}


def head_names(cfg) -> list[str]:
    names = list(MODEL_HEADS[cfg.model.type])
    if cfg.model.type == "bottomup" and cfg.data.get("identity_classes"):
        names = ["confmaps", "classmaps"]  # multi-class bottom-up: class maps group the nodes, no PAFs
    if cfg.model.offsets:
        names.append("offsets")
    if cfg.model.type == "centroid" and has_heading(cfg):
        names.append("heading")
    if cfg.model.type == "centered_instance" and cfg.data.get("identity_classes"):
        names.append("identity")  # multi-class top-down (see nn/identity.py)
    return names


def has_heading(cfg) -> bool:
    """True when the config names a (resolved) heading node of its skeleton."""
    from .align import node_index

    return node_index(cfg.model.heading_node, cfg.skeleton.get("node_names", [])) is not None


class PoseModel(nn.Module):
    """Backbone + heads. ``forward(x (B, C, H, W)) -> {head: (B, n, H/s, W/s)}``."""

    def __init__(self, cfg):
        super().__init__()
        channels = int(cfg.preprocess.channels or cfg.data.get("channels", 1) or 1)
        self.in_channels = channels
        self.output_stride = cfg.model.stride
        self.model_type = cfg.model.type
        self.backbone = build_backbone(cfg.model.backbone, channels, self.output_stride)
        self.heads = nn.ModuleDict()
        for name in head_names(cfg):
            n = HEADS[name](cfg)
            if n <= 0:
                raise ConfigError(f"Head {name!r} would have {n} channels for this skeleton.",
                                  hint="Bottom-up models need skeleton edges; single/top-down need nodes.")
            build = HEAD_MODULES.get(name)
            self.heads[name] = build(self.backbone.out_channels, n, channels) if build else \
                nn.Conv2d(self.backbone.out_channels, n, 1)

    def forward(self, x):
        feats = self.backbone(x)
        return {name: head(feats, x) if getattr(head, "takes_image", False) else head(feats)
                for name, head in self.heads.items()}


def build_model(cfg) -> PoseModel:
    """Build a :class:`PoseModel` for a validated :class:`~napari_posetrack.nn.config.TrainingConfig`."""
    if cfg.model.type not in MODEL_HEADS:
        raise ConfigError(f"Unknown model type {cfg.model.type!r}; known: {sorted(MODEL_HEADS)}.",
                          hint="Use single, centroid, centered_instance or bottomup.")
    return PoseModel(cfg)
