"""Videos in a store: probing files for their shape, and a reader for embedded frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import VideoInfo
from ..errors import VideoError

__all__ = ["probe_info", "EmbeddedVideoReader", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


def _image_files(folder: Path) -> list[Path]:
    import re

    def natural(p: Path):
        return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]

    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=natural)


def _probe_with_video_module(path: Path) -> dict | None:
    """Shape and fps from :mod:`core.video` (builds the frame index, decodes no frame)."""
    try:
        from ..video import open_video
    except ImportError:
        return None
    with open_video(path) as r:
        return {"n_frames": r.n_frames, "height": r.height, "width": r.width, "channels": r.channels,
                "fps": float(r.fps or 0.0)}


def _probe_with_pyav(path: Path) -> dict:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise VideoError(f"{path} has no video stream.", path=path, hint="Pass a video file.")
            s = c.streams.video[0]
            n = int(s.frames or 0)
            fps = float(s.average_rate or s.guessed_rate or 0.0)
            if n == 0 and s.duration and s.time_base and fps:
                n = int(round(float(s.duration * s.time_base) * fps))
            cc = s.codec_context
            fmt = (cc.pix_fmt or "") if cc is not None else ""
            channels = 1 if fmt.startswith("gray") else 3
            return {"n_frames": n, "height": int(s.height), "width": int(s.width), "channels": channels, "fps": fps}
    except VideoError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many kinds
        raise VideoError(
            f"Cannot read the video {path}: {exc}.",
            path=path,
            hint="Check that the file is a complete video; re-encode it with "
                 "`ffmpeg -i IN -c:v libx264 -g 30 OUT.mp4` if it is damaged.",
        ) from None


def _probe_images(folder: Path, files: list[Path]) -> dict:
    if not files:
        raise VideoError(
            f"The folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).",
            path=folder, hint="Pass a folder of frames or a video file.",
        )
    d = _probe_with_video_module(folder)
    if d is not None:
        return d
    from skimage.io import imread

    img = imread(str(files[0]))
    h, w = img.shape[:2]
    c = 1 if img.ndim == 2 else img.shape[2]
    return {"n_frames": len(files), "height": h, "width": w, "channels": c, "fps": 0.0}


def probe_info(path) -> VideoInfo:
    """A :class:`VideoInfo` (absolute path, shape, fps, kind) for a video file or image folder.

    Uses :func:`napari_posetrack.core.video.probe_video` when available, PyAV otherwise.

    Raises
    ------
    VideoError
        If the file is missing or cannot be decoded.
    """
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise VideoError(f"The video {p} does not exist.", path=p, hint="Check the path.")
    if p.is_dir():
        files = _image_files(p)
        d = _probe_images(p, files)
        return VideoInfo(path=str(p), kind="images", image_paths=[str(f) for f in files], **d)
    d = _probe_with_video_module(p)
    if d is None:
        d = _probe_with_pyav(p)
    return VideoInfo(
        path=str(p),
        n_frames=int(d.get("n_frames", 0)),
        height=int(d.get("height", 0)),
        width=int(d.get("width", 0)),
        channels=int(d.get("channels", 0)),
        fps=float(d.get("fps", 0.0) or 0.0),
        kind="video",
    )


class EmbeddedVideoReader:
    """Reader over frames embedded in the store (from a ``.pkg.slp``), same interface as
    :class:`napari_posetrack.core.video.VideoReader`.

    Only the embedded frames exist; asking for another frame raises :class:`VideoError`.

    Parameters
    ----------
    images : array-like (M, H, W, C) uint8
        Embedded frames (a zarr array: read lazily).
    frame_idx : ndarray (M,)
        Video frame index of each embedded image.
    n_frames : int
        Frame count of the original video (at least ``frame_idx.max() + 1``).
    """

    def __init__(self, images, frame_idx, *, n_frames: int = 0, fps: float = 0.0, path: str = ""):
        self._images = images
        self.frame_idx = np.asarray(frame_idx, np.int64)
        self._pos = {int(f): i for i, f in enumerate(self.frame_idx)}
        m, h, w, c = images.shape
        last = int(self.frame_idx.max()) + 1 if len(self.frame_idx) else 0
        self.n_frames = max(int(n_frames), last)
        self.shape = (self.n_frames, int(h), int(w), int(c))
        self.fps = float(fps)
        self.path = path

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, i: int) -> np.ndarray:
        i = int(i)
        if i < 0:
            i += self.n_frames
        if i not in self._pos:
            raise VideoError(
                f"Frame {i} is not embedded in this project (embedded frames: {len(self._pos)}).",
                path=self.path, hint="Relink the original video to see every frame.",
            )
        return np.asarray(self._images[self._pos[i]])

    def read_frames(self, indices) -> np.ndarray:
        return np.stack([self[i] for i in indices]) if len(indices) else np.zeros((0,) + self.shape[1:], np.uint8)

    def iter_frames(self, start: int = 0, stop: int | None = None):
        stop = self.n_frames if stop is None else stop
        for f in self.frame_idx:
            if start <= f < stop:
                yield int(f), self[int(f)]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
