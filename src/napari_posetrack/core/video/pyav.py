"""Frame-accurate PyAV reader: keyframe index, seek to the nearest keyframe, decode forward.

How a frame is read (see ``docs/video.md``):

1. The frame index (:mod:`.index`) maps frame ``i`` to its presentation timestamp.
2. If the decoder has already passed the keyframe that a seek would land on and is still
   before the target (forward scrubbing, the next frame), decoding simply goes on: no seek.
3. Otherwise seek backward to the keyframe at or before the target and decode forward until
   ``frame.pts == target``. Frames before the target that no other frame references are
   skipped by the decoder (``skip_frame="NONREF"``), and no frame but the target is
   converted to an array. A seek that lands after the target backs off one keyframe.
4. Every decoded timestamp is checked against the index; a disagreement rebuilds the index
   exactly (demux) or raises :class:`~napari_posetrack.core.errors.SeekError`.

Frames are grey ``(h, w, 1)`` when the pixel format is grey or the first frame has equal
R, G and B everywhere (as in most lab videos stored as YUV), else RGB ``(h, w, 3)``.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from collections.abc import Iterator

import numpy as np

from ..errors import SeekError, VideoError
from .base import VideoReader
from .cache import DEFAULT_CACHE_BYTES, FrameCache
from .index import FrameIndex, index_from_demux, index_from_entries
from .readahead import ReadAhead

__all__ = ["PyAVReader", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".h264", ".ts")

REENCODE_HINT = (
    "Re-encode it with a fixed frame rate and regular keyframes: "
    "`ffmpeg -i {src} -c:v libx264 -g 30 -pix_fmt yuv420p out.mp4`, or without the ffmpeg "
    "command: `python -c \"from napari_posetrack.core.video import reencode_video; "
    "reencode_video('{src}', 'out.mp4')\"`."
)


def _frame_ts(frame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


def _open_container(path: str):
    """Open a media file; every failure becomes a :class:`VideoError` that names the file."""
    import av

    if not os.path.exists(path):
        raise VideoError(
            f"Video file not found: {path!r}.",
            path=path,
            hint="Check the path (relative paths are relative to the current folder or the project).",
        )
    if os.path.isdir(path):
        raise VideoError(f"{path!r} is a folder, not a video file.", path=path, hint="Open it as an image folder.")
    if os.path.getsize(path) == 0:
        raise VideoError(f"Video file {path!r} is empty (0 bytes).", path=path, hint="Copy the file again.")
    try:
        container = av.open(path, mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise VideoError(
            f"Cannot read {path!r} as a video: expected a media file (mp4, avi, mov, mkv...) with a video "
            f"stream, found unreadable data ({err}). The file is corrupt, truncated or not a video.",
            path=path,
            hint="Check that the file is complete (copy it again) and plays in a media player; "
            + REENCODE_HINT.format(src=path),
        ) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoError(
            f"{path!r} has no video stream (found streams: {', '.join(kinds)}).",
            path=path,
            hint="Open a file that contains video.",
        )
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec is None or not getattr(codec, "is_decoder", True):
        name = getattr(codec, "name", None)
        what = f"the video codec {name!r}" if name else "a video codec FFmpeg does not recognise"
        container.close()
        raise VideoError(
            f"{path!r} uses {what}, which this PyAV/FFmpeg build cannot decode: expected a common codec "
            "(H.264, HEVC, MPEG-4, MJPEG, VP9, AV1, raw video...).",
            path=path,
            hint="Convert it to H.264 with the software that recorded it (or an ffmpeg build that has that "
            "codec): " + REENCODE_HINT.format(src=path).split(": ", 1)[1],
        )
    return container


class _Shared:
    """State shared by a reader, its clones and its read-ahead worker."""

    def __init__(self, index: FrameIndex, grey: bool, cache: FrameCache, read_ahead: int, threads: str):
        self.index = index
        self.grey = grey
        self.cache = cache
        self.read_ahead = int(read_ahead)
        self.threads = threads
        self.lock = threading.Lock()
        self.last_requested = -2
        self.worker: ReadAhead | None = None
        self.mismatches = 0  # decoded timestamps the index did not predict (sequential decode)


class PyAVReader(VideoReader):
    """Read a media file with PyAV (FFmpeg). See the module docstring for how.

    Parameters
    ----------
    path : str or Path
    cache_bytes : int
        Size of the LRU frame cache in bytes (0 disables it).
    read_ahead : int
        When frame ``i`` is read right after ``i - 1``, a background thread decodes the next
        ``read_ahead`` frames into the cache (0 disables it).
    grayscale : bool or None
        Force grey (``True``) or RGB (``False``) output; None detects it from the first frame.
    index : {"auto", "entries", "demux"}
        How to build the frame index (see :mod:`napari_posetrack.core.video.index`).
    threads : {"AUTO", "FRAME", "SLICE", "NONE"}
        FFmpeg decoder threading.

    Raises
    ------
    VideoError
        Missing, empty, corrupt or truncated file, no video stream, codec we cannot decode.
    """

    def __init__(
        self,
        path,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        read_ahead: int = 8,
        grayscale: bool | None = None,
        index: str = "auto",
        threads: str = "AUTO",
        _shared: _Shared | None = None,
        _prime: bool = True,
    ):
        path = str(Path(path))
        super().__init__(path, cache=_shared.cache if _shared else None, cache_bytes=cache_bytes)
        self._container = _open_container(path)
        self._stream = self._container.streams.video[0]
        self._configure_threads(threads)
        self._gen = None  # frame generator of the current decode position
        self._last_ts = None  # timestamp of the last frame the decoder returned
        self._fed_dts = None  # dts of the last packet fed to the decoder
        self._target_ts = None  # frames before this one may be skipped (non-reference)
        self._skip = False
        self._owns_shared = _shared is None
        try:
            if _shared is None:
                _shared = self._build_shared(grayscale, index, read_ahead, threads)
            elif _prime:
                self._prime()
        except BaseException:
            self._owns_shared = False
            self._closed = True
            self._container.close()
            raise
        self._shared = _shared
        s = self._stream
        self.height, self.width = int(s.codec_context.height), int(s.codec_context.width)
        self.channels = 1 if self._shared.grey else 3
        self.n_frames = self._shared.index.n_frames
        rate = s.average_rate or s.guessed_rate or s.base_rate
        self.fps = float(rate) if rate else 0.0
        self.codec = s.codec_context.name
        self.pix_fmt = s.codec_context.pix_fmt or ""

    # ------------------------------------------------------------------ setup
    def _configure_threads(self, threads: str) -> None:
        cc = self._stream.codec_context
        if threads and threads.upper() != "NONE":
            cc.thread_type = threads.upper()
            cc.thread_count = 0
        self._threads = threads

    def _build_shared(self, grayscale, index: str, read_ahead: int, threads: str) -> _Shared:
        import av

        try:
            first = next(self._container.decode(self._stream))
        except (av.error.FFmpegError, StopIteration) as err:
            raise VideoError(
                f"Cannot decode the first frame of {self.path!r} (codec "
                f"{self._stream.codec_context.name!r}): {err or 'no frame in the file'}.",
                path=self.path,
                hint="The file is corrupt or truncated, or the codec is not supported. "
                + REENCODE_HINT.format(src=self.path),
            ) from None
        self._gen = None  # the next read seeks
        first_ts = _frame_ts(first)
        if grayscale is None:
            grey = first.format.name.startswith("gray")
            if not grey:
                rgb = first.to_ndarray(format="rgb24")
                grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all())
        else:
            grey = bool(grayscale)
        idx = None
        if index in ("auto", "entries") and first_ts is not None:
            idx = index_from_entries(self._container, self._stream, first_ts, self.path)
        if idx is None:
            idx = self._demux_index()
        if idx.truncated:
            idx = self._trim_to_decodable(idx)
        if idx.n_frames == 0:
            raise VideoError(
                f"{self.path!r} contains no decodable video frame.", path=self.path,
                hint=REENCODE_HINT.format(src=self.path)
            )
        return _Shared(idx, grey, self.cache, read_ahead, threads)

    def _prime(self) -> None:
        """Decode the first frame once, so the decoder sees the stream's in-band parameter sets.

        Some files (``m3v1mp4.mp4`` of the DeepLabCut example) send their H.264 parameter sets
        only at the start of the stream: a decoder that seeks before decoding anything then
        decodes later keyframes into the wrong pixels, without any error.
        """
        import av

        try:
            next(self._container.decode(self._stream))
        except (av.error.FFmpegError, StopIteration):
            pass
        self._gen = None

    def _trim_to_decodable(self, idx: FrameIndex) -> FrameIndex:
        """Drop the frames of a truncated file that its last keyframe interval cannot decode."""
        import av
        from dataclasses import replace

        if not len(idx.key_ts):
            return idx
        self._shared = _Shared(idx, False, self.cache, 0, "")  # temporary, for _seek
        decoded = []
        try:
            self._seek(int(idx.key_ts[-1]))
            for frame in self._gen:
                decoded.append(_frame_ts(frame))
        except (av.error.FFmpegError, EOFError):
            pass
        self._gen = None
        if not decoded:
            return idx
        got = set(decoded)
        tail = idx.pts[idx.pts >= min(decoded)]
        missing = [t for t in tail if t not in got]
        if missing:
            idx = replace(idx, pts=idx.pts[idx.pts < missing[0]])
        return idx

    def _demux_index(self) -> FrameIndex:
        import av

        try:
            return index_from_demux(self.path, self._stream.index)
        except av.error.FFmpegError as err:
            raise VideoError(
                f"Cannot read the packets of {self.path!r}: {err}.", path=self.path,
                hint=REENCODE_HINT.format(src=self.path)
            ) from None

    @property
    def index(self) -> FrameIndex:
        return self._shared.index

    @property
    def grey(self) -> bool:
        return self._shared.grey

    def clone(self, *, _prime: bool = True) -> PyAVReader:
        """A reader with its own decoder that shares this one's index and cache."""
        self._check_open()
        return PyAVReader(self.path, _shared=self._shared, threads=self._threads, _prime=_prime)

    # ------------------------------------------------------------------ decoding
    def _to_array(self, frame) -> np.ndarray:
        if self._shared.grey:
            return frame.to_ndarray(format="gray")[..., None]
        return frame.to_ndarray(format="rgb24")

    def _decode_gen(self):
        import av

        cc = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            if packet.dts is not None:
                self._fed_dts = packet.dts
            target = self._target_ts
            skip = target is not None and packet.pts is not None and packet.pts < target
            if skip != self._skip:
                cc.skip_frame = "NONREF" if skip else "DEFAULT"
                self._skip = skip
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue  # a damaged packet: FFmpeg conceals it, a plain decode does the same
            except av.error.EOFError:
                return
            yield from frames

    def _seek(self, ts: int) -> None:
        self._container.seek(int(ts), stream=self._stream, backward=True, any_frame=False)
        self._gen = self._decode_gen()
        self._last_ts = None
        self._fed_dts = None

    def _can_continue(self, target: int) -> bool:
        if self._gen is None or self._last_ts is None or self._last_ts >= target:
            return False
        return self._fed_dts is not None and self._fed_dts >= self._shared.index.seek_ts_for(target)

    def _decode_to(self, frame_idx: int, *, convert: bool = True):
        """Position the decoder on ``frame_idx`` and return that frame (VideoFrame)."""
        for attempt in range(2):
            try:
                return self._decode_to_once(frame_idx)
            except _IndexMismatch as err:
                idx = self._shared.index
                if idx.method == "demux" or attempt:
                    raise SeekError(
                        f"Seeking in {self.path!r} is unreliable: asked for frame {frame_idx} (pts "
                        f"{idx.pts[frame_idx]}), the decoder returned a frame with pts {err.ts} that the "
                        "frame index does not know (variable frame rate or a broken index).",
                        path=self.path,
                        hint=REENCODE_HINT.format(src=self.path),
                    ) from None
                self._rebuild_index()
        raise AssertionError("unreachable")

    def _rebuild_index(self) -> None:
        with self._shared.lock:
            if self._shared.index.method != "demux":
                new = self._demux_index()
                self._shared.index = new
                self.cache.clear()
        self.n_frames = self._shared.index.n_frames
        self._gen = None

    def _seek_candidates(self, target: int) -> list[int]:
        """Timestamps to seek to for ``target``, best first.

        Demuxers disagree on what a seek timestamp means (MP4 compares it with keyframe pts,
        others with dts), so first ask for the target itself, then for keyframe timestamps
        further and further back until the decoder lands at or before the target.
        """
        key_ts = self._shared.index.key_ts
        k = int(np.searchsorted(key_ts, target, side="right")) - 1
        return [target] + [int(t) for t in key_ts[max(k, 0) :: -1][: k + 1]] if k >= 0 else [target, int(key_ts[0])]

    def _decode_to_once(self, frame_idx: int):
        index = self._shared.index
        target = int(index.pts[frame_idx])
        candidates = [None] if self._can_continue(target) else self._seek_candidates(target)
        for seek_ts in candidates:
            if seek_ts is not None:
                self._seek(seek_ts)
            first = True
            self._target_ts = target
            try:
                for frame in self._gen:
                    ts = _frame_ts(frame)
                    self._last_ts = ts
                    if ts is None or (index.method != "demux" and index.frame_of(ts) < 0):
                        raise _IndexMismatch(ts)
                    if ts == target:
                        return frame
                    if ts > target:
                        break
                    first = False
                else:
                    self._gen = None
                    raise VideoError(
                        f"Frame {frame_idx} of {self.path!r} could not be decoded: the stream ended first "
                        f"(the index lists {index.n_frames} frames). The file is probably truncated or damaged.",
                        path=self.path,
                        hint="Copy the file again, or " + REENCODE_HINT.format(src=self.path),
                    )
            finally:
                self._target_ts = None
            if not first:  # frames before and after the target, but not the target itself
                raise _IndexMismatch(target)
            if seek_ts is None:  # continuing overshot: seek after all
                return self._decode_to_once_seeking(frame_idx)
        raise _IndexMismatch(target)

    def _decode_to_once_seeking(self, frame_idx: int):
        self._gen = None
        return self._decode_to_once(frame_idx)

    def _read_uncached(self, frame_idx: int) -> np.ndarray:
        return self._to_array(self._decode_to(frame_idx))

    def _iter_uncached(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        pts = self._shared.index.pts
        if start == 0:  # a fresh decoder from the start of the file: the plain sequential decode
            reader = self.clone(_prime=False)
            reader._gen = reader._decode_gen()
            first = None
        else:
            reader = self.clone()
        try:
            with reader._lock:
                if start:
                    first = reader._decode_to(start)
                frames = reader._gen if first is None else itertools.chain([first], reader._gen)
                i = start
                for frame in frames:
                    if i >= stop:
                        break
                    ts = _frame_ts(frame)
                    if ts != pts[i]:
                        if i == 0 and ts is not None and ts < pts[0]:
                            continue  # displayed before the first keyframe: not in the index
                        self._shared.mismatches += 1
                    yield i, reader._to_array(frame)
                    i += 1
        finally:
            reader.close()

    # ------------------------------------------------------------------ read-ahead
    def _after_read(self, frame_idx: int) -> None:
        sh = self._shared
        sequential = frame_idx == sh.last_requested + 1
        sh.last_requested = frame_idx
        if sequential and sh.read_ahead > 0 and frame_idx + 1 < self.n_frames:
            with sh.lock:
                if sh.worker is None:
                    path, threads = self.path, self._threads
                    sh.worker = ReadAhead(lambda: PyAVReader(path, _shared=sh, threads=threads), sh, Path(path).name)
            sh.worker.request(frame_idx + 1, min(frame_idx + 1 + sh.read_ahead, self.n_frames))

    def read_frame(self, frame_idx: int) -> np.ndarray:
        i = self._check_index(frame_idx)
        worker = self._shared.worker
        if worker is not None and i not in self.cache and worker.will_decode(i):
            frame = self.cache.wait_for(i, timeout=2.0)
            if frame is not None:
                self._after_read(i)
                return frame
        backward = i == self._shared.last_requested - 1
        if backward and self._shared.read_ahead > 0 and i not in self.cache and self.cache.max_bytes > 0:
            self._read_behind(i, max(16, 2 * self._shared.read_ahead))
        return super().read_frame(i)

    def _read_behind(self, frame_idx: int, n: int) -> None:
        """Scrubbing backward: decode frames ``frame_idx - n + 1 .. frame_idx`` into the cache.

        Each step back would otherwise seek and decode from the keyframe again; this pays one
        seek for ``n`` steps.
        """
        lo = max(0, frame_idx - n + 1)
        with self._lock:
            frame = self._decode_to(lo)
            self.cache.put(lo, self._to_array(frame))
            i = lo + 1
            pts = self._shared.index.pts
            for frame in self._gen:
                self._last_ts = _frame_ts(frame)
                if i > frame_idx or self._last_ts != pts[i]:
                    break
                self.cache.put(i, self._to_array(frame))
                i += 1

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        shared = getattr(self, "_shared", None)
        if getattr(self, "_owns_shared", False) and shared is not None and shared.worker is not None:
            self._shared.worker.stop()
        with self._lock:
            container, self._container, self._gen = getattr(self, "_container", None), None, None
            if container is not None:
                container.close()


class _IndexMismatch(Exception):
    def __init__(self, ts):
        super().__init__(ts)
        self.ts = ts
