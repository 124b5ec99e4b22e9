"""Smoothing, score thresholding and gap interpolation of pose trajectories.

Filters act per video, per track and per node along time. A pose table is laid out as a
dense trajectory array ``(time, individuals, keypoints, space)`` (one individual per track;
frames where a track is absent are NaN), filtered, and written back to the rows it came
from, so every other column (scores, track ids, sources) is kept. Interpolated gaps where a
track had no instance at all become new predicted rows.

Median and Savitzky-Golay smoothing, thresholding by score and gap interpolation use
`movement <https://movement.neuroinformatics.dev>`_'s ``movement.filtering`` functions
(an optional dependency: ``pip install "napari-posetrack[analysis]"``). The Kalman smoother
(constant velocity model, forward Kalman filter + Rauch-Tung-Striebel backward pass) is
ours and needs only numpy.

Untracked instances (``track_id == -1``) are smoothed only when the video has no tracks and
at most one instance per frame (a single animal); otherwise they are thresholded but left
unsmoothed, because nothing says which instance continues which.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError
from .posetable import PREDICTED, UNLABELED, VISIBLE, PoseTable

__all__ = ["METHODS", "FilterReport", "filter_table", "kalman_smooth", "require_movement"]

#: smoothing methods understood by :func:`filter_table` (None = no smoothing)
METHODS = ("median", "savgol", "kalman")


@dataclass
class FilterReport:
    """What :func:`filter_table` did.

    Attributes
    ----------
    n_thresholded : int
        Nodes dropped because their score was below ``min_score``.
    n_interpolated : int
        Nodes filled by interpolation (including those in new rows).
    n_new_rows : int
        Rows added for frames where a track had no instance but the gap was short enough.
    n_smoothed_tracks : int
        Tracks that were smoothed.
    short_tracks : list of (video_id, track_id, n_frames)
        Tracks left unsmoothed because they span fewer frames than the window.
    """

    n_thresholded: int = 0
    n_interpolated: int = 0
    n_new_rows: int = 0
    n_smoothed_tracks: int = 0
    short_tracks: list = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.n_smoothed_tracks} track(s) smoothed, {self.n_thresholded} low-score node(s) dropped, "
            f"{self.n_interpolated} node(s) interpolated ({self.n_new_rows} new instance(s))"
        )
        if self.short_tracks:
            text += f", {len(self.short_tracks)} track(s) shorter than the window left unsmoothed"
        return text


def require_movement():
    """Import ``movement.filtering`` or raise a :class:`ConfigError` saying how to install it."""
    try:
        import movement.filtering as mf  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - movement is installed in the test env
        raise ConfigError(
            f"Median/Savitzky-Golay smoothing, score thresholding and interpolation need the optional "
            f"package 'movement', which could not be imported ({exc}).",
            hint='Install it with: pip install "napari-posetrack[analysis]"  (or use --method kalman).',
        ) from exc
    return mf


# ---------------------------------------------------------------------------- dense layout
def _groups(table: PoseTable, video_id: int):
    """Row indices of ``video_id`` grouped into trajectories: list of (track_id, rows)."""
    rows = np.flatnonzero(table.video_id == video_id)
    if not len(rows):
        return []
    tids = table.track_id[rows]
    groups = []
    for t in np.unique(tids[tids >= 0]):
        groups.append((int(t), rows[tids == t]))
    untracked = rows[tids < 0]
    if len(untracked) and not groups:
        frames = table.frame_idx[untracked]
        if len(np.unique(frames)) == len(frames):  # one animal: the untracked rows are one trajectory
            groups.append((-1, untracked))
    return groups


def _dense(table: PoseTable, groups):
    """Dense arrays over the frame span of the groups.

    Returns
    -------
    frames : ndarray (T,) int64
        Frame index of each time step (``first .. last``).
    pos : ndarray (T, I, K, 2) float64
        Positions, NaN where not labeled or no instance.
    score : ndarray (T, I, K) float64
    row : ndarray (T, I) int64
        Table row of each cell, -1 where the track has no instance in that frame.
    """
    all_rows = np.concatenate([g[1] for g in groups])
    f0, f1 = int(table.frame_idx[all_rows].min()), int(table.frame_idx[all_rows].max())
    t_len, k = f1 - f0 + 1, table.n_nodes
    pos = np.full((t_len, len(groups), k, 2), np.nan)
    score = np.full((t_len, len(groups), k), np.nan)
    row = np.full((t_len, len(groups)), -1, np.int64)
    for i, (_, rows) in enumerate(groups):
        t = table.frame_idx[rows] - f0
        # if a track has two instances in one frame, the first one wins (the others are untouched)
        _, first = np.unique(t, return_index=True)
        rows, t = rows[first], t[first]
        row[t, i] = rows
        lab = table.state[rows] != UNLABELED
        pos[t, i] = np.where(lab[..., None], table.points[rows], np.nan)
        score[t, i] = table.score[rows]
    return np.arange(f0, f1 + 1, dtype=np.int64), pos, score, row


def _as_dataarray(pos: np.ndarray):
    import xarray as xr  # noqa: PLC0415  (comes with movement)

    return xr.DataArray(pos, dims=("time", "individuals", "keypoints", "space"),
                        coords={"time": np.arange(pos.shape[0]), "space": ["x", "y"]})


def _fill_all(pos: np.ndarray) -> np.ndarray:
    """Every NaN run filled (linear inside, nearest at the ends), for filters that cannot skip NaN."""
    t_len = pos.shape[0]
    flat = pos.reshape(t_len, -1).copy()
    x = np.arange(t_len)
    for j in np.flatnonzero(np.isnan(flat).any(0)):
        ok = ~np.isnan(flat[:, j])
        flat[:, j] = np.interp(x, x[ok], flat[ok, j]) if ok.any() else 0.0
    return flat.reshape(pos.shape)


# ---------------------------------------------------------------------------- Kalman
def kalman_smooth(obs: np.ndarray, *, process_noise: float = 1.0, measurement_noise: float = 2.0) -> np.ndarray:
    """Constant-velocity Kalman filter + Rauch-Tung-Striebel smoother along axis 0.

    Parameters
    ----------
    obs : ndarray (T, ...) float
        Observed coordinates; NaN = missing (the smoother predicts through it). Every series
        along axis 0 is smoothed independently.
    process_noise : float
        Standard deviation of the random acceleration, pixels / frame^2.
    measurement_noise : float
        Standard deviation of the observation error, pixels.

    Returns
    -------
    ndarray (T, ...) float64
        Smoothed positions. Series with no observation stay NaN; positions before the first
        and after the last observation are extrapolated (mask them if unwanted).
    """
    obs = np.asarray(obs, np.float64)
    shape = obs.shape
    t_len = shape[0]
    z = obs.reshape(t_len, -1)
    s = z.shape[1]
    if t_len == 0 or s == 0:
        return obs.copy()
    q2, r2 = float(process_noise) ** 2, float(measurement_noise) ** 2
    if r2 <= 0 or q2 < 0:
        raise ConfigError(
            f"Kalman noise levels must be positive, got process={process_noise}, measurement={measurement_noise}.",
            hint="Use e.g. --process-noise 1 --measurement-noise 2 (pixels).",
        )
    # transition F = [[1, 1], [0, 1]], white-noise acceleration Q
    qm = q2 * np.array([[0.25, 0.5], [0.5, 1.0]])
    # state per series: mean (s, 2), covariance (s, 2, 2); start at the first observation
    ok = ~np.isnan(z)
    first = np.where(ok.any(0), ok.argmax(0), 0)
    m = np.zeros((s, 2))
    m[:, 0] = np.where(ok.any(0), z[first, np.arange(s)], 0.0)
    big = 1e6
    p = np.zeros((s, 2, 2))
    p[:, 0, 0] = big
    p[:, 1, 1] = big
    mf = np.empty((t_len, s, 2))
    pf = np.empty((t_len, s, 2, 2))
    mp_all = np.empty((t_len, s, 2))
    pp_all = np.empty((t_len, s, 2, 2))
    for t in range(t_len):
        if t > 0:  # predict
            m = np.stack([m[:, 0] + m[:, 1], m[:, 1]], 1)
            p00 = p[:, 0, 0] + 2 * p[:, 0, 1] + p[:, 1, 1]
            p01 = p[:, 0, 1] + p[:, 1, 1]
            p = np.stack([np.stack([p00, p01], 1), np.stack([p01, p[:, 1, 1]], 1)], 1) + qm
        mp_all[t], pp_all[t] = m, p
        have = ok[t]
        if have.any():  # update with H = [1, 0]
            innov = z[t] - m[:, 0]
            sv = p[:, 0, 0] + r2
            k0, k1 = p[:, 0, 0] / sv, p[:, 1, 0] / sv
            k0, k1 = np.where(have, k0, 0.0), np.where(have, k1, 0.0)
            innov = np.where(have, innov, 0.0)
            m = m + np.stack([k0 * innov, k1 * innov], 1)
            p00 = (1 - k0) * p[:, 0, 0]
            p01 = (1 - k0) * p[:, 0, 1]
            p11 = p[:, 1, 1] - k1 * p[:, 0, 1]
            p = np.stack([np.stack([p00, p01], 1), np.stack([p01, p11], 1)], 1)
        mf[t], pf[t] = m, p
    # RTS backward pass: C = Pf F^T Pp(t+1)^-1
    ms = mf.copy()
    for t in range(t_len - 2, -1, -1):
        pft = pf[t]
        fpf = np.stack([pft[:, 0] + pft[:, 1], pft[:, 1]], 1)  # F @ Pf, rows
        cross = np.transpose(fpf, (0, 2, 1))  # Pf F^T
        gain = cross @ np.linalg.inv(pp_all[t + 1])
        ms[t] = mf[t] + (gain @ (ms[t + 1] - mp_all[t + 1])[..., None])[..., 0]
    out = ms[:, :, 0]
    out[:, ~ok.any(0)] = np.nan
    return out.reshape(shape)


# ---------------------------------------------------------------------------- main entry
def _check_args(method, window, polyorder, max_gap):
    if method is not None and method not in METHODS:
        raise ConfigError(
            f"Unknown filter method {method!r}.",
            hint=f"Use one of {', '.join(METHODS)} (or none to only threshold/interpolate)."
        )
    if method in ("median", "savgol"):
        if int(window) < 2 or (method == "savgol" and int(window) <= polyorder):
            raise ConfigError(
                f"A {method} window of {window} frames is too short"
                + (f" for a polynomial of order {polyorder}" if method == "savgol" else "") + ".",
                hint=f"Use a window of at least {max(3, polyorder + 2) if method == 'savgol' else 3} frames "
                     "(odd numbers are centred).",
            )
    if max_gap is not None and int(max_gap) < 0:
        raise ConfigError(f"--max-gap must be >= 0, got {max_gap}.", hint="Use 0 to interpolate nothing.")


def filter_table(
    table: PoseTable,
    *,
    method: str | None = "median",
    window: int = 5,
    polyorder: int = 2,
    min_score: float | None = None,
    max_gap: int | None = None,
    process_noise: float = 1.0,
    measurement_noise: float = 2.0,
    report: FilterReport | None = None,
) -> PoseTable:
    """Threshold, interpolate and smooth the trajectories of a pose table.

    Steps, in order: nodes with ``score < min_score`` become unlabeled; gaps of at most
    ``max_gap`` frames are filled by linear interpolation; each track's nodes are smoothed
    along time with ``method``. Positions that were missing and not interpolated stay missing.

    Parameters
    ----------
    table : PoseTable
        Instances (N rows, K nodes), usually predictions with track ids.
    method : {"median", "savgol", "kalman"} or None
        Smoother; None only thresholds and interpolates.
    window : int
        Window in frames for median and Savitzky-Golay.
    polyorder : int
        Polynomial order for Savitzky-Golay.
    min_score : float, optional
        Drop nodes scored below this (user labels, whose score is NaN, are never dropped).
    max_gap : int, optional
        Longest run of missing frames to fill (None or 0: no interpolation).
    process_noise, measurement_noise : float
        Kalman parameters in pixels (see :func:`kalman_smooth`).
    report : FilterReport, optional
        Filled with counts of what was done.

    Returns
    -------
    PoseTable
        A new table: same rows (possibly minus rows left without any node, plus rows for
        interpolated gaps), filtered points.

    Raises
    ------
    ConfigError
        Unknown method, window too short, or a window longer than every track.
    """
    _check_args(method, window, polyorder, max_gap)
    report = report if report is not None else FilterReport()
    window, max_gap = int(window), int(max_gap or 0)
    mf = require_movement() if method in ("median", "savgol") or max_gap > 0 else None
    out = table.copy()

    if min_score is not None:
        low = (out.state != UNLABELED) & np.isfinite(out.score) & (out.score < float(min_score))
        report.n_thresholded += int(low.sum())
        out.state[low] = UNLABELED
        out.points[low] = np.nan

    smoother = {"method": method, "window": window, "polyorder": polyorder, "process_noise": process_noise,
                "measurement_noise": measurement_noise}
    new_rows: list[PoseTable] = []
    longest = 0
    for vid in np.unique(out.video_id):
        span, added = _filter_video(out, int(vid), mf, max_gap, smoother, report)
        longest = max(longest, span)
        if added is not None:
            new_rows.append(added)
    if method in ("median", "savgol") and longest and longest < window:
        raise ConfigError(
            f"The {method} window ({window} frames) is longer than every track (the longest spans {longest} frames).",
            hint=f"Use --window {max(3, longest - (1 - longest % 2))} or less, or a longer recording.",
        )
    # predicted rows left with no node at all are dropped; user rows are kept as they are
    empty = (out.state == UNLABELED).all(1) & (out.source == PREDICTED) & (table.state != UNLABELED).any(1)
    out = out.take(~empty)
    if new_rows:
        out = PoseTable.concat([out, *new_rows]).sorted()
    return out


def _filter_video(out: PoseTable, vid: int, mf, max_gap: int, smoother: dict,
                  report: FilterReport) -> tuple[int, PoseTable | None]:
    """Interpolate and smooth the tracks of one video of ``out`` in place.

    Returns the longest track span (frames) and the rows that interpolation added (or None).
    """
    groups = _groups(out, vid)
    if not groups:
        return 0, None
    frames, pos, _score, row = _dense(out, groups)
    present = ~np.isnan(pos[..., 0])  # (T, I, K)
    # span of each track in frames (first..last instance)
    has = row >= 0
    span = np.where(has.any(0), len(frames) - has[::-1].argmax(0) - has.argmax(0), 0)
    filled = present.copy()
    if max_gap > 0:
        da = mf.interpolate_over_time(_as_dataarray(pos), method="linear", max_gap=max_gap)
        pos = np.asarray(da.values, np.float64)
        filled = ~np.isnan(pos[..., 0])
    if smoother["method"] is not None:
        _smooth_tracks(mf, pos, filled, span, [(vid, g[0]) for g in groups], report, **smoother)
    added = _write_back(out, vid, frames, pos, row, present, filled, [g[0] for g in groups], report)
    return int(span.max()), added


def _smooth_tracks(mf, pos, filled, span, track_keys, report: FilterReport, *, method, window, polyorder,
                   process_noise, measurement_noise) -> None:
    """Smooth, in place, the tracks of ``pos`` (T, I, K, 2) long enough for ``method``; short ones are reported."""
    smooth_ok = span >= window if method != "kalman" else span >= 2
    for i in np.flatnonzero(~smooth_ok):
        report.short_tracks.append((*track_keys[i], int(span[i])))
    sel = np.flatnonzero(smooth_ok)
    if not len(sel):
        return
    sub = pos[:, sel]
    if method == "median":
        sm = mf.rolling_filter(_as_dataarray(sub), window, statistic="median", min_periods=1).values
    elif method == "savgol":
        sm = mf.savgol_filter(_as_dataarray(_fill_all(sub)), window, polyorder=polyorder).values
    else:
        sm = kalman_smooth(sub, process_noise=process_noise, measurement_noise=measurement_noise)
    pos[:, sel] = np.where(filled[:, sel, :, None], sm, np.nan)
    report.n_smoothed_tracks += len(sel)


def _write_back(out: PoseTable, vid: int, frames, pos, row, present, filled, track_ids,
                report: FilterReport) -> PoseTable | None:
    """Write the filtered positions into ``out``'s rows (in place); returns the rows that interpolation
    added where a track had no instance (or None)."""
    has = row >= 0
    t_idx, i_idx = np.nonzero(has)
    rows = row[t_idx, i_idx]
    keep = filled[t_idx, i_idx]  # (R, K)
    gained = keep & ~present[t_idx, i_idx]
    report.n_interpolated += int(gained.sum())
    out.points[rows] = np.where(keep[..., None], pos[t_idx, i_idx], np.nan).astype(np.float32)
    out.state[rows] = np.where(gained, VISIBLE, np.where(keep, out.state[rows], UNLABELED))
    t_new, i_new = np.nonzero(~has & filled.any(-1))
    if not len(t_new):
        return None
    pts = np.where(filled[t_new, i_new][..., None], pos[t_new, i_new], np.nan).astype(np.float32)
    report.n_interpolated += int(filled[t_new, i_new].sum())
    report.n_new_rows += len(t_new)
    return PoseTable.from_arrays(
        pts,
        frame_idx=frames[t_new],
        video_id=vid,
        state=np.where(filled[t_new, i_new], VISIBLE, UNLABELED).astype(np.uint8),
        score=np.full((len(t_new), out.n_nodes), np.nan, np.float32),
        track_id=np.array([track_ids[i] for i in i_new], np.int32),
        source=PREDICTED,
    )
