"""Read-ahead for forward scrubbing: a background thread decodes the next frames into the cache.

When frame ``i`` is read right after ``i - 1``, the reader asks the worker for frames
``i + 1 .. i + n``. The worker has its own decoder (containers are not thread-safe) and puts
frames into the cache the reader shares; a read of a frame the worker is about to produce
waits for it instead of decoding it twice. The worker exits after 30 s without requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["ReadAhead"]


class ReadAhead:
    """Background thread that decodes frames ahead of a forward scrub into the shared cache."""

    def __init__(self, make_reader: Callable, shared, name: str = ""):
        self._make_reader = make_reader
        self._shared = shared
        self._cond = threading.Condition()
        self._range = (0, 0)
        self._busy = -1
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"posetrack-readahead-{name}", daemon=True)
        self._thread.start()

    def request(self, start: int, stop: int) -> None:
        with self._cond:
            self._range = (start, stop)
            self._cond.notify()

    def will_decode(self, frame_idx: int) -> bool:
        if not self._thread.is_alive():
            return False
        start, stop = self._range
        return start <= frame_idx < stop or frame_idx == self._busy

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    def _run(self) -> None:
        reader = None
        try:
            reader = self._make_reader()
            cache = self._shared.cache
            while True:
                with self._cond:
                    while not self._stop and self._range[0] >= self._range[1]:
                        if not self._cond.wait(timeout=30.0):
                            self._stop = True  # idle: let the thread and its decoder go
                    if self._stop:
                        return
                    i = self._range[0]
                    self._range = (i + 1, self._range[1])
                    self._busy = i
                if i not in cache:
                    cache.put(i, reader._read_uncached(i))
                self._busy = -1
        except Exception:
            with self._cond:
                self._range = (0, 0)
        finally:
            with self._shared.lock:
                if self._shared.worker is self:
                    self._shared.worker = None
            if reader is not None:
                reader.close()
