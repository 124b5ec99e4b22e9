"""Identities in napari: one colour per track, shared by the Tracks layer and the points.

:func:`track_colors` is the colour map every dock uses for track ids, so an animal has the
same colour in the points, the trails and the timeline.
"""

from __future__ import annotations

import colorsys

import numpy as np

from ..core.posetable import PoseTable
from .convert import table_to_points, table_to_tracks

__all__ = ["track_colors", "UNTRACKED_COLOR", "point_colors", "tracks_layer_kwargs", "show_tracks"]

#: colour of instances without a track
UNTRACKED_COLOR = np.array([0.6, 0.6, 0.6, 1.0])

_BASE = np.array([
    [0.12, 0.47, 0.71], [1.00, 0.50, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.40, 0.74],
    [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81], [0.50, 0.50, 0.50],
])


def track_colors(n: int) -> np.ndarray:
    """(n, 4) RGBA in [0, 1]: colour of track ids ``0..n-1`` (tab10 first, then golden-ratio hues)."""
    out = np.ones((max(n, 0), 4))
    for i in range(max(n, 0)):
        if i < len(_BASE):
            out[i, :3] = _BASE[i]
        else:
            h = (i * 0.618033988749895) % 1.0
            out[i, :3] = colorsys.hsv_to_rgb(h, 0.75, 0.95)
    return out


def point_colors(track_ids: np.ndarray, n_tracks: int | None = None) -> np.ndarray:
    """(M, 4) face colours for points/instances with ``track_ids`` (M,) (untracked grey)."""
    track_ids = np.asarray(track_ids, np.int64)
    n = int(n_tracks if n_tracks is not None else track_ids.max(initial=-1) + 1)
    pal = track_colors(max(n, int(track_ids.max(initial=-1)) + 1))
    out = np.tile(UNTRACKED_COLOR, (len(track_ids), 1))
    ok = track_ids >= 0
    out[ok] = pal[track_ids[ok]]
    return out


def tracks_layer_kwargs(table: PoseTable, *, tail_length: int = 30, name: str = "identities") -> tuple:
    """``(data, kwargs)`` for ``viewer.add_tracks``: centroid trails coloured with :func:`track_colors`."""
    from napari.utils.colormaps import Colormap

    data = table_to_tracks(table)
    ids = data[:, 0].astype(np.int64) if len(data) else np.zeros(0, np.int64)
    lo, hi = (int(ids.min()), int(ids.max())) if len(ids) else (0, 1)
    pal = track_colors(hi + 1)
    # a colormap from colormaps_dict is applied to the raw feature (expected in [0, 1]): give
    # each id its position in [lo, hi], where its colour sits
    colors = pal[lo:hi + 1] if hi > lo else np.stack([pal[lo], pal[lo]])
    cmap = Colormap(colors=colors, controls=np.linspace(0, 1, len(colors)), name="posetrack_tracks",
                    interpolation="linear")
    pos = (ids - lo) / max(hi - lo, 1) if len(ids) else np.zeros(0)
    feats = {"identity": pos.astype(float), "track": ids.astype(float)}
    kwargs = dict(name=name, tail_length=int(tail_length), features=feats, color_by="identity",
                  colormaps_dict={"identity": cmap}, tail_width=3, blending="translucent")
    return data, kwargs


def show_tracks(viewer, table: PoseTable, *, tail_length: int = 30, name: str = "identities"):
    """Add or update the Tracks layer ``name`` with the identities of ``table``; returns it (or None)."""
    data, kwargs = tracks_layer_kwargs(table, tail_length=tail_length, name=name)
    if len(data) < 2:
        if name in viewer.layers:
            viewer.layers.remove(name)
        return None
    if name in viewer.layers:  # update in place: removing a layer re-builds the scene graph
        layer = viewer.layers[name]
        layer.data = data
        layer.features = kwargs["features"]
        layer.colormaps_dict = kwargs["colormaps_dict"]
        layer.color_by = kwargs["color_by"]
        return layer
    return viewer.add_tracks(data, **kwargs)


def show_points(viewer, table: PoseTable, *, n_tracks: int | None = None, name: str = "instances", size: int = 6):
    """Add or update a Points layer of ``table``'s nodes, coloured by track."""
    data, feats = table_to_points(table)
    colors = point_colors(feats["track"].to_numpy(), n_tracks)
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        layer.features = feats
        layer.face_color = colors if len(colors) else "gray"
        return layer
    return viewer.add_points(data, features=feats, face_color=colors if len(colors) else "gray", size=size,
                             name=name, border_width=0)
