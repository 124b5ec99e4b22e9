"""One look for every pose layer: the palettes and the point, prediction, edge and track styles.

Every layer that shows poses (the reader's static layers, the sample, the Labeling dock's
editable keypoints, which also carry the predictions and the identities during proofreading)
takes its colours and symbols from here, so a node, a track or a prediction looks the same
everywhere, and the same as in the PNGs of ``check_labels`` (:func:`napari_posetrack.core.qc.node_colors`).

=================  ==========================================================================
what               style
=================  ==========================================================================
user label         filled disc in its colour, thin white border
occluded node      hollow ring in its colour (see-through face, thicker border)
predicted node     diamond, half see-through face, border in its colour
skeleton edge      white (user) or grey (predicted) lines
track (identity)   :func:`track_colors`: tab10 first, then golden-ratio hues; untracked grey
=================  ==========================================================================

``color_by`` chooses the colour of a point: ``"node"`` (the skeleton node), ``"track"`` (the
identity, as in the Tracks layer and the timeline) or ``"score"`` (predictions by node score on
plasma; user labels keep their node colour).
"""

from __future__ import annotations

import colorsys

import numpy as np

from ..core.posetable import OCCLUDED
from ..core.qc import node_colors as _node_colors_u8

__all__ = ["COLOR_BY", "UNTRACKED_COLOR", "track_colors", "track_rgba", "node_rgba", "point_style", "edge_colors",
           "static_points_kwargs", "point_size", "USER_SYMBOL", "PREDICTED_SYMBOL", "TEXT_STYLE"]

#: the choices of "Colour by" (Labeling dock)
COLOR_BY = ("node", "track", "score")
USER_SYMBOL, PREDICTED_SYMBOL = "disc", "diamond"
#: colour of instances without a track
UNTRACKED_COLOR = np.array([0.6, 0.6, 0.6, 1.0])
#: text of a prediction (its instance score) beside its first node
TEXT_STYLE = {"string": "{label}", "size": 9, "color": "yellow", "anchor": "upper_left"}

_TAB10 = np.array([
    [0.12, 0.47, 0.71], [1.00, 0.50, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.40, 0.74],
    [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81], [0.50, 0.50, 0.50],
])
_USER_EDGE = (1.0, 1.0, 1.0, 0.85)
_PREDICTED_EDGE = (0.7, 0.7, 0.7, 0.6)


def track_colors(n: int) -> np.ndarray:
    """(n, 4) RGBA in [0, 1]: colour of track ids ``0..n-1`` (tab10 first, then golden-ratio hues)."""
    out = np.ones((max(n, 0), 4))
    for i in range(max(n, 0)):
        if i < len(_TAB10):
            out[i, :3] = _TAB10[i]
        else:
            out[i, :3] = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.75, 0.95)
    return out


def track_rgba(track_ids, n_tracks: int | None = None) -> np.ndarray:
    """(M, 4) colours of points/instances with ``track_ids`` (M,); untracked (-1) grey."""
    track_ids = np.asarray(track_ids, np.int64).reshape(-1)
    top = int(track_ids.max(initial=-1)) + 1
    pal = track_colors(max(top, int(n_tracks or 0)))
    out = np.tile(UNTRACKED_COLOR, (len(track_ids), 1))
    ok = track_ids >= 0
    out[ok] = pal[track_ids[ok]]
    return out


def node_rgba(nodes, n_nodes: int) -> np.ndarray:
    """(M, 4) colours of skeleton nodes ``nodes`` (M,), the palette of the check-labels PNGs."""
    nodes = np.asarray(nodes, np.int64).reshape(-1)
    pal = _node_colors_u8(max(1, int(n_nodes))) / 255.0
    out = np.ones((len(nodes), 4))
    if len(nodes):
        out[:, :3] = pal[nodes % len(pal)]
    return out


def _score_rgba(score) -> np.ndarray:
    from napari.utils.colormaps import ensure_colormap

    s = np.clip(np.nan_to_num(np.asarray(score, np.float64), nan=0.0), 0.0, 1.0)
    return np.asarray(ensure_colormap("plasma").map(s), np.float64).reshape(-1, 4)


def point_style(node, state, source, track, *, n_nodes: int, color_by: str = "node", score=None) -> dict:
    """Per-point ``face_color``, ``border_color``, ``symbol`` and ``border_width`` of a Points layer.

    ``node``, ``state`` (1 visible / 2 occluded), ``source`` (0 user / 1 predicted), ``track``
    and ``score`` are (M,) arrays, one entry per point. Every array returned has M rows.
    """
    node = np.asarray(node, np.int64).reshape(-1)
    n = len(node)
    state = np.asarray(state).reshape(-1)
    pred = np.asarray(source).reshape(-1) == 1
    if color_by == "track":
        rgba = track_rgba(track)
    else:
        rgba = node_rgba(node, n_nodes)
        if color_by == "score" and score is not None and pred.any():
            rgba[pred] = _score_rgba(np.asarray(score).reshape(-1)[pred])
    face = rgba.copy()
    border = np.ones((n, 4))
    symbol = np.full(n, USER_SYMBOL, dtype=object)
    width = np.full(n, 0.15)
    occ = state == OCCLUDED
    face[occ, 3] = 0.0  # a hollow ring in the point's colour
    border[occ, :3] = rgba[occ, :3]
    width[occ] = 0.35
    face[pred, 3] = np.where(occ[pred], 0.0, 0.45)
    border[pred, :3] = rgba[pred, :3]
    symbol[pred] = PREDICTED_SYMBOL
    return {"face_color": face, "border_color": border, "symbol": symbol, "border_width": width}


def edge_colors(predicted, track=None, color_by: str = "node") -> np.ndarray:
    """(E, 4) colours of skeleton edges: by track when colouring by track, else white (user) /
    grey (predicted)."""
    predicted = np.asarray(predicted, bool).reshape(-1)
    if color_by == "track" and track is not None:
        out = track_rgba(track)
        out[:, 3] = np.where(predicted, 0.6, 0.85)
        return out
    out = np.tile(np.asarray(_USER_EDGE), (len(predicted), 1))
    out[predicted] = _PREDICTED_EDGE
    return out


def point_size(width: int | float | None, height: int | float | None) -> float:
    """Point size in pixels for a video of ``width`` x ``height`` (8 when unknown)."""
    if width:
        return float(max(5.0, 0.009 * max(float(width), float(height or 0))))
    return 8.0


def static_points_kwargs(features, n_nodes: int, *, predicted: bool = False, color_by: str = "node",
                         size: float = 8.0) -> dict:
    """Style kwargs of a static (all-frames) Points layer built from :func:`~.convert.table_to_points`
    features: the same symbols and colours as the editable keypoints layer."""
    n = len(features)
    col = (lambda name, default: np.asarray(features[name]) if name in features else np.full(n, default))
    style = point_style(col("node", 0), col("state", 1), np.full(n, 1 if predicted else 0), col("track", -1),
                        n_nodes=n_nodes, color_by=color_by, score=col("score", np.nan))
    style["symbol"] = PREDICTED_SYMBOL if predicted else USER_SYMBOL  # one symbol for the whole layer
    if not n:  # napari wants colours, not empty arrays, for an empty layer
        style.update(face_color="white", border_color="white", border_width=0.15)
    return {**style, "size": size, "border_width_is_relative": True}
