"""Constant-velocity Kalman tracker with gating and coasting through short gaps.

Every node coordinate of a track follows the same constant-velocity model (state: position
and velocity), so one 2x2 covariance per track serves all its coordinates: the filter costs
O(K) per track and frame. A track missing from a frame *coasts* on its prediction for up to
``max_gap`` frames; its candidate pose is the prediction, and a detection is refused when
its centroid lies outside the gate (squared Mahalanobis distance > ``gate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .costs import centroids
from .engine import OnlineTracker

__all__ = ["KalmanTracker"]


@dataclass
class _Filter:
    x: np.ndarray  # (K, 2) positions
    v: np.ndarray  # (K, 2) velocities (pixels / frame)
    P: np.ndarray  # (2, 2) covariance of (position, velocity), shared by the coordinates
    frame: int  # frame the state refers to
    last_obs: int  # last frame with an observation


class KalmanTracker(OnlineTracker):
    """Constant-velocity Kalman filter per track; candidates are the predicted poses."""

    name = "kalman"

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.filters: dict[int, _Filter] = {}

    # ------------------------------------------------------------------ model
    def _predict(self, f: _Filter, frame_idx: int) -> None:
        dt = frame_idx - f.frame
        if dt <= 0:
            return
        q = self.config.process_noise ** 2
        F = np.array([[1.0, dt], [0.0, 1.0]])
        Q = q * np.array([[dt ** 3 / 3.0, dt ** 2 / 2.0], [dt ** 2 / 2.0, dt]])
        f.x = f.x + f.v * dt
        f.P = F @ f.P @ F.T + Q
        f.frame = frame_idx

    def _new_filter(self, pose: np.ndarray, frame_idx: int) -> _Filter:
        r = self.config.measurement_noise ** 2
        return _Filter(x=pose.astype(np.float64).copy(), v=np.zeros(pose.shape, np.float64),
                       P=np.diag([r, 10.0 * r]), frame=frame_idx, last_obs=frame_idx)

    def _update(self, f: _Filter, z: np.ndarray) -> None:
        r = self.config.measurement_noise ** 2
        s = f.P[0, 0] + r
        k = f.P[:, 0] / s  # (2,) gains for position and velocity
        obs = np.isfinite(z)
        new = obs & ~np.isfinite(f.x)
        y = np.where(obs & ~new, z - f.x, 0.0)
        f.x = np.where(new, z, f.x + k[0] * y)
        f.v = np.where(new, 0.0, np.where(np.isfinite(f.v), f.v + k[1] * y, 0.0))
        f.P = (np.eye(2) - np.outer(k, [1.0, 0.0])) @ f.P

    # ------------------------------------------------------------------ engine hooks
    def _active(self, frame_idx: int):
        return [t for t, f in self.filters.items() if frame_idx - f.last_obs <= self.config.max_gap]

    def candidates(self, frame_idx, image):
        ids = self._active(frame_idx)
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, 0, 2), np.float32)
        for t in ids:
            self._predict(self.filters[t], frame_idx)
        pts = np.stack([self.filters[t].x for t in ids]).astype(np.float32)
        return np.asarray(ids, np.int64), pts

    def gate(self, cost, points, track_ids):
        r = self.config.measurement_noise ** 2
        det_c = centroids(points.astype(np.float64))  # (N, 2)
        pred_c = centroids(np.stack([self.filters[int(t)].x for t in track_ids]))  # (T, 2)
        var = np.array([self.filters[int(t)].P[0, 0] + r for t in track_ids])  # (T,)
        d2 = ((det_c[:, None] - pred_c[None]) ** 2).sum(-1) / var[None]
        return np.where(np.isfinite(d2) & (d2 > self.config.gate), np.inf, cost)

    def reuse_position(self, track_id):
        f = self.filters.get(track_id)
        if f is None:
            return super().reuse_position(track_id)
        if f.frame - f.last_obs <= self.config.max_gap:
            return centroids(f.x[None])[0]
        return super().reuse_position(track_id)

    def observe(self, frame_idx, image, points, assigned):
        for r in np.flatnonzero(assigned >= 0):
            t = int(assigned[r])
            z = points[r].astype(np.float64)
            f = self.filters.get(t)
            if f is None or frame_idx - f.last_obs > self.config.max_gap:
                self.filters[t] = self._new_filter(z, frame_idx)
                continue
            self._predict(f, frame_idx)
            self._update(f, z)
            f.last_obs = frame_idx
