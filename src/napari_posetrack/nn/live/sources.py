"""Live frame sources, in a registry: a camera, a network stream, a video file replayed as a camera.

A source runs its own grabber thread and hands each frame to a :class:`LatestFrame` slot.
The slot holds one frame only: a frame that arrives before the previous one was taken
replaces it, and the replaced frame is counted as dropped. Frames are never queued, so the
predictor always gets the newest frame.

>>> src = open_source("flies.mp4", realtime=True)      # a file replayed at its frame rate
>>> src = open_source("camera:0")                      # /dev/video0 (v4l2), avfoundation, dshow
>>> src = open_source("rtsp://10.0.0.5/stream")        # a network stream (reconnects on a drop)

:data:`SOURCES` maps a kind to its class; :func:`register_source` adds one.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ...core.errors import ConfigError, VideoError
from ...core.registry import Registry
from .slot import Frame, LatestFrame

__all__ = ["SOURCES", "register_source", "open_source", "FrameSource", "LatestFrame", "Frame", "VideoFileSource",
           "CameraSource", "StreamSource", "ArraySource", "camera_format", "replay_threads"]

log = logging.getLogger(__name__)

#: kind -> FrameSource subclass
SOURCES: Registry = Registry("live source")  # a taken kind is refused


def register_source(kind: str):
    """Class decorator adding a :class:`FrameSource` to :data:`SOURCES` under ``kind``."""

    def deco(cls):
        SOURCES[kind] = cls
        cls.kind = kind
        return cls

    return deco


class FrameSource:
    """Base class: subclasses implement :meth:`_open` and :meth:`_frames` (a generator of images).

    Attributes
    ----------
    name : str
        How the source is named in messages.
    fps : float
        Nominal frame rate (0 when unknown).
    realtime : bool
        Frames arrive on their own clock and are dropped when the predictor is busy. A
        non-realtime source (a file replayed as fast as possible) waits for each frame to be
        taken instead, so nothing is dropped.
    error : str or None
        Why the source stopped early (a drop that could not be reconnected, a decode error).
    """

    kind = ""
    realtime = True

    def __init__(self, name: str, *, gray: bool = False):
        self.name = str(name)
        self.gray = bool(gray)
        self.fps = 0.0
        self.size = (0, 0)
        self.error: str | None = None
        self.slot = LatestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.n_reconnects = 0
        #: optional callable(Frame), called in the grabber thread for every arriving frame (recording)
        self.on_frame = None
        self._opened = False

    # -- to implement
    def _open(self) -> None:
        """Open the device/file (raise VideoError naming the source when it cannot)."""

    def _frames(self):
        """Yield uint8 images (H, W, C) until the source ends or ``self._stop`` is set."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the device/file."""

    # -- running
    def open(self) -> FrameSource:
        """Open the device/file once (a second call is a no-op)."""
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def start(self) -> FrameSource:
        """Open (if needed) and start the grabber thread."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._grab, name=f"posetrack-live-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def _grab(self) -> None:
        i = 0
        try:
            for img in self._frames():
                if self._stop.is_set():
                    break
                if not self.realtime:
                    self.slot.wait_empty(self._stop)
                    if self._stop.is_set():
                        break
                frame = Frame(img, i, time.perf_counter())
                self.slot.put(frame)
                if self.on_frame is not None:
                    self.on_frame(frame)
                i += 1
        except Exception as exc:  # noqa: BLE001 - recorded, the loop stops cleanly
            self.error = f"{self.name}: {exc}"
            log.warning("live source %s stopped: %s", self.name, exc)
        finally:
            self._close()
            self.slot.close()

    def stop(self) -> None:
        """Stop grabbing and release the device/file (also when the grabber never started)."""
        self._stop.set()
        self.slot.close()
        if self._thread is None:
            self._close()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    @property
    def n_arrived(self) -> int:
        return self.slot.n_arrived

    @property
    def n_dropped(self) -> int:
        return self.slot.n_dropped

    def _to_array(self, vf) -> np.ndarray:
        if self.gray:
            return vf.to_ndarray(format="gray")[..., None]
        return vf.to_ndarray(format="rgb24")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _pace(t0: float, i: int, fps: float, stop: threading.Event) -> None:
    """Sleep until frame ``i``'s time on a ``fps`` clock started at ``t0``."""
    if fps <= 0:
        return
    delay = t0 + i / fps - time.perf_counter()
    if delay > 0:
        stop.wait(delay)


#: pixels per second above which a replayed file keeps FFmpeg's frame threads (see :func:`replay_threads`)
REPLAY_SLICE_MAX_RATE = 100e6


def replay_threads(size, fps: float) -> str:
    """FFmpeg thread type for a file replayed as a camera: ``"SLICE"``, as the camera and stream sources
    decode (nothing is decoded ahead while the predictor works on a frame), unless the video has more
    than :data:`REPLAY_SLICE_MAX_RATE` pixels per second (4K at 30 fps), where one decoding thread might
    not keep up with the frame rate and frame threads (``"AUTO"``) are kept.

    Measured on the development machine (docs/live.md, eleventh session): the 192x192 network's p99
    latency on the replayed 1024x1024 fly video was 9.5 ms on average over ten 30-s runs when each
    frame was decoded when due with one thread, against 10.3 ms with frame threads decoding ahead.
    """
    h, w = (int(size[0]), int(size[1])) if size else (0, 0)
    return "AUTO" if h * w * float(fps or 0) > REPLAY_SLICE_MAX_RATE else "SLICE"


@register_source("file")
class VideoFileSource(FrameSource):
    """A video file replayed as a simulated camera.

    ``realtime=True``: frames are decoded and released at the file's frame rate (``fps``
    overrides it) and dropped when the predictor is busy, as from a camera (see
    :func:`replay_threads`). ``realtime=False``: every frame, as
    fast as the predictor takes them (rehearsal, tests). ``loop`` replays the file forever.
    """

    def __init__(self, path, *, realtime: bool = True, fps: float | None = None, loop: bool = False,
                 gray: bool = False, max_frames: int | None = None):
        super().__init__(str(path), gray=gray)
        self.path = Path(path)
        self.realtime = bool(realtime)
        self._fps = fps
        self.loop = bool(loop)
        self.max_frames = max_frames

    def _open(self) -> None:
        import av

        if not self.path.is_file():
            raise VideoError(f"Live source {self.name}: the file does not exist.", path=self.path,
                             hint="Check the --source path.")
        try:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                rate = s.average_rate or s.base_rate or s.guessed_rate
                self.fps = float(self._fps or (float(rate) if rate else 0.0) or 30.0)
                self.size = (int(s.codec_context.height), int(s.codec_context.width))
        except (av.error.FFmpegError, IndexError) as exc:
            raise VideoError(f"Live source {self.name} cannot be opened as a video: {exc}", path=self.path,
                             hint="Pass a video file PyAV can decode (mp4, avi, mkv...).") from None

    def _frames(self):
        import av

        n = 0
        t0 = time.perf_counter()
        while True:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                s.thread_type = replay_threads(self.size, self.fps) if self.realtime else "AUTO"
                frames = c.decode(s)
                while True:
                    if self._stop.is_set() or (self.max_frames is not None and n >= self.max_frames):
                        return
                    if self.realtime:  # decoded when due, as a camera delivers it: no decoding meanwhile
                        _pace(t0, n, self.fps, self._stop)
                    vf = next(frames, None)
                    if vf is None:
                        break
                    yield self._to_array(vf)
                    n += 1
            if not self.loop or n == 0:
                return


def camera_format(platform: str | None = None) -> str:
    """FFmpeg input format for cameras on this OS: v4l2 (Linux), avfoundation (macOS), dshow (Windows)."""
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return "v4l2"
    if platform == "darwin":
        return "avfoundation"
    if platform.startswith("win"):
        return "dshow"
    raise ConfigError(f"No known camera input format for platform {platform!r}.",
                      hint="Pass format= (an FFmpeg input device format) explicitly.")


class _PyAVLive(FrameSource):
    """Shared PyAV grabbing for cameras and streams (decoded in the grabber thread)."""

    def __init__(self, url: str, *, format: str | None = None, options: dict | None = None, gray: bool = False,
                 reconnect: int = 0, timeout: float = 5.0, name: str | None = None):
        super().__init__(name or url, gray=gray)
        self.url = url
        self.format = format
        self.options = {k: str(v) for k, v in (options or {}).items()}
        self.reconnect = int(reconnect)
        self.timeout = float(timeout)
        self._container = None

    def _connect(self):
        import av

        try:
            return av.open(self.url, format=self.format, options=self.options, timeout=self.timeout)
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoError(f"Live source {self.name} cannot be opened ({type(exc).__name__}: {exc}).",
                             path=self.url, hint=self._hint()) from None

    def _hint(self) -> str:
        return "Check the address, that the sender is running and that nothing else holds the device."

    def _open(self) -> None:
        self._container = self._connect()
        s = self._container.streams.video[0]
        rate = s.average_rate or s.base_rate or s.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self.size = (int(s.codec_context.height), int(s.codec_context.width))

    def _frames(self):
        import av

        attempts = 0
        while not self._stop.is_set():
            if self._container is None:
                try:
                    self._container = self._connect()
                except VideoError as exc:
                    why = str(exc).split("\n")[0]
                    if attempts >= self.reconnect:
                        self.error = f"{why}; gave up after {self.reconnect} reconnect attempt(s)"
                        return
                    attempts += 1
                    self.n_reconnects += 1
                    self._stop.wait(min(2.0, 0.2 * attempts))
                    continue
            c = self._container
            try:
                s = c.streams.video[0]
                # slice threads, not frame threads: FFmpeg's frame threading holds back (threads - 1) frames
                # (measured on the fly clip: 2 more packets in before each frame out, 80 ms at 25 fps),
                # a delay before "arrival" that no latency figure would show
                s.thread_type = "SLICE"
                for vf in c.decode(s):
                    if self._stop.is_set():
                        return
                    attempts = 0
                    yield self._to_array(vf)
                why = "the stream ended"
            except av.error.FFmpegError as exc:
                why = f"the stream broke ({exc})"
            finally:
                c.close()
                self._container = None
            if self._stop.is_set():
                return
            if attempts >= self.reconnect:
                if self.reconnect or self.kind == "stream":
                    self.error = f"{self.name}: {why}" + (
                        f"; gave up after {self.reconnect} reconnect attempt(s)" if self.reconnect else "")
                return
            attempts += 1
            self.n_reconnects += 1
            log.warning("live source %s: %s; reconnecting (%d/%d)", self.name, why, attempts, self.reconnect)
            self._stop.wait(min(2.0, 0.2 * attempts))

    def _close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


@register_source("camera")
class CameraSource(_PyAVLive):
    """A camera through PyAV's device formats (v4l2 on Linux, avfoundation on macOS, dshow on Windows).

    ``device``: ``0`` or ``"/dev/video0"`` (Linux), ``"0"`` (macOS), ``"video=My Camera"``
    (Windows). ``fps`` and ``size`` (height, width) are asked of the driver when given.
    """

    def __init__(self, device="0", *, format: str | None = None, fps: float | None = None, size=None,
                 gray: bool = False, options: dict | None = None, reconnect: int = 0, timeout: float = 5.0):
        fmt = format or camera_format()
        dev = str(device)
        if fmt == "v4l2" and dev.isdigit():
            dev = f"/dev/video{dev}"
        if fmt == "dshow" and not dev.startswith("video="):
            dev = f"video={dev}"
        opts = dict(options or {})
        if fps:
            opts.setdefault("framerate", str(fps))
        if size:
            opts.setdefault("video_size", f"{int(size[1])}x{int(size[0])}")
        super().__init__(dev, format=fmt, options=opts, gray=gray, reconnect=reconnect, timeout=timeout,
                         name=f"camera {dev} ({fmt})")

    def _hint(self) -> str:
        return ("Check that the camera is plugged in and not used by another program; list devices with "
                "`ffmpeg -f v4l2 -list_devices true -i ''` (avfoundation/dshow on macOS/Windows).")


@register_source("stream")
class StreamSource(_PyAVLive):
    """A network stream (RTSP, HTTP, UDP, SRT...) through PyAV, reconnecting when it drops.

    RTSP goes over TCP and FFmpeg's input buffering is turned off, for low delay.
    """

    def __init__(self, url: str, *, gray: bool = False, options: dict | None = None, reconnect: int = 3,
                 timeout: float = 5.0):
        opts = {"fflags": "nobuffer", "flags": "low_delay"}
        if str(url).startswith("rtsp"):
            opts["rtsp_transport"] = "tcp"
        opts.update(options or {})
        super().__init__(str(url), options=opts, gray=gray, reconnect=reconnect, timeout=timeout)


@register_source("array")
class ArraySource(FrameSource):
    """Frames from memory ``(T, H, W, C)`` at ``fps`` (``realtime``) or as fast as taken (tests)."""

    def __init__(self, frames, *, fps: float = 30.0, realtime: bool = True, name: str = "<array>",
                 gray: bool = False):
        super().__init__(name, gray=gray)
        arr = np.asarray(frames)
        if arr.ndim == 3:
            arr = arr[..., None]
        if arr.ndim != 4 or arr.dtype != np.uint8:
            raise ConfigError(f"ArraySource expects uint8 frames (T, H, W, C), got {arr.dtype} {arr.shape}.",
                              hint="Convert with np.asarray(frames, np.uint8).")
        self.frames = arr
        self.fps = float(fps)
        self.realtime = bool(realtime)
        self.size = arr.shape[1:3]

    def _frames(self):
        t0 = time.perf_counter()
        for i, f in enumerate(self.frames):
            if self._stop.is_set():
                return
            if self.realtime:
                _pace(t0, i, self.fps, self._stop)
            yield f


_STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def open_source(spec, *, realtime: bool = True, gray: bool = False, **kwargs) -> FrameSource:
    """A started-ready (opened) source from a spec.

    ``spec``: a :class:`FrameSource` (returned as is); a path to a video file; ``"file:PATH"``;
    ``"camera:0"`` / ``"camera:/dev/video2"`` / ``"v4l2:/dev/video0"`` / ``"avfoundation:0"`` /
    ``"dshow:video=Cam"``; a URL (``rtsp://``, ``http://``, ``udp://``...); ``"stream:URL"``.
    Raises :class:`VideoError` naming the source when it cannot be opened.
    """
    if isinstance(spec, FrameSource):
        return spec.open()
    text = str(spec)
    kind, _, rest = text.partition(":")
    if text.startswith(_STREAM_PREFIXES):
        src = StreamSource(text, gray=gray, **kwargs)
    elif kind in ("camera", "v4l2", "avfoundation", "dshow") and rest:
        src = CameraSource(rest, format=None if kind == "camera" else kind, gray=gray, **kwargs)
    elif kind == "stream" and rest:
        src = StreamSource(rest, gray=gray, **kwargs)
    elif kind == "file" and rest:
        src = VideoFileSource(rest, realtime=realtime, gray=gray, **kwargs)
    elif kind in SOURCES and rest and kind not in ("array",):
        src = SOURCES[kind](rest, gray=gray, **kwargs)
    elif Path(text).exists() or Path(text).suffix:
        src = VideoFileSource(text, realtime=realtime, gray=gray, **kwargs)
    else:
        raise ConfigError(f"Cannot tell what live source {text!r} is; expected a video file, camera:N, "
                          f"a stream URL ({', '.join(p[:-3] for p in _STREAM_PREFIXES)}), or one of "
                          f"{sorted(k + ':...' for k in SOURCES)}.",
                          hint="For example --source flies.mp4, --source camera:0, --source rtsp://host/stream.")
    return src.open()
