"""A thread-safe LRU cache of decoded frames, bounded by bytes.

Readers share one cache between their per-thread clones and their read-ahead worker, so a
frame decoded by any of them is served to all. Cached arrays are made read-only: a caller
that wants to edit a frame copies it first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["FrameCache", "DEFAULT_CACHE_BYTES"]

#: default cache size: 256 MiB (about 40 colour 1080p frames, 250 grey 1024x1024 frames)
DEFAULT_CACHE_BYTES = 256 * 2**20


class FrameCache:
    """Least-recently-used frame cache bounded by the total size of the frames it holds.

    Parameters
    ----------
    max_bytes : int
        Upper bound on the summed ``nbytes`` of the cached frames. 0 disables the cache.

    Attributes
    ----------
    hits, misses : int
        Lookup counters (for tests and benchmarks).
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = int(max_bytes)
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self._added = threading.Condition(self._lock)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, frame_idx: int) -> bool:
        return int(frame_idx) in self._frames

    @property
    def nbytes(self) -> int:
        """Summed size of the cached frames in bytes."""
        return self._nbytes

    def keys(self) -> list[int]:
        """Cached frame indices, least recently used first."""
        with self._lock:
            return list(self._frames)

    def get(self, frame_idx: int) -> np.ndarray | None:
        """The cached frame ``(h, w, c)`` (read-only) or None; marks it most recently used."""
        key = int(frame_idx)
        with self._lock:
            frame = self._frames.get(key)
            if frame is None:
                self.misses += 1
                return None
            self._frames.move_to_end(key)
            self.hits += 1
            return frame

    def put(self, frame_idx: int, frame: np.ndarray) -> np.ndarray:
        """Store a frame (made read-only) and evict the least recently used ones over budget.

        Returns the stored (read-only) array.
        """
        frame.flags.writeable = False
        if frame.nbytes > self.max_bytes:
            return frame
        key = int(frame_idx)
        with self._lock:
            old = self._frames.pop(key, None)
            if old is not None:
                self._nbytes -= old.nbytes
            self._frames[key] = frame
            self._nbytes += frame.nbytes
            while self._nbytes > self.max_bytes and self._frames:
                _, dropped = self._frames.popitem(last=False)
                self._nbytes -= dropped.nbytes
            self._added.notify_all()
        return frame

    def wait_for(self, frame_idx: int, timeout: float) -> np.ndarray | None:
        """Wait up to ``timeout`` seconds for another thread to cache ``frame_idx``."""
        key = int(frame_idx)
        with self._lock:
            if key not in self._frames:
                self._added.wait_for(lambda: key in self._frames, timeout=timeout)
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
                self.hits += 1
            return frame

    def clear(self) -> None:
        """Drop every cached frame."""
        with self._lock:
            self._frames.clear()
            self._nbytes = 0
