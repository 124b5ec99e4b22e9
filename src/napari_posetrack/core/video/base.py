"""The reader interface shared by every video backend (media files, image folders)."""

from __future__ import annotations

import threading
from pathlib import Path
from collections.abc import Iterator, Sequence

import numpy as np

from ..dataset import VideoInfo
from ..errors import VideoError
from .cache import DEFAULT_CACHE_BYTES, FrameCache

__all__ = ["VideoReader"]


class VideoReader:
    """Random and sequential access to the frames of one video.

    Frames are ``uint8`` arrays of shape ``(height, width, channels)`` with ``channels`` 1
    (grey) or 3 (RGB). Frames served from :meth:`__getitem__` come from a shared LRU cache and
    are read-only; copy one before editing it in place.

    A reader is safe to use from several threads (calls are serialised by a lock), but a
    backend decodes in one thread at a time: for parallel reads, give each thread its own
    :meth:`clone` (they share the frame index and the cache). :func:`as_dask` does this.

    Subclasses implement :meth:`_read_uncached`, :meth:`_iter_uncached` and :meth:`clone`.

    Attributes
    ----------
    path : str
        The file or folder the frames come from.
    n_frames, height, width, channels : int
    fps : float
        Frames per second (0.0 when unknown, e.g. image folders).
    cache : FrameCache
    """

    kind = "video"

    def __init__(self, path, *, cache: FrameCache | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.path = str(path)
        self.cache = cache if cache is not None else FrameCache(cache_bytes)
        self._lock = threading.RLock()
        self._closed = False
        self.n_frames = 0
        self.height = 0
        self.width = 0
        self.channels = 0
        self.fps = 0.0

    # ------------------------------------------------------------------ array-like
    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(n_frames, height, width, channels)``."""
        return (self.n_frames, self.height, self.width, self.channels)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return 4

    @property
    def frame_nbytes(self) -> int:
        return self.height * self.width * self.channels

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, key):
        """``reader[i]`` -> ``(h, w, c)``; ``reader[a:b]``, ``reader[[i, j]]`` -> ``(n, h, w, c)``.

        A tuple key indexes frames with its first element and the frame axes with the rest
        (numpy semantics), so the reader works where an array is expected.
        """
        rest = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(key, (int, np.integer)):
            out = self.read_frame(int(key))
            return out[rest] if rest else out
        if isinstance(key, slice):
            indices = range(*key.indices(self.n_frames))
        else:
            indices = np.asarray(key)
            if indices.dtype == bool:
                indices = np.nonzero(indices)[0]
        out = self.read_frames(indices)
        return out[(slice(None), *rest)] if rest else out

    def _check_index(self, frame_idx: int) -> int:
        i = int(frame_idx)
        if i < 0:
            i += self.n_frames
        if not 0 <= i < self.n_frames:
            raise IndexError(
                f"Frame {frame_idx} is out of range for {self.path!r}, which has {self.n_frames} frames "
                f"(valid indices 0..{self.n_frames - 1})."
            )
        return i

    # ------------------------------------------------------------------ reading
    def read_frame(self, frame_idx: int) -> np.ndarray:
        """One frame ``(height, width, channels)`` uint8 (read-only, possibly cached)."""
        self._check_open()
        i = self._check_index(frame_idx)
        frame = self.cache.get(i)
        if frame is None:
            with self._lock:
                frame = self.cache.get(i)
                if frame is None:
                    frame = self.cache.put(i, self._read_uncached(i))
        self._after_read(i)
        return frame

    def read_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames ``(n, height, width, channels)`` uint8, in the order of ``indices``.

        Frames are decoded in increasing order whatever the order asked for, so nearby frames
        are decoded once, forward.
        """
        idx = np.asarray([self._check_index(i) for i in np.asarray(indices, np.int64).ravel()], np.int64)
        out = np.empty((len(idx), self.height, self.width, self.channels), np.uint8)
        if not len(idx):
            return out
        order = np.argsort(idx, kind="stable")
        last, last_frame = -1, None
        for pos in order:
            i = idx[pos]
            if i != last:
                last, last_frame = i, self.read_frame(i)
            out[pos] = last_frame
        return out

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Decode frames ``start..stop-1`` in order: yields ``(frame_idx, frame (h, w, c))``.

        This is the fast path for whole-video work (inference, rendering): one forward decode,
        no cache. It uses its own decoder, so random access on this reader can go on meanwhile.
        """
        self._check_open()
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        start = max(0, int(start))
        if start >= stop:
            return iter(())
        return self._iter_uncached(start, stop)

    # ------------------------------------------------------------------ for subclasses
    def _read_uncached(self, frame_idx: int) -> np.ndarray:
        raise NotImplementedError

    def _iter_uncached(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        for i in range(start, stop):
            yield i, self._read_uncached(i)

    def _after_read(self, frame_idx: int) -> None:
        """Hook called after each :meth:`read_frame` (read-ahead)."""

    def clone(self) -> VideoReader:
        """A new reader on the same source sharing the cache (for another thread)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifetime
    def _check_open(self) -> None:
        if self._closed:
            raise VideoError(
                f"The reader for {self.path!r} is closed.", path=self.path,
                hint="Open the video again with open_video()."
            )

    def close(self) -> None:
        """Release the file handles (idempotent)."""
        self._closed = True

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def info(self) -> VideoInfo:
        """A :class:`~napari_posetrack.core.dataset.VideoInfo` describing this video."""
        return VideoInfo(
            path=self.path,
            n_frames=self.n_frames,
            height=self.height,
            width=self.width,
            channels=self.channels,
            fps=self.fps,
            kind=self.kind,
        )

    def __repr__(self) -> str:
        name = Path(self.path).name
        return f"{type(self).__name__}({name!r}, shape={self.shape}, fps={self.fps:.3g})"
