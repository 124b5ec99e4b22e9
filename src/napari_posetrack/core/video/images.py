"""A folder (or list) of images read as a video, frames in natural sort order."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import VideoError
from .base import VideoReader
from .cache import DEFAULT_CACHE_BYTES, FrameCache

__all__ = ["ImageFolderReader", "IMAGE_SUFFIXES", "natural_key", "list_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    """Sort key that orders ``img2`` before ``img10`` (numbers compare as numbers)."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in _DIGITS.split(str(name))]


def list_images(folder) -> list[str]:
    """Image files directly inside ``folder``, naturally sorted."""
    folder = Path(folder)
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith(".")]
    return [str(folder / n) for n in sorted(names, key=natural_key)]


def _load(path: str) -> np.ndarray:
    """One image as ``(h, w, c)`` uint8 with c in {1, 3} (alpha dropped, 16-bit scaled)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("L", "RGB"):
                arr = np.asarray(im)
            elif mode in ("LA", "La"):
                arr = np.asarray(im.convert("L"))
            elif mode.startswith("I;16") or mode == "I":
                arr = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
            elif mode == "F":
                a = np.asarray(im, np.float32)
                arr = (np.clip(a, 0, 1) * 255 if a.max() <= 1.0 else np.clip(a, 0, 255)).astype(np.uint8)
            else:
                arr = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise VideoError(f"Image file not found: {path!r}.", path=path,
                         hint="Check the folder; was it moved?") from None
    except OSError as err:
        raise VideoError(
            f"Cannot read the image {path!r}: expected a PNG/JPEG/TIFF/BMP file, found unreadable data ({err}).",
            path=path,
            hint="Replace or remove the damaged image.",
        ) from None
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.ascontiguousarray(arr, dtype=np.uint8)


class ImageFolderReader(VideoReader):
    """Frames from image files: a folder (natural sort: ``img2`` before ``img10``) or a list.

    Channels follow the first image: 1 for greyscale files, 3 for colour (alpha dropped).

    Parameters
    ----------
    source : str, Path or sequence of paths
        A folder of images, or the image files in frame order.
    cache_bytes : int
        Size of the LRU frame cache.

    Raises
    ------
    VideoError
        Missing folder, no image inside, unreadable image, or images of different sizes.
    """

    kind = "images"

    def __init__(self, source, *, cache_bytes: int = DEFAULT_CACHE_BYTES, _cache: FrameCache | None = None):
        if isinstance(source, (str, os.PathLike)):
            folder = str(source)
            if not os.path.exists(folder):
                raise VideoError(f"Image folder not found: {folder!r}.", path=folder, hint="Check the path.")
            files = list_images(folder)
            if not files:
                raise VideoError(
                    f"Image folder {folder!r} holds no image: expected {', '.join(IMAGE_SUFFIXES)} files, "
                    f"found {len(os.listdir(folder))} other entries.",
                    path=folder,
                    hint="Point to the folder that contains the frames, or extract frames from the video first.",
                )
        else:
            files = [str(p) for p in source]
            if not files:
                raise VideoError("An empty list of images was given.", hint="Give at least one image path.")
            folder = str(Path(files[0]).parent)
        super().__init__(folder, cache=_cache, cache_bytes=cache_bytes)
        self.image_paths: list[str] = files
        first = _load(files[0])
        self.n_frames = len(files)
        self.height, self.width, self.channels = first.shape
        self.cache.put(0, first)

    def _read_uncached(self, frame_idx: int) -> np.ndarray:
        path = self.image_paths[frame_idx]
        arr = _load(path)
        if arr.shape[:2] != (self.height, self.width):
            raise VideoError(
                f"Image {path!r} is {arr.shape[1]}x{arr.shape[0]} but the first image of the sequence is "
                f"{self.width}x{self.height}; all frames must have the same size.",
                path=path,
                hint="Resize or remove the odd image.",
            )
        if arr.shape[2] != self.channels:
            arr = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr.mean(axis=2, keepdims=True).astype(np.uint8)
        return arr

    def clone(self) -> ImageFolderReader:
        reader = ImageFolderReader.__new__(ImageFolderReader)
        VideoReader.__init__(reader, self.path, cache=self.cache)
        reader.image_paths = self.image_paths
        reader.n_frames, reader.height, reader.width, reader.channels = self.shape
        return reader

    def info(self):
        info = super().info()
        info.image_paths = list(self.image_paths)
        return info
