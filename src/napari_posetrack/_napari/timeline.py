"""Tracklet timeline: one lane per identity over time, drawn with QPainter.

Click a lane to jump to that frame and select the track; drag along a lane to select a frame
range of that track. The selection ``(track, start, stop)`` feeds the swap, merge and split
commands of the proofreading dock. Suspect frames are drawn as red ticks above the lanes;
frames where an identity model names another animal than the track as white-edged magenta
marks on that track's lane (:meth:`TrackTimeline.set_identity_marks`).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QRectF, Qt, Signal
from qtpy.QtGui import QColor, QFont, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

from .tracks_layer import track_colors

__all__ = ["TrackTimeline", "track_runs"]

_LABEL_W = 58
_TICK_H = 8


def track_runs(frames: np.ndarray) -> np.ndarray:
    """(R, 2) inclusive ``[start, stop]`` runs of consecutive values in sorted ``frames``."""
    frames = np.unique(np.asarray(frames, np.int64))
    if not len(frames):
        return np.zeros((0, 2), np.int64)
    breaks = np.flatnonzero(np.diff(frames) > 1)
    starts = np.r_[frames[0], frames[breaks + 1]]
    stops = np.r_[frames[breaks], frames[-1]]
    return np.stack([starts, stops], 1)


class TrackTimeline(QWidget):
    """Lanes of track presence over frames.

    Signals
    -------
    frame_clicked(int)
        A frame was clicked.
    selection_changed(object)
        ``(track, start, stop)`` or ``None``.
    """

    frame_clicked = Signal(int)
    selection_changed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(False)
        self._runs: dict[int, np.ndarray] = {}
        self._names: dict[int, str] = {}
        self._lanes: list[int] = []
        self._n_frames = 1
        self._current = 0
        self._suspects = np.zeros(0, np.int64)
        self._identity_marks = np.zeros((0, 2), np.int64)
        self.selection: tuple[int, int, int] | None = None
        self._drag_start: tuple[int, int] | None = None

    # ------------------------------------------------------------------ data
    def set_data(self, frame_idx: np.ndarray, track_id: np.ndarray, n_frames: int | None = None,
                 track_names=None) -> None:
        """Show the instances ``frame_idx`` (N,) with ``track_id`` (N,) (untracked rows ignored)."""
        frame_idx = np.asarray(frame_idx, np.int64)
        track_id = np.asarray(track_id, np.int64)
        self._runs = {int(t): track_runs(frame_idx[track_id == t]) for t in np.unique(track_id[track_id >= 0])}
        self._lanes = sorted(self._runs)
        names = list(track_names or [])
        self._names = {t: (names[t] if t < len(names) else str(t)) for t in self._lanes}
        top = int(frame_idx.max(initial=0)) + 1
        self._n_frames = max(int(n_frames or 0), top, 1)
        if self.selection and self.selection[0] not in self._runs:
            self.selection = None
        self.setMinimumHeight(_TICK_H + 14 * max(len(self._lanes), 1) + 8)
        self.update()

    def set_current_frame(self, frame: int) -> None:
        self._current = int(frame)
        self.update()

    def set_suspects(self, frames) -> None:
        self._suspects = np.asarray(frames, np.int64).ravel()
        self.update()

    def set_identity_marks(self, frames, tracks) -> None:
        """Mark ``frames`` (M,) on the lanes of ``tracks`` (M,): the identity model disagrees with the track."""
        self._identity_marks = np.stack([np.asarray(frames, np.int64).ravel(),
                                         np.asarray(tracks, np.int64).ravel()], 1).reshape(-1, 2)
        self.update()

    @property
    def identity_marks(self) -> np.ndarray:
        """(M, 2) ``(frame, track)`` of the identity disagreements shown."""
        return self._identity_marks.copy()

    @property
    def lanes(self) -> list[int]:
        return list(self._lanes)

    # ------------------------------------------------------------------ geometry
    def _lane_h(self) -> float:
        return max(6.0, (self.height() - _TICK_H - 4) / max(len(self._lanes), 1))

    def frame_to_x(self, frame: float) -> float:
        w = max(self.width() - _LABEL_W - 4, 1)
        return _LABEL_W + (frame / max(self._n_frames, 1)) * w

    def x_to_frame(self, x: float) -> int:
        w = max(self.width() - _LABEL_W - 4, 1)
        return int(np.clip(round((x - _LABEL_W) / w * self._n_frames), 0, self._n_frames - 1))

    def lane_at(self, y: float) -> int | None:
        i = int((y - _TICK_H) // self._lane_h())
        return self._lanes[i] if 0 <= i < len(self._lanes) else None

    def lane_center(self, track: int) -> float:
        return _TICK_H + (self._lanes.index(track) + 0.5) * self._lane_h()

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event):  # noqa: N802 - Qt name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(38, 41, 48))
        pal = track_colors(max(self._lanes, default=-1) + 1)
        lh = self._lane_h()
        p.setFont(QFont("", 8))
        for i, t in enumerate(self._lanes):
            y = _TICK_H + i * lh
            p.setPen(QColor(200, 200, 200))
            p.drawText(QRectF(2, y, _LABEL_W - 4, lh), int(Qt.AlignmentFlag.AlignVCenter), self._names[t][:9])
            c = QColor.fromRgbF(*pal[t])
            for a, b in self._runs[t]:
                x0, x1 = self.frame_to_x(a), self.frame_to_x(b + 1)
                p.fillRect(QRectF(x0, y + 2, max(x1 - x0, 1.0), lh - 4), c)
        if self.selection is not None and self.selection[0] in self._lanes:
            t, a, b = self.selection
            y = _TICK_H + self._lanes.index(t) * lh
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawRect(QRectF(self.frame_to_x(a), y + 1, max(self.frame_to_x(b + 1) - self.frame_to_x(a), 2), lh - 2))
        p.setPen(QPen(QColor(255, 255, 255), 1))
        for f, t in self._identity_marks:  # identity disagreements: on the lane, a mark at least 3 px wide
            if t in self._lanes:
                y = _TICK_H + self._lanes.index(t) * lh
                x0 = self.frame_to_x(f)
                w = max(self.frame_to_x(f + 1) - x0, 3.0)
                p.fillRect(QRectF(x0, y, w, lh), QColor(255, 0, 200))
                p.drawRect(QRectF(x0, y, w, lh))
        p.setPen(QPen(QColor(230, 60, 60), 1))
        for f in self._suspects:
            x = self.frame_to_x(f + 0.5)
            p.drawLine(int(x), 0, int(x), _TICK_H - 1)
        p.setPen(QPen(QColor(255, 255, 0), 1))
        x = self.frame_to_x(self._current + 0.5)
        p.drawLine(int(x), 0, int(x), self.height())
        p.end()

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event):  # noqa: N802
        pos = event.position() if hasattr(event, "position") else event.pos()
        self._drag_start = (self.x_to_frame(pos.x()), self.lane_at(pos.y()))

    def mouseMoveEvent(self, event):  # noqa: N802
        if self._drag_start is None or self._drag_start[1] is None:
            return
        pos = event.position() if hasattr(event, "position") else event.pos()
        f = self.x_to_frame(pos.x())
        a, b = sorted((self._drag_start[0], f))
        self.selection = (self._drag_start[1], a, b)
        self.update()

    def mouseReleaseEvent(self, event):  # noqa: N802
        if self._drag_start is None:
            return
        pos = event.position() if hasattr(event, "position") else event.pos()
        f0, lane = self._drag_start
        f1 = self.x_to_frame(pos.x())
        self._drag_start = None
        if lane is None:
            self.selection = None
        elif f1 == f0:
            runs = self._runs[lane]
            hit = runs[(runs[:, 0] <= f0) & (runs[:, 1] >= f0)]
            a, b = (int(hit[0, 0]), int(hit[0, 1])) if len(hit) else (f0, f0)
            self.selection = (lane, a, b)
        else:
            a, b = sorted((f0, f1))
            self.selection = (lane, a, b)
        self.update()
        self.selection_changed.emit(self.selection)
        self.frame_clicked.emit(f1 if f1 == f0 else f0)
