"""Identities in napari: the Tracks layer of centroid trails, in the colours of :mod:`.styles`.

:func:`~.styles.track_colors` is the colour map every layer uses for track ids, so an animal
has the same colour in the keypoints, the trails and the timeline.
"""

from __future__ import annotations

import numpy as np

from ..core.posetable import PoseTable
from .convert import table_to_tracks
from .styles import UNTRACKED_COLOR, track_colors, track_rgba

__all__ = ["track_colors", "UNTRACKED_COLOR", "point_colors", "tracks_layer_kwargs", "show_tracks"]

#: colours of points/instances by track id (untracked grey): :func:`~.styles.track_rgba`
point_colors = track_rgba


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
