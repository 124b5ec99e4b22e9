"""Frame-accurate video reading: media files (PyAV), image folders, lazy dask arrays.

>>> from napari_posetrack.core.video import open_video, as_dask, probe_video
>>> with open_video("two_flies.mp4") as video:  # doctest: +SKIP
...     frame = video[40]                    # (1024, 1024, 1) uint8, grey
...     for i, f in video.iter_frames(0, 10):  # fast sequential decode
...         ...
>>> stack = as_dask("two_flies.mp4")          # doctest: +SKIP  (128, 1024, 1024, 1), lazy
>>> probe_video("two_flies.mp4")["seek_ok"]   # doctest: +SKIP
True

Backends are chosen by a small registry (:data:`READERS`): the first whose predicate accepts
the source opens it.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import VideoError
from .base import VideoReader
from .cache import DEFAULT_CACHE_BYTES, FrameCache
from .dask import as_dask
from .images import IMAGE_SUFFIXES, ImageFolderReader, list_images, natural_key
from .probe import probe_video, reencode_video, seek_self_test
from .pyav import VIDEO_SUFFIXES, PyAVReader
from .writer import VideoWriter

__all__ = [
    "open_video",
    "read_frames",
    "VideoReader",
    "PyAVReader",
    "ImageFolderReader",
    "FrameCache",
    "VideoWriter",
    "as_dask",
    "probe_video",
    "seek_self_test",
    "reencode_video",
    "list_images",
    "natural_key",
    "is_video_path",
    "READERS",
    "VIDEO_SUFFIXES",
    "IMAGE_SUFFIXES",
    "DEFAULT_CACHE_BYTES",
]


def _is_images(source) -> bool:
    if isinstance(source, (list, tuple)):
        return True
    p = str(source)
    return os.path.isdir(p) or p.lower().endswith(IMAGE_SUFFIXES)


def _open_images(source, **kwargs) -> VideoReader:
    kwargs = {k: v for k, v in kwargs.items() if k == "cache_bytes"}
    if isinstance(source, (str, os.PathLike)) and not os.path.isdir(source):
        source = [source]
    return ImageFolderReader(source, **kwargs)


#: (predicate(source) -> bool, opener(source, **kwargs) -> VideoReader); first match wins
READERS: list[tuple[Callable, Callable]] = [
    (_is_images, _open_images),
    (lambda source: True, PyAVReader),
]


def is_video_path(path) -> bool:
    """True for a media file suffix we read (``.mp4``, ``.avi``, ...) or an image folder."""
    p = str(path)
    return p.lower().endswith(VIDEO_SUFFIXES) or (os.path.isdir(p) and bool(list_images(p)))


def open_video(source, **kwargs) -> VideoReader:
    """Open a media file, an image folder or a list of image files.

    Parameters
    ----------
    source : str, Path or sequence of paths
    **kwargs
        Passed to the backend: ``cache_bytes``, and for media files ``read_ahead``,
        ``grayscale``, ``index``, ``threads`` (see :class:`PyAVReader`).

    Returns
    -------
    VideoReader
        ``reader[i]`` is frame ``i`` as ``(height, width, channels)`` uint8.

    Raises
    ------
    VideoError
        Missing, empty, truncated or corrupt file; unsupported codec; empty image folder.
    """
    if isinstance(source, (str, os.PathLike)):
        source = str(Path(source).expanduser())
    for accepts, opener in READERS:
        if accepts(source):
            return opener(source, **kwargs)
    raise VideoError(f"No video backend accepts {source!r}.", path=source, hint="Use a media file or image folder.")


def read_frames(source, indices: Sequence[int], **kwargs) -> np.ndarray:
    """Frames ``(n, height, width, channels)`` uint8 from a path or an open reader."""
    if isinstance(source, VideoReader):
        return source.read_frames(indices)
    with open_video(source, **kwargs) as reader:
        return reader.read_frames(indices)
