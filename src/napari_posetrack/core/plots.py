"""Analysis plots of pose trajectories, per video and per track (matplotlib, no pyplot).

Four kinds (:data:`PLOTS`): ``trajectories`` (x against y), ``coordinates`` (x, y and score
over time), ``jumps`` (histogram of frame-to-frame displacements) and ``bones`` (bone lengths
and orientations over time). :func:`skeleton_features` gives the bone table as a DataFrame
(written as CSV by :func:`write_plots`). Figures are plain :class:`matplotlib.figure.Figure`
objects, so the napari dock can put the same figure on a Qt canvas and the command line can
save it with the Agg renderer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ConfigError, FormatError
from .posetable import UNLABELED, PoseTable

__all__ = ["PLOTS", "track_series", "skeleton_features", "make_figure", "write_plots", "pick_table"]

#: plot kinds in display order, with a title
PLOTS = {
    "trajectories": "Trajectories (x against y)",
    "coordinates": "Coordinates and scores over time",
    "jumps": "Frame-to-frame jumps",
    "bones": "Bone lengths and orientations",
}


def pick_table(dataset, which: str = "auto") -> PoseTable:
    """``"predictions"``, ``"labels"`` or ``"auto"`` (predictions if any, else labels)."""
    if which == "auto":
        return dataset.predictions if len(dataset.predictions) else dataset.labels
    if which in ("predictions", "labels"):
        return getattr(dataset, which)
    raise ConfigError(f"Unknown table {which!r}.", hint="Use 'predictions', 'labels' or 'auto'.")


def track_series(table: PoseTable, video_id: int = 0):
    """Per-track time series of one video.

    Returns
    -------
    list of (track_id, frames (T,) int64, points (T, K, 2) float64, score (T, K) float64)
        Sorted by track id; only frames where the track has an instance. Untracked rows form
        one series (track ``-1``) when they never share a frame (a single animal).
    """
    t = table.for_video(video_id)
    out = []
    groups = [(int(tid), t.track_id == tid) for tid in np.unique(t.track_id[t.track_id >= 0])]
    untracked = t.track_id < 0
    if untracked.any() and len(np.unique(t.frame_idx[untracked])) == int(untracked.sum()):
        groups.insert(0, (-1, untracked))
    for tid, mask in groups:
        sub = t.take(mask)
        order = np.argsort(sub.frame_idx, kind="stable")
        sub = sub.take(order)
        pts = np.where((sub.state != UNLABELED)[..., None], sub.points, np.nan).astype(np.float64)
        out.append((tid, sub.frame_idx.copy(), pts, sub.score.astype(np.float64)))
    return out


def _track_label(tid: int, track_names) -> str:
    if tid < 0:
        return "untracked"
    return track_names[tid] if track_names and tid < len(track_names) else f"track {tid}"


def _breaks(frames, values, wrap=None):
    """Insert NaN between samples that are not consecutive frames (or that wrap around an angle),
    so that plotted lines do not bridge gaps. ``values`` is (T,) or (T, C)."""
    cut = np.diff(frames) != 1
    if wrap is not None:
        jump = np.abs(np.diff(values, axis=0))
        cut |= (jump > wrap) if jump.ndim == 1 else (jump > wrap).any(-1)
    where = np.flatnonzero(cut) + 1
    if not len(where):
        return frames.astype(np.float64), values
    f = np.insert(frames.astype(np.float64), where, np.nan)
    v = np.insert(values.astype(np.float64), where, np.nan, axis=0)
    return f, v


def skeleton_features(table: PoseTable, skeleton, *, video_id: int | None = None, track_names=None):
    """Bone lengths (px) and orientations (degrees, counter-clockwise from +x, image y down).

    Returns
    -------
    pandas.DataFrame
        Columns ``video, track, track_name, frame, bone, source, destination, length, orientation``,
        one row per instance and edge where both ends are labeled.
    """
    import pandas as pd  # noqa: PLC0415

    cols = {c: [] for c in ("video", "track", "track_name", "frame", "bone", "source", "destination",
                            "length", "orientation")}
    videos = np.unique(table.video_id) if video_id is None else [video_id]
    for vid in videos:
        for tid, frames, pts, _ in track_series(table, int(vid)):
            for a, b in skeleton.edges:
                d = pts[:, b] - pts[:, a]
                ok = np.isfinite(d).all(1)
                n = int(ok.sum())
                cols["video"] += [int(vid)] * n
                cols["track"] += [tid] * n
                cols["track_name"] += [_track_label(tid, track_names)] * n
                cols["frame"] += frames[ok].tolist()
                cols["bone"] += [f"{skeleton.node_names[a]}-{skeleton.node_names[b]}"] * n
                cols["source"] += [skeleton.node_names[a]] * n
                cols["destination"] += [skeleton.node_names[b]] * n
                cols["length"] += np.hypot(d[ok, 0], d[ok, 1]).tolist()
                cols["orientation"] += np.degrees(np.arctan2(-d[ok, 1], d[ok, 0])).tolist()
    return pd.DataFrame(cols)


# ---------------------------------------------------------------------------- figures
def _node_colours(k: int):
    from .render import palette  # noqa: PLC0415

    return palette(k, "node") / 255.0


def _grid(fig, n, ncols_max=3):
    ncols = min(n, ncols_max)
    nrows = int(np.ceil(n / ncols))
    return fig.subplots(nrows, ncols, squeeze=False).ravel()[:n], nrows, ncols


def _plot_trajectories(fig, series, skeleton, track_names, video_shape):
    axes, _, _ = _grid(fig, len(series))
    cols = _node_colours(skeleton.n_nodes)
    for ax, (tid, frames, pts, _) in zip(axes, series):
        _, p = _breaks(frames, pts.reshape(len(frames), -1))
        p = p.reshape(len(p), -1, 2)
        for j in range(skeleton.n_nodes):
            ax.plot(p[:, j, 0], p[:, j, 1], lw=0.6, color=cols[j], alpha=0.8,
                    label=skeleton.node_names[j] if ax is axes[0] else None)
        ax.set_title(f"{_track_label(tid, track_names)} ({len(frames)} frames)", fontsize=9)
        ax.set_aspect("equal", adjustable="box")
        if video_shape and video_shape[1] and video_shape[2]:
            ax.set_xlim(0, video_shape[2])
            ax.set_ylim(video_shape[1], 0)
        else:
            ax.invert_yaxis()
        ax.set_xlabel("x (px)", fontsize=8)
        ax.set_ylabel("y (px)", fontsize=8)
        ax.tick_params(labelsize=7)
    if skeleton.n_nodes <= 16:
        axes[0].legend(fontsize=6, loc="upper right", ncol=2)


def _plot_coordinates(fig, series, skeleton, track_names):
    axes = fig.subplots(len(series), 3, squeeze=False, sharex=True)
    cols = _node_colours(skeleton.n_nodes)
    for row, (tid, frames, pts, score) in enumerate(series):
        f, p = _breaks(frames, pts.reshape(len(frames), -1))
        _, sc = _breaks(frames, score)
        p = p.reshape(len(f), -1, 2)
        for j in range(skeleton.n_nodes):
            for c, data in enumerate((p[:, j, 0], p[:, j, 1], sc[:, j])):
                axes[row, c].plot(f, data, lw=0.6, color=cols[j])
        name = _track_label(tid, track_names)
        for c, what in enumerate(("x (px)", "y (px)", "score")):
            axes[row, c].set_ylabel(f"{name}\n{what}" if c == 0 else what, fontsize=8)
            axes[row, c].tick_params(labelsize=7)
    for c in range(3):
        axes[-1, c].set_xlabel("frame", fontsize=8)


def _jumps(frames, pts):
    consecutive = np.diff(frames) == 1
    d = np.hypot(*np.moveaxis(np.diff(pts, axis=0), -1, 0))  # (T-1, K)
    return d[consecutive]


def _plot_jumps(fig, series, skeleton, track_names):
    ax = fig.subplots()
    all_d = [(_track_label(tid, track_names), _jumps(frames, pts)) for tid, frames, pts, _ in series]
    finite = np.concatenate([d[np.isfinite(d)] for _, d in all_d]) if all_d else np.zeros(0)
    hi = float(np.percentile(finite, 99.9)) if len(finite) else 1.0
    bins = np.linspace(0, max(hi, 1.0), 60)
    for name, d in all_d:
        d = d[np.isfinite(d)]
        if len(d):
            ax.hist(np.clip(d, 0, bins[-1]), bins=bins, histtype="step", lw=1.2,
                    label=f"{name} (median {np.median(d):.1f} px)")
    ax.set_yscale("log")
    ax.set_xlabel("displacement between consecutive frames, per node (px)", fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)


def _plot_bones(fig, series, skeleton, track_names):
    if not skeleton.edges:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "The skeleton has no edges: no bones to plot.", ha="center", va="center")
        ax.set_axis_off()
        return
    axes = fig.subplots(len(series), 2, squeeze=False, sharex=True)
    cols = _node_colours(skeleton.n_nodes)
    for r, (tid, frames, pts, _) in enumerate(series):
        for a, b in skeleton.edges:
            d = pts[:, b] - pts[:, a]
            f, length = _breaks(frames, np.hypot(d[:, 0], d[:, 1]))
            axes[r, 0].plot(f, length, lw=0.6, color=cols[a])
            angle = np.degrees(np.arctan2(-d[:, 1], d[:, 0]))
            f, angle = _breaks(frames, angle, wrap=180.0)
            axes[r, 1].plot(f, angle, lw=0.5, color=cols[a])
        name = _track_label(tid, track_names)
        axes[r, 0].set_ylabel(f"{name}\nlength (px)", fontsize=8)
        axes[r, 1].set_ylabel("orientation (deg)", fontsize=8)
        for c in range(2):
            axes[r, c].tick_params(labelsize=7)
    for c in range(2):
        axes[-1, c].set_xlabel("frame", fontsize=8)


def make_figure(kind: str, table: PoseTable, skeleton, *, video_id: int = 0, track_names=None,
                video_shape=None, max_tracks: int = 6, fig=None):
    """Draw one plot kind for one video.

    Parameters
    ----------
    kind : str
        One of :data:`PLOTS`.
    table : PoseTable
    skeleton : Skeleton
    video_id : int
    track_names : list of str, optional
    video_shape : tuple (n_frames, height, width, channels), optional
        Sets the trajectory axes to the frame.
    max_tracks : int
        Plot the longest ``max_tracks`` tracks (fragmented predictions can have dozens).
    fig : matplotlib.figure.Figure, optional
        Cleared and drawn into (the dock passes its canvas' figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure  # noqa: PLC0415

    if kind not in PLOTS:
        raise ConfigError(f"Unknown plot {kind!r}.", hint=f"Use one of {', '.join(PLOTS)}.")
    series = track_series(table, video_id)
    series = sorted(series, key=lambda s: -len(s[1]))[:max_tracks]
    series.sort(key=lambda s: s[0])
    if fig is None:
        n = max(len(series), 1)
        size = {"trajectories": (4 * min(n, 3), 3.6 * int(np.ceil(n / 3))), "coordinates": (11, 2.2 * n + 0.6),
                "jumps": (7, 4), "bones": (11, 2.2 * n + 0.6)}[kind]
        fig = Figure(figsize=size, dpi=100)
    else:
        fig.clear()
    if not series:
        ax = fig.subplots()
        ax.text(0.5, 0.5, f"No instances in video {video_id}.", ha="center", va="center")
        ax.set_axis_off()
        return fig
    if kind == "trajectories":
        _plot_trajectories(fig, series, skeleton, track_names, video_shape)
    elif kind == "coordinates":
        _plot_coordinates(fig, series, skeleton, track_names)
    elif kind == "jumps":
        _plot_jumps(fig, series, skeleton, track_names)
    else:
        _plot_bones(fig, series, skeleton, track_names)
    fig.suptitle(f"{PLOTS[kind]} — video {video_id}", fontsize=10)
    fig.tight_layout()
    return fig


def write_plots(dataset, out_dir, *, video_id: int | None = None, which: str = "auto", kinds=None,
                max_tracks: int = 6, overwrite: bool = False, dpi: int = 100) -> list[Path]:
    """Write every plot kind (PNG) and the skeleton features (CSV) for each video.

    Files are ``video<i>_<kind>.png`` and ``video<i>_skeleton_features.csv`` in ``out_dir``.
    Refuses to replace existing files unless ``overwrite``. Returns the paths written.
    """
    out_dir = Path(out_dir)
    table = pick_table(dataset, which)
    if not len(table):
        raise ConfigError("There are no instances to plot (no predictions and no labels).",
                          hint="Predict first (posetrack predict), or pass a labels file.")
    kinds = list(kinds or PLOTS)
    videos = sorted(set(np.unique(table.video_id).tolist())) if video_id is None else [int(video_id)]
    for v in videos:
        if v not in set(table.video_id.tolist()):
            raise ConfigError(f"Video {v} has no instances.",
                              hint=f"Videos with instances: {sorted(set(table.video_id.tolist()))}.")
    planned = []
    for v in videos:
        planned += [(v, k, out_dir / f"video{v}_{k}.png") for k in kinds]
        planned.append((v, "csv", out_dir / f"video{v}_skeleton_features.csv"))
    existing = [p for _, _, p in planned if p.exists()]
    if existing and not overwrite:
        raise FormatError(f"{len(existing)} output file(s) already exist, e.g. {existing[0]}.", path=existing[0],
                          hint="Pass --overwrite to replace them, or choose another --out folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for v, kind, path in planned:
        if kind == "csv":
            skeleton_features(table, dataset.skeleton, video_id=v, track_names=dataset.track_names).to_csv(
                path, index=False)
        else:
            shape = dataset.videos[v].shape if v < len(dataset.videos) else None
            fig = make_figure(kind, table, dataset.skeleton, video_id=v, track_names=dataset.track_names,
                              video_shape=shape, max_tracks=max_tracks)
            fig.savefig(path, dpi=dpi)
        written.append(path)
    return written
