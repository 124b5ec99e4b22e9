"""Track (or re-track) a pose table: stream its frames through an online tracker.

:func:`iter_track` is a generator of :class:`~napari_posetrack.core.progress.ProgressEvent`
that returns a :class:`TrackResult`; :func:`track_table` runs it to the end. Frames are
visited in order, one at a time; only the output columns grow with the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from collections.abc import Callable, Generator

import numpy as np

from ..errors import ConfigError, TrackingError
from ..posetable import PoseTable
from ..progress import CancelToken, ProgressEvent
from ..registry import Registry
from .engine import OnlineTracker, TrackerConfig
from .flow import FlowTracker
from .kalman import KalmanTracker

__all__ = ["TRACKERS", "register_tracker", "make_tracker", "TrackResult", "iter_track", "track_table",
           "cull_short_tracks", "compact_track_ids"]


class SimpleTracker(OnlineTracker):
    """Hungarian frame-to-frame matching against the instances of the last ``window`` frames."""

    name = "simple"


TRACKERS: Registry = Registry("tracker")  # name -> OnlineTracker subclass; a taken name is refused


def register_tracker(name: str):
    """Decorator adding an :class:`OnlineTracker` subclass to :data:`TRACKERS`."""

    def deco(cls):
        TRACKERS[name] = cls
        return cls

    return deco


for _cls in (SimpleTracker, FlowTracker, KalmanTracker):
    register_tracker(_cls.name)(_cls)


def make_tracker(config: TrackerConfig) -> OnlineTracker:
    try:
        cls = TRACKERS[config.tracker]
    except KeyError:
        raise ConfigError(f"Unknown tracker {config.tracker!r}.", hint=f"Use one of {sorted(TRACKERS)}.") from None
    return cls(config)


@dataclass
class TrackResult:
    """What tracking returns.

    Attributes
    ----------
    table : PoseTable
        The input rows (same order) with ``track_id`` and ``tracking_score`` set.
    track_names : list of str
        Names for track ids ``0..n-1``.
    over_capacity : ndarray (M, 2)
        ``(video_id, frame_idx)`` of frames with more instances than ``max_tracks`` (their
        extra instances are left untracked).
    warnings : list of str
        Human-readable notes (over-capacity frames, culled tracks, ...).
    identity_disagree : ndarray (N,) bool or None
        With identity probabilities: rows whose appearance confidently names another animal than
        their track (the proofreading ``identity`` suspect signal); None without.
    """

    table: PoseTable
    track_names: list[str]
    over_capacity: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    warnings: list[str] = field(default_factory=list)
    identity_disagree: np.ndarray | None = None

    @property
    def n_tracks(self) -> int:
        ids = self.table.track_id
        return int(len(np.unique(ids[ids >= 0])))


def _frames_text(frames: np.ndarray, limit: int = 10) -> str:
    f = [int(x) for x in frames[:limit]]
    more = f" and {len(frames) - limit} more" if len(frames) > limit else ""
    return ", ".join(map(str, f)) + more


def iter_track(table: PoseTable, config: TrackerConfig | None = None, *, frame_source: Callable | None = None,
               cancel: CancelToken | None = None, report_every: int = 200, class_names=None,
               **kwargs) -> Generator[ProgressEvent, None, TrackResult]:
    """Assign track ids to every instance of ``table``, frame by frame.

    Parameters
    ----------
    table : PoseTable
        Instances to track (existing track ids are ignored and replaced).
    config : TrackerConfig, optional
        Settings; keyword arguments build one when omitted (``tracker="kalman"``, ...).
    frame_source : callable, optional
        ``frame_source(video_id) -> reader`` where ``reader[frame_idx]`` is an image (H, W, C);
        needed by trackers with ``needs_images`` (``flow``).
    cancel : CancelToken, optional
        Checked between frames; a cancelled run raises :class:`~..progress.Cancelled`.
    class_names : list of str, optional
        Names of the columns of ``table.identity_probs`` (an identity model's classes). With
        ``config.identity_weight`` > 0 the probabilities are a cost term of the online tracker; with
        it or with ``class_names`` the tracklets are then named after the classes
        (:func:`.identity.combine_identity_tracks`, same weight): the result's tracks are the classes.

    Yields
    ------
    ProgressEvent
        ``stage="track"``, step = frames done.

    Returns
    -------
    TrackResult
    """
    cfg = config or TrackerConfig(**kwargs)
    # with stitching, the online pass makes uncapped tracklets; the stitcher applies max_tracks
    online = replace(cfg, max_tracks=None) if cfg.stitch else cfg
    n_frames_total = _check_trackable(table, cfg, online, frame_source)
    probs, class_names = _identity_inputs(table, cfg, class_names)
    track_id, score, over = yield from _online_pass(table, cfg, online, probs, frame_source=frame_source,
                                                    cancel=cancel, report_every=report_every,
                                                    n_frames_total=n_frames_total)
    out = table.with_columns(track_id=track_id.astype(np.int32), tracking_score=score)
    warnings: list[str] = []
    over_arr = np.asarray(over, np.int64).reshape(-1, 2)
    if len(over_arr):
        warnings.append(
            f"{len(over_arr)} frames have more instances than max_tracks={cfg.max_tracks} "
            f"(frames {_frames_text(over_arr[:, 1])}); the instances that matched no track were left "
            "untracked. Pass a larger --max-tracks if there really are more animals."
        )
    out, names, disagree = _finish_tracks(out, cfg, probs, class_names, warnings)
    yield ProgressEvent("track", n_frames_total, n_frames_total, {"tracks": len(names)})
    return TrackResult(out, names, over_arr, warnings, disagree)


def _check_trackable(table: PoseTable, cfg: TrackerConfig, online: TrackerConfig, frame_source) -> int:
    """Refuse what cannot be tracked (no instances, no frames for an image tracker, too few tracks).

    Returns the number of frames with instances.
    """
    if len(table) == 0:
        raise TrackingError(
            "There are no instances to track (the predictions are empty).",
            hint="Run inference first (posetrack predict), or check that the file holds predictions.",
        )
    probe = make_tracker(online)
    if probe.needs_images and frame_source is None:
        raise TrackingError(
            f"The {cfg.tracker!r} tracker needs the video frames, but none were given.",
            hint="Make sure the video file the predictions refer to exists, or use --tracker simple/kalman.",
        )
    counts = np.unique(np.stack([table.video_id.astype(np.int64), table.frame_idx]), axis=1, return_counts=True)[1]
    if cfg.max_tracks is not None and np.median(counts) > cfg.max_tracks:
        raise TrackingError(
            f"max_tracks={cfg.max_tracks} is smaller than the number of instances in most frames "
            f"(median {int(np.median(counts))} per frame, up to {int(counts.max())}).",
            hint=f"Pass --max-tracks {int(np.median(counts))} (or more) if that many animals are in the video.",
        )
    return len(counts)


def _identity_inputs(table: PoseTable, cfg: TrackerConfig, class_names):
    """``(probs, class_names)``: the identity probabilities the tracker uses (None when it uses none)."""
    has_probs = table.identity_probs.shape[1] >= 2 and bool(np.isfinite(table.identity_probs).any())
    if cfg.identity_weight > 0 and not has_probs:
        raise TrackingError(
            f"--identity-weight {cfg.identity_weight:g} needs identity-model class probabilities, and these "
            f"{len(table)} instances have {'none' if table.identity_probs.shape[1] == 0 else 'no usable ones'}.",
            hint="Predict with an identity model (posetrack train --model topdown-id), or track without "
                 "--identity-weight.")
    if not (has_probs and (cfg.identity_weight > 0 or class_names)):
        return None, class_names
    probs = table.identity_probs
    class_names = [str(c) for c in (class_names or [])][:probs.shape[1]]
    class_names += [f"class_{j}" for j in range(len(class_names), probs.shape[1])]
    return probs, class_names


def _online_pass(table: PoseTable, cfg: TrackerConfig, online: TrackerConfig, probs, *, frame_source, cancel,
                 report_every: int, n_frames_total: int):
    """Generator: one tracker per video, stepped frame by frame; returns ``(track_id, score, over)``.

    ``over`` lists the ``(video_id, frame_idx)`` with more instances than ``cfg.max_tracks``.
    """
    track_id = np.full(len(table), -1, np.int64)
    score = np.zeros(len(table), np.float32)
    over: list[tuple[int, int]] = []
    id_offset = 0
    done = 0
    current_video = None
    tracker = None
    reader = None
    for vid, fidx, rows in table.frame_groups():
        if cancel is not None:
            cancel.raise_if_cancelled()
        if vid != current_video:
            if tracker is not None and online.max_tracks is None:
                id_offset += tracker.next_id
            tracker = make_tracker(online)
            current_video = vid
            reader = frame_source(vid) if (tracker.needs_images and frame_source) else None
        image = _frame_image(reader, vid, fidx) if reader is not None else None
        ids, sc = tracker.step(fidx, table.points[rows], image,
                               None if probs is None or cfg.identity_weight <= 0 else probs[rows])
        track_id[rows] = np.where(ids >= 0, ids + (id_offset if online.max_tracks is None else 0), -1)
        score[rows] = sc
        if cfg.max_tracks is not None and len(rows) > cfg.max_tracks:
            over.append((vid, fidx))
        done += 1
        if done % report_every == 0:
            yield ProgressEvent("track", done, n_frames_total, {"tracks": int(tracker.next_id)})
    return track_id, score, over


def _frame_image(reader, vid: int, fidx: int):
    n_vid = len(reader) if hasattr(reader, "__len__") else None
    if n_vid is not None and fidx >= n_vid:
        raise TrackingError(
            f"Instances reference frame {fidx} of video {vid}, which has only {n_vid} frames.",
            hint="The predictions do not belong to this video; relink the video or re-run inference.",
        )
    return reader[fidx]


def _finish_tracks(out: PoseTable, cfg: TrackerConfig, probs, class_names, warnings: list[str]):
    """Stitch, cull short tracks and name the tracks (after the classes with identity probabilities).

    Returns ``(table, names, disagree)``; appends its notes to ``warnings``.
    """
    if cfg.stitch:
        from .stitch import stitch_tracklets

        out = stitch_tracklets(out, n_identities=cfg.max_tracks, kappa=cfg.kappa)
    if cfg.min_track_length > 1:
        out, n_culled = cull_short_tracks(out, cfg.min_track_length)
        if n_culled:
            warnings.append(f"{n_culled} tracks shorter than {cfg.min_track_length} instances were removed.")
    disagree = None
    if probs is not None:  # tracklets named after the classes; the tracks are the classes
        from .identity import combine_identity_tracks

        comb = combine_identity_tracks(out, probs, weight=cfg.identity_weight)
        out, disagree = out.with_columns(track_id=comb.track_id), comb.disagree
        warnings += comb.messages
        names = list(class_names)
    else:
        out = compact_track_ids(out)
        names = [f"track_{i}" for i in range(int(out.track_id.max(initial=-1)) + 1)]
    return out, names, disagree


def track_table(table: PoseTable, config: TrackerConfig | None = None, **kwargs) -> TrackResult:
    """Plain-function form of :func:`iter_track` (runs it to the end)."""
    gen = iter_track(table, config, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def cull_short_tracks(table: PoseTable, min_length: int) -> tuple[PoseTable, int]:
    """Untrack (``-1``) the instances of tracks with fewer than ``min_length`` instances."""
    tid = table.track_id.copy()
    ids, counts = np.unique(tid[tid >= 0], return_counts=True)
    short = ids[counts < min_length]
    tid[np.isin(tid, short)] = -1
    return table.with_columns(track_id=tid), int(len(short))


def compact_track_ids(table: PoseTable) -> PoseTable:
    """Renumber track ids to ``0..n-1`` in order of first appearance."""
    tid = table.track_id
    if not (tid >= 0).any():
        return table
    order = np.lexsort((table.frame_idx, table.video_id))
    seen: dict[int, int] = {}
    for t in tid[order]:
        if t >= 0 and int(t) not in seen:
            seen[int(t)] = len(seen)
    lut = np.full(int(tid.max()) + 1, -1, np.int32)
    for old, new in seen.items():
        lut[old] = new
    return table.with_columns(track_id=np.where(tid >= 0, lut[np.maximum(tid, 0)], -1))
