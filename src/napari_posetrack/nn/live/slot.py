"""The one-frame slot between a live source's grabber thread and the inference thread.

A frame that arrives before the previous one was taken replaces it and is counted as dropped;
frames are never queued, so the predictor always gets the newest frame.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["Frame", "LatestFrame"]


@dataclass
class Frame:
    """One frame as it arrived: ``image`` (H, W, C) uint8, its index and arrival time."""

    image: np.ndarray
    index: int
    t_arrival: float  # time.perf_counter() when the grabber had the decoded frame


class LatestFrame:
    """A one-frame mailbox: ``put`` replaces an untaken frame (counted as dropped), ``take`` waits."""

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self.n_arrived = 0
        self.n_dropped = 0
        self.closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.n_dropped += 1
            self._frame = frame
            self.n_arrived += 1
            self._cond.notify_all()

    def take(self, timeout: float | None = None, *, poll: bool = False) -> Frame | None:
        """The newest frame (None when closed and empty, or on timeout).

        ``poll``: wait by polling the slot (a busy wait that gives up the GIL at every turn)
        instead of sleeping on the condition, so that the waiting thread's core is awake when the
        frame arrives. It costs that core while waiting (see ``LiveSession``'s ``busy_wait``).
        """
        end = None if timeout is None else time.perf_counter() + timeout
        if poll:
            while self._frame is None and not self.closed and (end is None or time.perf_counter() < end):
                time.sleep(0)  # reading the slot without the lock is safe: one reference
        with self._cond:
            while self._frame is None and not self.closed:
                left = None if end is None else end - time.perf_counter()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            f, self._frame = self._frame, None
            self._cond.notify_all()
            return f

    def wait_empty(self, stop: threading.Event) -> None:
        """Block until the slot is empty (for sources that must not drop: ``realtime=False``)."""
        with self._cond:
            while self._frame is not None and not self.closed and not stop.is_set():
                self._cond.wait(0.05)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
