"""The online (frame-by-frame, streaming) tracking engine shared by every tracker.

A tracker sees one frame at a time: the detections of that frame ``points`` (N, K, 2) and,
for trackers that need it, the image. It keeps a bounded state (a window of recent frames
and one small record per track), so memory does not grow with the length of the video.

Per frame:

1. the tracker proposes *candidate poses* for its tracks (the instances of the last
   ``window`` frames for ``simple``, flow-shifted poses for ``flow``, Kalman predictions for
   ``kalman``);
2. the cost between each detection and each candidate is computed with a registered cost
   (:mod:`.costs`) and reduced to one cost per track (the best of its candidates);
3. detections are assigned to tracks with the Hungarian algorithm; pairs above
   ``max_cost`` are refused;
4. refused or unmatched detections start a new track, unless ``max_tracks`` tracks already
   exist: then they are matched (Hungarian on the distance to each free track's last known
   position) to the tracks not used in this frame, so that two animals never become 27
   tracks (*track reuse*). Detections left over when every track is taken (more instances
   than ``max_tracks`` in one frame) stay untracked (``-1``) and the frame is reported.

With an identity model's class probabilities (``identity_weight`` W > 0, ``probs`` given to
:meth:`OnlineTracker.step`), each track keeps a belief over the classes (a decaying sum of the
log-probabilities of its detections) and the cost of steps 2 and 4 becomes
``(1 - W) * pose cost + W * identity cost`` (the identity cost in units of ``max_cost`` for
the ``centroid`` cost, which is in pixels), where the identity cost ``1 - sum_c p(c) q(c)`` is
the probability that the detection (``p``) and the track (``q``) are different animals. A
detection that looks like the other animal then does not take over a track just because it
stands where that track was (two animals crossing).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import ConfigError
from .costs import centroids, get_cost

__all__ = ["TrackerConfig", "OnlineTracker", "hungarian", "DEFAULT_MAX_COST"]

#: default gate on the association cost, per cost name
DEFAULT_MAX_COST = {"oks": 0.98, "iou": 0.99, "centroid": 200.0}


@dataclass
class TrackerConfig:
    """Settings of the trackers (one flat set; each tracker reads the fields it uses).

    Attributes
    ----------
    tracker : str
        ``"simple"``, ``"flow"`` or ``"kalman"`` (see :data:`~.TRACKERS`).
    cost : str
        Association cost: ``"oks"``, ``"centroid"`` or ``"iou"`` (see :data:`~.costs.COSTS`).
    window : int
        Frames of history used as candidates (``simple``, ``flow``).
    max_tracks : int or None
        Target number of animals; with it, tracks are reused instead of multiplied.
    max_cost : float or None
        Refuse a match whose cost is above this (default per cost, :data:`DEFAULT_MAX_COST`).
    min_new_track_points : int
        Do not start a track from an instance with fewer labeled nodes than this.
    min_track_length : int
        After tracking, tracks with fewer instances than this lose their id (0 keeps all).
    stitch : bool
        After online tracking, link tracklets globally into ``max_tracks`` identities.
    kappa : float
        OKS spread (fraction of the animal's size).
    max_gap : int
        Frames a track may be unseen and still be a first-choice candidate (Kalman coasting).
    flow_window, flow_levels, flow_scale, flow_iters : int, int, float, int
        Pyramidal Lucas-Kanade settings of the ``flow`` tracker.
    process_noise, measurement_noise : float
        Kalman noise (pixels) of the constant-velocity model.
    gate : float
        Kalman gate on the squared Mahalanobis distance of the centroid (chi-square, 2 dof).
    identity_weight : float
        Weight W in [0, 1] of the identity cost against the pose cost (0 = poses only); used when
        :meth:`OnlineTracker.step` gets class probabilities.
    identity_memory : float
        Decay per observation of a track's class evidence (0.9: about the last 10 detections count).
    """

    tracker: str = "simple"
    cost: str = "oks"
    window: int = 5
    max_tracks: int | None = None
    max_cost: float | None = None
    min_new_track_points: int = 1
    min_track_length: int = 0
    stitch: bool = False
    kappa: float = 0.1
    max_gap: int = 10
    flow_window: int = 21
    flow_levels: int = 3
    flow_scale: float = 1.0
    flow_iters: int = 5
    process_noise: float = 10.0
    measurement_noise: float = 10.0
    gate: float = 30.0
    identity_weight: float = 0.0
    identity_memory: float = 0.9

    def __post_init__(self):
        if self.max_tracks is not None and int(self.max_tracks) < 1:
            raise ConfigError(f"max_tracks must be at least 1, got {self.max_tracks}.",
                              hint="Pass the number of animals in the video, or leave it unset.")
        if int(self.window) < 1:
            raise ConfigError(f"window must be at least 1 frame, got {self.window}.", hint="Use --window 5.")
        get_cost(self.cost)  # raises for an unknown cost
        if not 0.0 <= float(self.identity_weight) <= 1.0:
            raise ConfigError(f"identity_weight (--identity-weight) must be between 0 and 1, got "
                              f"{self.identity_weight}.",
                              hint="0 = the poses decide alone, 1 = the identity model decides; 0.5 weighs both.")
        if not 0.0 <= float(self.identity_memory) < 1.0:
            raise ConfigError(f"identity_memory must be in [0, 1), got {self.identity_memory}.",
                              hint="Use 0.9 (about the last 10 detections of a track count).")

    @property
    def gate_cost(self) -> float:
        return float(self.max_cost if self.max_cost is not None else DEFAULT_MAX_COST.get(self.cost, np.inf))

    @classmethod
    def from_dict(cls, d: dict) -> TrackerConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"Unknown tracker settings {sorted(unknown)}.", hint=f"Known: {sorted(names)}.")
        return cls(**d)


def hungarian(cost: np.ndarray, max_cost: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment; returns ``(rows, cols)`` of the accepted pairs (cost <= max_cost)."""
    if cost.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    finite = np.isfinite(cost)
    big = (np.abs(cost[finite]).max() + 1.0) * 1e3 if finite.any() else 1.0
    c = np.where(finite, cost, big)
    rows, cols = linear_sum_assignment(c)
    ok = finite[rows, cols] & (cost[rows, cols] <= max_cost)
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


@dataclass
class _Track:
    last_frame: int
    points: np.ndarray  # (K, 2) last observed pose
    n_seen: int = 1


class OnlineTracker:
    """Base streaming tracker: candidate window, Hungarian assignment, track reuse.

    Subclasses override :meth:`candidates` (where tracks are expected in this frame) and
    :meth:`observe` (update their state with the assignments). Call :meth:`step` once per
    frame in increasing frame order.
    """

    name = "base"
    needs_images = False

    def __init__(self, config: TrackerConfig | None = None, **kwargs):
        self.config = config or TrackerConfig(**kwargs)
        self.cost_fn = get_cost(self.config.cost)
        self.tracks: dict[int, _Track] = {}
        self.history: deque = deque(maxlen=int(self.config.window))
        self.next_id = 0
        #: class evidence of each track (decaying sum of log-probabilities), with identity probabilities
        self.evidence: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ hooks
    def candidates(self, frame_idx: int, image) -> tuple[np.ndarray, np.ndarray]:
        """Candidate poses: ``(track_ids (M,), poses (M, K, 2))`` (several rows per track allowed)."""
        if not self.history:
            return np.zeros(0, np.int64), np.zeros((0, 0, 2), np.float32)
        ids = np.concatenate([h[1] for h in self.history])
        pts = np.concatenate([h[2] for h in self.history])
        keep = ids >= 0
        return ids[keep], pts[keep]

    def gate(self, cost: np.ndarray, points: np.ndarray, track_ids: np.ndarray) -> np.ndarray:
        """Optionally forbid pairs (set ``inf``) in the (N, T) per-track cost matrix."""
        return cost

    def observe(self, frame_idx: int, image, points: np.ndarray, assigned: np.ndarray) -> None:
        """Update the tracker state with this frame's detections and their track ids."""

    def reuse_position(self, track_id: int) -> np.ndarray:
        """(2,) where a free track is expected, for track reuse (default: last centroid)."""
        return centroids(self.tracks[track_id].points[None])[0]

    # ------------------------------------------------------------------ main step
    # ------------------------------------------------------------------ identity
    def identity_belief(self, track_ids, n_classes: int) -> np.ndarray:
        """(T, C) class probabilities of tracks (uniform for a track with no evidence yet)."""
        q = np.full((len(track_ids), n_classes), 1.0 / max(n_classes, 1))
        for i, t in enumerate(track_ids):
            ev = self.evidence.get(int(t))
            if ev is not None and len(ev) == n_classes:
                e = np.exp(ev - ev.max())
                q[i] = e / e.sum()
        return q

    def identity_cost(self, probs: np.ndarray, track_ids) -> np.ndarray:
        """(N, T) probability that detection i and track t are different animals: ``1 - p_i . q_t``."""
        return 1.0 - probs @ self.identity_belief(track_ids, probs.shape[1]).T

    def _mix(self, pose_cost: np.ndarray, probs, track_ids, unit: float = 1.0) -> np.ndarray:
        """``(1 - W) * pose_cost + W * unit * identity cost`` (``inf`` pose costs stay ``inf``)."""
        w = float(self.config.identity_weight)
        if probs is None or w <= 0.0 or not pose_cost.size:
            return pose_cost
        mixed = (1.0 - w) * np.where(np.isfinite(pose_cost), pose_cost, 0.0) + w * unit * self.identity_cost(
            probs, track_ids)
        return np.where(np.isfinite(pose_cost), mixed, np.inf)

    def _remember_identity(self, probs, out) -> None:
        if probs is None or self.config.identity_weight <= 0.0:
            return
        logp = np.log(probs)
        for r in np.flatnonzero(out >= 0):
            t = int(out[r])
            prev = self.evidence.get(t)
            self.evidence[t] = logp[r] if prev is None or len(prev) != len(logp[r]) else \
                self.config.identity_memory * prev + logp[r]

    @staticmethod
    def _clean_probs(probs, n: int):
        """Class probabilities (N, C) as float64 in [1e-6, 1], NaN rows uniform; None stays None."""
        if probs is None:
            return None
        p = np.asarray(probs, np.float64).reshape(n, -1)
        if p.shape[1] == 0:
            return None
        unknown = ~np.isfinite(p).all(1)
        p[unknown] = 1.0 / p.shape[1]
        return np.clip(p, 1e-6, 1.0)

    def step(self, frame_idx: int, points: np.ndarray, image=None, probs=None) -> tuple[np.ndarray, np.ndarray]:
        """Assign track ids to the detections of one frame.

        Parameters
        ----------
        frame_idx : int
        points : ndarray (N, K, 2)
            Detections (x, y), NaN for missing nodes.
        image : ndarray (H, W) or None
            The frame, for trackers with ``needs_images``.
        probs : ndarray (N, C) or None
            Identity-model class probabilities of the detections (NaN rows: unknown); they enter the
            cost when ``config.identity_weight`` > 0.

        Returns
        -------
        track_ids : ndarray (N,) int64
            ``-1`` for detections left untracked.
        scores : ndarray (N,) float32
            Tracking confidence in [0, 1] (similarity of the accepted match; 1 for new tracks
            started by the first frame, 0 for untracked).
        """
        cfg = self.config
        points = np.asarray(points, np.float32)
        n = points.shape[0]
        out = np.full(n, -1, np.int64)
        score = np.zeros(n, np.float32)
        n_labeled = np.isfinite(points[..., 0]).sum(1) if n else np.zeros(0, int)
        usable = n_labeled >= max(1, cfg.min_new_track_points)
        probs = self._clean_probs(probs, n) if cfg.identity_weight > 0 else None
        cand_ids, cand_pts = self.candidates(frame_idx, image)
        matched_tracks: set[int] = set()
        if n and len(cand_ids):
            raw = self.cost_fn(points, cand_pts, kappa=cfg.kappa)  # (N, M)
            order = np.argsort(cand_ids, kind="stable")
            sids = cand_ids[order]
            uniq, starts = np.unique(sids, return_index=True)
            per_track = np.minimum.reduceat(raw[:, order], starts, axis=1)  # (N, T)
            unit = cfg.gate_cost if cfg.cost == "centroid" and np.isfinite(cfg.gate_cost) else 1.0  # pixels
            per_track = self.gate(self._mix(per_track, probs, uniq, unit), points, uniq)
            rows, cols = hungarian(per_track, cfg.gate_cost)
            for r, c in zip(rows, cols):
                out[r] = uniq[c]
                score[r] = self._similarity(per_track[r, c])
                matched_tracks.add(int(uniq[c]))
        left = np.flatnonzero((out < 0) & (n_labeled > 0))
        if len(left):
            self._assign_left(left, points, out, matched_tracks, usable, score, probs)
        for r in np.flatnonzero(out >= 0):
            t = int(out[r])
            tr = self.tracks.get(t)
            if tr is None:
                self.tracks[t] = _Track(frame_idx, points[r].copy())
            else:
                tr.last_frame, tr.points, tr.n_seen = frame_idx, points[r].copy(), tr.n_seen + 1
        self._remember_identity(probs, out)
        self.history.append((frame_idx, out.copy(), points))
        self.observe(frame_idx, image, points, out)
        return out, score

    def _similarity(self, cost: float) -> float:
        if self.config.cost == "centroid":
            return float(np.exp(-cost / 20.0))
        return float(np.clip(1.0 - cost, 0.0, 1.0))

    def _assign_left(self, left, points, out, matched_tracks, usable, score, probs=None) -> None:
        cfg = self.config
        cap = cfg.max_tracks
        # start new tracks while under capacity (the best-supported detections first)
        while len(left) and (cap is None or len(self.tracks) + self._pending(out) < cap):
            cand = [r for r in left if usable[r]]
            if not cand:
                break
            if cap is None:
                for r in cand:
                    out[r] = self.next_id
                    self.next_id += 1
                    score[r] = 0.0
                left = np.array([r for r in left if out[r] < 0], np.int64)
                break
            r = max(cand, key=lambda i: np.isfinite(points[i, :, 0]).sum())
            out[r] = self._new_id()
            score[r] = 0.0
            left = np.array([i for i in left if i != r], np.int64)
        if not len(left) or cap is None:
            return
        # at capacity: reuse tracks that were not matched in this frame
        free = [t for t in self.tracks if t not in matched_tracks and t not in set(out.tolist())]
        if not free:
            return
        det_c = centroids(points[left].astype(np.float64))
        trk_c = np.stack([self.reuse_position(t) for t in free]).astype(np.float64)
        d = np.sqrt(((det_c[:, None] - trk_c[None]) ** 2).sum(-1))
        d = np.where(np.isfinite(d), d, np.inf)
        if probs is not None and np.isfinite(d).any():  # distances in units of the farthest pair, then mixed
            d = self._mix(d / max(float(d[np.isfinite(d)].max()), 1.0), probs[left], free)
        rows, cols = hungarian(d)
        for r, c in zip(rows, cols):
            out[left[r]] = free[c]
            score[left[r]] = 0.0

    def _pending(self, out) -> int:
        """Tracks started in this frame that are not yet in ``self.tracks``."""
        return len({int(t) for t in out if t >= 0 and int(t) not in self.tracks})

    def _new_id(self) -> int:
        used = set(self.tracks)
        while self.next_id in used:
            self.next_id += 1
        t = self.next_id
        self.next_id += 1
        return t
