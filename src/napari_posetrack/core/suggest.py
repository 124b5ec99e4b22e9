"""Frame selection for labeling: uniform, random, and k-means on thumbnails (headless).

k-means is streamed: frames are decoded in order with ``VideoReader.iter_frames``, reduced to
small grey thumbnails, and at most ``max_samples`` of them are kept (uint8, a few MB), so a
long video needs little memory. PCA (SVD of the centred thumbnails) then k-means
(``scipy.cluster.vq.kmeans2``) pick one frame per cluster: the frame closest to the centre.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator

import numpy as np

from .errors import ConfigError
from .progress import CancelToken, ProgressEvent

__all__ = [
    "METHODS",
    "suggest_uniform",
    "suggest_random",
    "thumbnail",
    "iter_suggest_kmeans",
    "iter_suggest_frames",
    "merge_suggestions",
    "parse_range",
]

METHODS = ("uniform", "random", "kmeans")


def _bounds(n_frames: int, start: int | None, stop: int | None) -> tuple[int, int]:
    start = 0 if start is None else max(0, int(start))
    stop = n_frames if stop is None or n_frames and stop > n_frames else int(stop)
    if stop <= start:
        raise ConfigError(
            f"Frame range {start}:{stop} is empty (the video has {n_frames} frames).",
            hint="Give --range A:B with A < B inside the video.",
        )
    return start, stop


def parse_range(text: str | None) -> tuple[int | None, int | None]:
    """``"A:B"`` -> (A, B); empty parts are None."""
    if not text:
        return None, None
    try:
        a, b = text.split(":")
        return (int(a) if a else None), (int(b) if b else None)
    except ValueError:
        raise ConfigError(f"Cannot read the frame range {text!r}.",
                          hint="Write it as START:STOP, e.g. 100:2000.") from None


def suggest_uniform(n_frames: int, n: int, start: int | None = None, stop: int | None = None) -> np.ndarray:
    """``n`` evenly spaced frame indices in ``[start, stop)`` (sorted, unique)."""
    start, stop = _bounds(n_frames, start, stop)
    n = min(int(n), stop - start)
    step = (stop - start) / n
    return np.unique((start + step * (np.arange(n) + 0.5)).astype(np.int64))


def suggest_random(n_frames: int, n: int, start: int | None = None, stop: int | None = None,
                   seed: int | None = 0) -> np.ndarray:
    """``n`` distinct random frame indices in ``[start, stop)`` (sorted)."""
    start, stop = _bounds(n_frames, start, stop)
    n = min(int(n), stop - start)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.arange(start, stop), size=n, replace=False)).astype(np.int64)


def thumbnail(frame: np.ndarray, size: int = 32) -> np.ndarray:
    """Grey thumbnail (size, size) uint8 of a frame (h, w[, c]) by block averaging."""
    f = np.asarray(frame)
    if f.ndim == 3:
        f = f.mean(-1)
    h, w = f.shape
    by, bx = max(1, h // size), max(1, w // size)
    f = f[: by * size, : bx * size] if h >= size and w >= size else f
    if h >= size and w >= size:
        f = f.reshape(size, by, size, bx).mean((1, 3))
    else:  # tiny frames: nearest-neighbour up-sampling
        yi = (np.arange(size) * h // size).clip(0, h - 1)
        xi = (np.arange(size) * w // size).clip(0, w - 1)
        f = f[np.ix_(yi, xi)]
    return f.astype(np.uint8)


def iter_suggest_kmeans(reader, n: int, start: int | None = None, stop: int | None = None, *,
                        thumb_size: int = 32, max_samples: int = 4000, n_components: int = 16,
                        seed: int | None = 0, cancel: CancelToken | None = None
                        ) -> Generator[ProgressEvent, None, np.ndarray]:
    """k-means frame selection; a generator of progress events that returns the frame indices.

    Parameters
    ----------
    reader : VideoReader
        Anything with ``n_frames`` and ``iter_frames(start, stop)``.
    n : int
        Number of clusters (frames to return).
    max_samples : int
        At most this many frames (evenly strided) are clustered.

    Returns
    -------
    ndarray (<= n,) int64
        Sorted frame indices, one per non-empty cluster.
    """
    from scipy.cluster.vq import kmeans2

    start, stop = _bounds(int(reader.n_frames), start, stop)
    stride = max(1, math.ceil((stop - start) / max_samples))
    keep_idx, thumbs = [], []
    total = stop - start
    for done, (i, frame) in enumerate(reader.iter_frames(start, stop)):
        if (i - start) % stride == 0:
            keep_idx.append(int(i))
            thumbs.append(thumbnail(frame, thumb_size).ravel())
        if done % 200 == 0:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield ProgressEvent("thumbnails", done, total, message=f"frame {i}")
    frames = np.asarray(keep_idx, np.int64)
    if len(frames) <= n:
        return frames
    x = np.asarray(thumbs, np.float32)
    del thumbs
    x -= x.mean(0)
    x /= x.std() + 1e-6
    yield ProgressEvent("pca", 0, 1, message=f"PCA of {len(x)} thumbnails")
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    feats = x @ vt[: min(n_components, vt.shape[0])].T
    yield ProgressEvent("kmeans", 0, 1, message=f"k-means with {n} clusters")
    rng = np.random.default_rng(seed)
    centers, lab = kmeans2(feats, int(n), minit="++", seed=rng)
    picks = []
    for c in range(len(centers)):
        members = np.flatnonzero(lab == c)
        if len(members):
            d = np.linalg.norm(feats[members] - centers[c], axis=1)
            picks.append(frames[members[np.argmin(d)]])
    yield ProgressEvent("kmeans", 1, 1)
    return np.unique(np.asarray(picks, np.int64))


def iter_suggest_frames(dataset, method: str, n: int, *, video_ids=None, start: int | None = None,
                        stop: int | None = None, seed: int | None = 0,
                        open_reader: Callable[[int], object] | None = None,
                        cancel: CancelToken | None = None, **kmeans_kw
                        ) -> Generator[ProgressEvent, None, np.ndarray]:
    """Suggest ``n`` frames per video; returns (M, 2) int64 ``[video_id, frame_idx]``.

    ``open_reader(video_id)`` gives a VideoReader (needed only for ``"kmeans"``; e.g.
    ``store.open_video``).
    """
    if method not in METHODS:
        raise ConfigError(f"Unknown frame selection method {method!r}.", hint=f"Use one of {METHODS}.")
    if n < 1:
        raise ConfigError(f"Asked for {n} frames.", hint="Ask for at least 1 frame.")
    vids = range(len(dataset.videos)) if video_ids is None else [int(v) for v in video_ids]
    out = []
    for vid in vids:
        if not (0 <= vid < len(dataset.videos)):
            raise ConfigError(f"Video {vid} does not exist; the project has {len(dataset.videos)} video(s).",
                              hint="Pass --video with an index from `posetrack info`.")
        nf = int(dataset.videos[vid].n_frames)
        if method == "uniform":
            f = suggest_uniform(nf, n, start, stop)
        elif method == "random":
            f = suggest_random(nf, n, start, stop, seed)
        else:
            if open_reader is None:
                raise ConfigError("k-means frame selection needs the video frames.", hint="Open the project store.")
            reader = open_reader(vid)
            try:
                f = yield from iter_suggest_kmeans(reader, n, start, stop, seed=seed, cancel=cancel, **kmeans_kw)
            finally:
                close = getattr(reader, "close", None)
                if close:
                    close()
        out.append(np.column_stack([np.full(len(f), vid, np.int64), f]))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def merge_suggestions(existing: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Union of two (M, 2) suggestion arrays, sorted by (video_id, frame_idx)."""
    both = np.concatenate([np.asarray(existing, np.int64).reshape(-1, 2), np.asarray(new, np.int64).reshape(-1, 2)])
    return np.unique(both, axis=0) if len(both) else both
