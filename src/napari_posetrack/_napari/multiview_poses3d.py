"""The 3D dock's 3D layers: points over time, skeleton lines and trails in napari's 3D view."""

from __future__ import annotations

import numpy as np

__all__ = ["LAYER_NAMES", "add_pose_layers", "pose_summary"]

LAYER_NAMES = ("3D poses", "3D skeleton", "3D trails")


def add_pose_layers(viewer, poses, trail_length: int) -> None:
    """Add ``3D poses`` (Points coloured by node), ``3D skeleton`` (lines) and ``3D trails`` (Tracks).

    Coordinates are (frame, x, y, z). A layer without content is not added (no point in 3D at
    all: the dock's status line and messages say why).
    """
    import napari

    t_n, i_n, k_n, _ = poses.points.shape
    t_idx, i_idx, k_idx = np.nonzero(np.isfinite(poses.points).all(-1))
    xyz = poses.points[t_idx, i_idx, k_idx]
    coords = np.column_stack([poses.frames[t_idx], xyz])  # (t, x, y, z)
    cmap = napari.utils.colormaps.ensure_colormap("turbo")
    colors = cmap.map(k_idx / max(1, k_n - 1))
    feats = {"node": np.asarray(poses.node_names, dtype=object)[k_idx],
             "individual": np.asarray(poses.individuals, dtype=object)[i_idx],
             "error_px": poses.error_px[t_idx, i_idx, k_idx], "n_views": poses.n_views[t_idx, i_idx, k_idx]}
    size = max(1.0, float(np.nanpercentile(np.ptp(xyz, axis=0), 50)) / 60) if len(xyz) else 1.0
    if len(coords):
        viewer.add_points(coords, name=LAYER_NAMES[0], size=size, face_color=colors, features=feats,
                          out_of_slice_display=False)
    lines = []
    for t in range(t_n):
        for i in range(i_n):
            for a, b in poses.edges:
                pa, pb = poses.points[t, i, a], poses.points[t, i, b]
                if np.isfinite(pa).all() and np.isfinite(pb).all():
                    lines.append(np.array([np.r_[poses.frames[t], pa], np.r_[poses.frames[t], pb]]))
    if lines:
        viewer.add_shapes(lines, shape_type="line", name=LAYER_NAMES[1], edge_color="white", edge_width=size / 3)
    tracks = np.column_stack([i_idx * k_n + k_idx, poses.frames[t_idx], xyz])
    if len(tracks) and trail_length > 0:
        order = np.lexsort((tracks[:, 1], tracks[:, 0]))
        viewer.add_tracks(tracks[order], name=LAYER_NAMES[2], tail_length=trail_length, tail_width=2,
                          colormap="turbo")


def pose_summary(poses) -> str:
    """One line on the 3D poses: points in 3D, median error, points without 3D and why."""
    counts = poses.counts()
    med = float(np.nanmedian(poses.error_px)) if np.isfinite(poses.error_px).any() else float("nan")
    return (f"{counts['ok']} points in 3D from {len(poses.cameras)} cameras, median reprojection error {med:.2f} px; "
            f"{counts['too few views']} seen in fewer than 2 views, {counts['views disagree']} with disagreeing views, "
            f"{int(poses.rejected.sum())} 2D points left out.")
