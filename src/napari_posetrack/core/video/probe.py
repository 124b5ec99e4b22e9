"""Probe a video: metadata, frame-rate regularity and a seek self-test; re-encode helper."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import PoseTrackError, VideoError

__all__ = ["probe_video", "seek_self_test", "reencode_video"]

REENCODE_COMMAND = "ffmpeg -i {src} -c:v libx264 -g 30 -pix_fmt yuv420p {dst}"
REENCODE_PYTHON = ("python -c \"from napari_posetrack.core.video import reencode_video; "
                   "reencode_video('{src}', '{dst}')\"")


def _digest(frame: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16).hexdigest()


def seek_self_test(reader, frames) -> list[int]:
    """Frames whose random-access read differs from a plain sequential decode.

    Each frame in ``frames`` is read by seeking (in shuffled order, on a fresh decoder with no
    cache) and compared with the same frame from one sequential decode from frame 0.

    Parameters
    ----------
    reader : VideoReader
    frames : sequence of int

    Returns
    -------
    list of int
        The frame indices that disagree (or failed to decode); empty when seeking is exact.
    """
    frames = sorted({int(f) for f in frames if 0 <= int(f) < reader.n_frames})
    if not frames:
        return []
    wanted = set(frames)
    sequential = {}
    for i, frame in reader.iter_frames(0, frames[-1] + 1):
        if i in wanted:
            sequential[i] = _digest(frame)
    probe = reader.clone()
    bad = []
    try:
        order = np.random.default_rng(0).permutation(frames)
        for i in order:
            try:
                got = _digest(probe._read_uncached(int(i)))
            except PoseTrackError:
                got = None
            if got is None or got != sequential.get(int(i)):
                bad.append(int(i))
    finally:
        probe.close()
    return sorted(bad)


def probe_video(path, *, n_checks: int = 8, max_span: int | None = None, seed: int = 0) -> dict:
    """Describe a video and test that seeking returns the frames a sequential decode gives.

    Parameters
    ----------
    path : str or Path
        A media file or image folder.
    n_checks : int
        Number of random frames tested by seeking (plus the last frame, which must decode).
    max_span : int or None
        Test frames are drawn from the first ``max_span`` frames (the sequential reference
        decodes them all); default: two keyframe intervals, at least 300 frames.
    seed : int

    Returns
    -------
    dict
        ``path, kind, n_frames, height, width, channels, fps, codec, pix_fmt, header_frames,
        truncated, n_keyframes, max_gop, index_method, vfr, seek_ok, bad_frames, seek_message``.

    Raises
    ------
    VideoError
        When the file cannot be opened at all.
    """
    from . import open_video

    with open_video(path, read_ahead=0) if not Path(str(path)).is_dir() else open_video(path) as reader:
        out = {
            "path": str(path),
            "kind": reader.kind,
            "n_frames": reader.n_frames,
            "height": reader.height,
            "width": reader.width,
            "channels": reader.channels,
            "fps": reader.fps,
            "codec": getattr(reader, "codec", "image"),
            "pix_fmt": getattr(reader, "pix_fmt", ""),
        }
        index = getattr(reader, "index", None)
        if index is None:  # image folder: every frame is its own file
            out.update(header_frames=reader.n_frames, truncated=False, n_keyframes=reader.n_frames, max_gop=1,
                       index_method="files", vfr=False, seek_ok=True, bad_frames=[],
                       seek_message="Image sequence: every frame is read from its own file.")
            return out
        n_gop = np.diff(np.append(_keyframe_positions(reader), reader.n_frames))
        span = max_span if max_span is not None else max(300, 2 * int(n_gop.max()) + 1)
        span = min(int(span), reader.n_frames)
        rng = np.random.default_rng(seed)
        checks = set(rng.choice(span, size=min(n_checks, span), replace=False).tolist()) | {0, span - 1}
        bad = seek_self_test(reader, checks)  # may rebuild the index exactly: read it afterwards
        index = reader.index
        gaps = np.diff(np.append(_keyframe_positions(reader), reader.n_frames))
        max_gop = int(gaps.max()) if len(gaps) else reader.n_frames
        steps = np.diff(index.pts)
        vfr = bool(len(steps) > 1 and (steps.max() - steps.min()) > 0.01 * max(np.median(steps), 1))
        last_ok = True
        if reader.n_frames - 1 not in checks:
            try:
                probe = reader.clone()
                probe._read_uncached(reader.n_frames - 1)
                probe.close()
            except PoseTrackError:
                last_ok = False
        out.update(header_frames=index.header_frames, truncated=bool(index.truncated), n_keyframes=len(index.key_ts),
                   max_gop=max_gop, index_method=reader.index.method, vfr=vfr, bad_frames=bad)
        out["seek_ok"] = not bad and last_ok
        out["seek_message"] = _message(out, last_ok)
        return out


def _keyframe_positions(reader) -> np.ndarray:
    """Approximate frame index of each keyframe (its seek timestamp located among the pts)."""
    index = reader.index
    shift = int(index.pts[0]) - int(index.key_ts[0]) if len(index.key_ts) else 0
    return np.unique(np.searchsorted(index.pts, index.key_ts + shift))


def _message(info: dict, last_ok: bool) -> str:
    src = info["path"]
    dst = str(Path(src).with_name(Path(src).stem + "_reencoded.mp4"))
    fix = (f"Re-encode it with `{REENCODE_COMMAND.format(src=src, dst=dst)}` or, without the ffmpeg command, "
           f"`{REENCODE_PYTHON.format(src=src, dst=dst)}`.")
    notes = []
    if info["bad_frames"]:
        notes.append(f"Seeking is UNRELIABLE: frames {info['bad_frames'][:10]} read by seeking differ from a "
                     "sequential decode, so labels could land on the wrong frame.")
    if not last_ok:
        notes.append(f"The last frame ({info['n_frames'] - 1}) cannot be decoded; the file is probably truncated.")
    if info["truncated"]:
        notes.append(f"The file is shorter than its header says ({info['n_frames']} of {info['header_frames']} "
                     "frames can be read); it was probably cut off while copying or recording.")
    if info["vfr"]:
        notes.append("The frame rate is variable: this reader indexes frames by timestamp and stays exact, but "
                     "tools that compute frame numbers from time (and some exporters) will drift.")
    if info["max_gop"] > 120:
        notes.append(f"Keyframes are up to {info['max_gop']} frames apart, so random access is slow (each jump "
                     "decodes up to that many frames); seeking is still exact.")
    if not notes:
        return (f"Seeking OK: {len(info['bad_frames']) or 'all'} tested frames match a sequential decode "
                f"({info['n_keyframes']} keyframes, at most {info['max_gop']} frames apart).")
    return " ".join(notes + [fix])


def reencode_video(src, dst, *, gop: int = 30, crf: int = 18, fps: float | None = None, preset: str = "veryfast",
                   overwrite: bool = False) -> Path:
    """Re-encode a video to H.264 with a constant frame rate and a keyframe every ``gop`` frames.

    Uses PyAV's bundled FFmpeg (no ``ffmpeg`` command needed). Frames are taken in decode
    order, so a variable-frame-rate file becomes constant-rate with the same frame sequence.

    Parameters
    ----------
    src, dst : str or Path
    gop : int
        Keyframe interval: smaller is faster to seek, larger files.
    crf : int
        Quality (18 is visually lossless).
    fps : float or None
        Output frame rate (default: the source's average rate).
    overwrite : bool

    Returns
    -------
    Path
        ``dst``.
    """
    from . import open_video
    from .writer import VideoWriter

    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise VideoError(f"{str(dst)!r} exists already.", path=dst, hint="Choose another name or pass overwrite=True.")
    with open_video(src, read_ahead=0) as reader:
        rate = fps or reader.fps or 30.0
        with VideoWriter(dst, fps=rate, gop=gop, crf=crf, preset=preset) as writer:
            for _, frame in reader.iter_frames():
                writer.write(frame)
    return dst
