"""Write H.264 videos with PyAV (no ffmpeg command needed): synthetic clips, re-encoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import VideoError

__all__ = ["VideoWriter"]


class VideoWriter:
    """Encode frames into an H.264 MP4 with a constant frame rate and a fixed keyframe interval.

    Parameters
    ----------
    path : str or Path
        Output file (``.mp4``, ``.mkv``, ``.mov``, ``.avi``).
    fps : float
        Frames per second (constant: frame ``i`` gets ``pts = i``).
    gop : int
        Keyframe interval (a keyframe exactly every ``gop`` frames, no scene-cut keyframes).
    crf : int
        x264 constant rate factor (0 = lossless, 18 = visually lossless, 23 = default).
    preset : str
        x264 speed preset (``ultrafast`` ... ``veryslow``).
    pix_fmt : str
        ``yuv420p`` plays everywhere (needs even width and height; odd sizes switch to ``yuv444p``).
    bframes : int or None
        Number of B-frames (None: the preset's default).
    faststart : bool
        Put the MP4 index (``moov`` box) at the start of the file (for streaming; a
        truncated copy of such a file still opens).

    Examples
    --------
    >>> with VideoWriter("out.mp4", fps=30, gop=30) as w:  # doctest: +SKIP
    ...     for frame in frames:  # (h, w, 3) or (h, w, 1) uint8
    ...         w.write(frame)
    """

    def __init__(self, path, *, fps: float = 30.0, gop: int = 30, crf: int = 18, preset: str = "veryfast",
                 pix_fmt: str = "yuv420p", bframes: int | None = None, threads: int = 0,
                 faststart: bool = False):
        import av

        self.path = Path(path)
        self.fps = fps
        self.gop = int(gop)
        self._crf, self._preset, self._pix_fmt, self._bframes, self._threads = crf, preset, pix_fmt, bframes, threads
        options = {"movflags": "+faststart"} if faststart else {}
        self._container = av.open(str(self.path), mode="w", options=options)
        self._stream = None
        self.n_written = 0

    def _open_stream(self, height: int, width: int) -> None:
        pix_fmt = self._pix_fmt
        if pix_fmt == "yuv420p" and (height % 2 or width % 2):
            pix_fmt = "yuv444p"
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = Fraction(1, 1) / rate
        params = f"keyint={self.gop}:min-keyint={self.gop}:scenecut=0"
        if self._bframes is not None:
            params += f":bframes={int(self._bframes)}"
        stream.options = {"crf": str(self._crf), "preset": self._preset, "x264-params": params}
        stream.codec_context.gop_size = self.gop
        stream.codec_context.thread_count = self._threads
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        """Append one frame ``(h, w)``, ``(h, w, 1)`` or ``(h, w, 3)`` uint8."""
        import av

        frame = np.asarray(frame)
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[..., 0]
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
            raise VideoError(
                f"Expected a uint8 frame of shape (h, w), (h, w, 1) or (h, w, 3), got {frame.dtype} {frame.shape}.",
                path=self.path,
                hint="Convert frames with np.clip(x, 0, 255).astype(np.uint8).",
            )
        if self._stream is None:
            self._open_stream(*frame.shape[:2])
        fmt = "gray" if frame.ndim == 2 else "rgb24"
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt)
        vf.pts = self.n_written
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.n_written += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self._container is None:
            return
        if self._stream is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
