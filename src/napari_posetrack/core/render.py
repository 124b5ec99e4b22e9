"""Labeled videos: skeletons, keypoints and trails drawn on the frames, written as H.264.

>>> from napari_posetrack.core.progress import drain
>>> drain(iter_render("clip.mp4", dataset.predictions, dataset.skeleton, "labeled.mp4", trail=10))

Drawing is vectorised numpy: every disc, ring and line of a frame is turned into sub-pixel
"splats" with an anti-aliased coverage (1 inside, fading to 0 over one pixel at the edge),
so a frame costs a few array operations whatever the number of animals. Low-confidence
points (``score < low_score``) and occluded points are drawn as hollow rings and their bones
faded; trails fade with age. Output frames are exactly the frames asked for, in order.
"""

from __future__ import annotations

import colorsys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import ConfigError, FormatError, VideoError
from .posetable import OCCLUDED, UNLABELED, PoseTable
from .progress import CancelToken, ProgressEvent

__all__ = ["iter_render", "render_frame", "palette", "check_predictions_fit", "VIDEO_EXTENSIONS"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi")

_TAB10 = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (127, 127, 127),
], np.float32)


def palette(n: int, kind: str = "track") -> np.ndarray:
    """``n`` distinct RGB colours (float32 0-255), (n, 3).

    ``"track"`` uses the tab10 colours then evenly spaced hues; ``"node"`` a rainbow from red to
    violet, so neighbouring nodes along a body get neighbouring hues.
    """
    n = max(int(n), 1)
    if kind == "track" and n <= len(_TAB10):
        return _TAB10[:n].copy()
    hues = np.linspace(0, 0.8 if kind == "node" else 1.0, n, endpoint=kind == "node")
    return np.array([colorsys.hsv_to_rgb(h, 0.85, 1.0) for h in hues], np.float32) * 255


# ---------------------------------------------------------------------------- rasterising
def _stencil(reach: float):
    r = int(np.ceil(reach)) + 1
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    return dy.ravel(), dx.ravel()


def _splat(frame, centres, colours, alphas, radius, *, ring_width=None):
    """Blend anti-aliased discs (or rings) into ``frame`` in place.

    Parameters
    ----------
    frame : ndarray (H, W, 3) float32
    centres : ndarray (M, 2) float, (x, y) in pixels (pixel centres at integers)
    colours : ndarray (M, 3) float 0-255
    alphas : ndarray (M,) float 0-1
    radius : float
        Disc radius, or ring radius when ``ring_width`` is given.
    ring_width : float, optional
        Draw a ring of this line width instead of a filled disc.

    Where splats overlap, each pixel takes the one that covers it most (in input order for
    ties), then blends once: lines made of many splats do not darken where samples overlap.
    """
    ok = np.isfinite(centres).all(1) & (alphas > 0)
    if not ok.any():
        return
    centres, colours, alphas = centres[ok], colours[ok], alphas[ok]
    h, w = frame.shape[:2]
    reach = radius + (ring_width or 0) / 2 + 1
    dy, dx = _stencil(reach)
    cx, cy = centres[:, 0], centres[:, 1]
    px = np.rint(cx)[:, None].astype(np.int64) + dx[None]
    py = np.rint(cy)[:, None].astype(np.int64) + dy[None]
    d = np.hypot(px - cx[:, None], py - cy[:, None])
    if ring_width is None:
        cov = np.clip(radius + 0.5 - d, 0.0, 1.0)
    else:
        cov = np.clip(ring_width / 2 + 0.5 - np.abs(d - radius), 0.0, 1.0)
    cov = cov * alphas[:, None]
    inside = (cov > 0.01) & (px >= 0) & (px < w) & (py >= 0) & (py < h)
    src = np.nonzero(inside)[0]
    flat = (py * w + px)[inside]
    cov = cov[inside]
    # per pixel, keep the strongest splat: sort by coverage descending (stable), first per pixel
    order = np.lexsort((-cov,  flat))
    flat, cov, src = flat[order], cov[order], src[order]
    first = np.ones(len(flat), bool)
    first[1:] = flat[1:] != flat[:-1]
    flat, cov, src = flat[first], cov[first], src[first]
    view = frame.reshape(-1, 3)
    a = cov[:, None].astype(np.float32)
    view[flat] = view[flat] * (1 - a) + colours[src] * a


def _segments_to_splats(p0, p1, colours, alphas, step=0.5):
    """Sample line segments (M, 2) -> (M, 2) every ``step`` px: centres, colours, alphas."""
    ok = np.isfinite(p0).all(1) & np.isfinite(p1).all(1)
    p0, p1, colours, alphas = p0[ok], p1[ok], colours[ok], alphas[ok]
    if not len(p0):
        return np.zeros((0, 2)), np.zeros((0, 3), np.float32), np.zeros(0)
    length = np.hypot(*(p1 - p0).T)
    n = np.maximum(np.ceil(length / step).astype(np.int64), 1) + 1
    seg = np.repeat(np.arange(len(p0)), n)
    starts = np.cumsum(n) - n
    frac = (np.arange(n.sum()) - starts[seg]) / (n[seg] - 1)
    centres = p0[seg] + (p1 - p0)[seg] * frac[:, None]
    return centres, colours[seg], alphas[seg]


def render_frame(frame, instances: PoseTable, edges, *, colours, low_score=0.3, keypoints_only=False,
                 radius=3.0, line_width=2.0, trails=None) -> np.ndarray:
    """Draw instances on one frame.

    Parameters
    ----------
    frame : ndarray (H, W) or (H, W, C) uint8
    instances : PoseTable
        The N instances of this frame.
    edges : list of (int, int)
        Skeleton edges (node indices).
    colours : ndarray (N, K, 3) float
        Colour of each node of each instance (bones take their source node's colour).
    low_score : float or None
        Nodes scored below this (and occluded nodes) are drawn as rings, their bones faded.
    keypoints_only : bool
        Skip the bones.
    radius, line_width : float
        Keypoint disc radius and bone width, pixels.
    trails : tuple (p0 (M, 2), p1 (M, 2), colours (M, 3), alphas (M,)), optional
        Trail segments, drawn first and thinner.

    Returns
    -------
    ndarray (H, W, 3) uint8
    """
    img = np.asarray(frame)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    out = img[..., :3].astype(np.float32)
    if trails is not None and len(trails[0]):
        c, col, a = _segments_to_splats(*trails)
        _splat(out, c, col, a, max(line_width * 0.35, 0.6))
    if len(instances):
        pts = instances.points.astype(np.float64)
        lab = instances.state != UNLABELED
        weak = instances.state == OCCLUDED
        if low_score is not None:
            weak |= np.isfinite(instances.score) & (instances.score < low_score)
        pts = np.where(lab[..., None], pts, np.nan)
        if not keypoints_only and len(edges):
            e = np.asarray(edges, np.int64)
            p0 = pts[:, e[:, 0]].reshape(-1, 2)
            p1 = pts[:, e[:, 1]].reshape(-1, 2)
            col = colours[:, e[:, 0]].reshape(-1, 3)
            faint = (weak[:, e[:, 0]] | weak[:, e[:, 1]]).reshape(-1)
            alpha = np.where(faint, 0.35, 0.9)
            c, cc, aa = _segments_to_splats(p0, p1, col, alpha)
            _splat(out, c, cc, aa, line_width / 2)
        flat_pts = pts.reshape(-1, 2)
        flat_col = colours.reshape(-1, 3)
        flat_weak = weak.reshape(-1)
        strong = ~flat_weak
        # dark outline under the filled discs keeps them visible on bright fur
        _splat(out, flat_pts[strong], np.zeros((strong.sum(), 3), np.float32), np.full(strong.sum(), 0.6),
               radius + 1.0)
        _splat(out, flat_pts[strong], flat_col[strong], np.ones(strong.sum()), radius)
        _splat(out, flat_pts[flat_weak], flat_col[flat_weak], np.full(flat_weak.sum(), 0.95), radius,
               ring_width=max(1.0, radius / 2.5))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- checks
def check_predictions_fit(table: PoseTable, n_frames: int, height: int, width: int, *, video_info=None,
                          video_name: str = "the video") -> None:
    """Raise :class:`VideoError` when ``table`` cannot belong to a video of this shape.

    Checks the frame indices against ``n_frames``, the recorded video shape (``video_info``,
    a :class:`~napari_posetrack.core.dataset.VideoInfo`, when known) against the video's, and
    that the points fall inside the frame.
    """
    if video_info is not None:
        rec = (int(video_info.n_frames), int(video_info.height), int(video_info.width))
        have = (int(n_frames), int(height), int(width))
        diff = [f"{name} {r} vs {h}" for name, r, h in zip(("frames", "height", "width"), rec, have) if r and r != h]
        if diff:
            raise VideoError(
                f"The predictions were made on a video of {rec[0]} frames, {rec[2]}x{rec[1]} px, but "
                f"{video_name} has {n_frames} frames, {width}x{height} px ({', '.join(diff)}).",
                hint="Pass the video the predictions were made on (see `posetrack info PRED`).",
            )
    if len(table) and int(table.frame_idx.max()) >= n_frames:
        raise VideoError(
            f"The predictions reach frame {int(table.frame_idx.max())} but {video_name} has only {n_frames} frames.",
            hint="These predictions belong to another (longer) video; pass the right video.",
        )
    lab = table.state != UNLABELED
    if lab.any():
        p = table.points[lab]
        outside = (p[:, 0] < -0.05 * width) | (p[:, 0] > 1.05 * width) | (p[:, 1] < -0.05 * height) | (
            p[:, 1] > 1.05 * height)
        if outside.mean() > 0.05:
            raise VideoError(
                f"{outside.mean():.0%} of the predicted points lie outside the {width}x{height} frames of {video_name} "
                f"(x up to {np.nanmax(p[:, 0]):.0f}, y up to {np.nanmax(p[:, 1]):.0f}).",
                hint="These predictions belong to another video (a different size); pass the right video.",
            )


def _parse_frames(frames, n_frames: int) -> np.ndarray:
    if frames is None:
        return np.arange(n_frames)
    if isinstance(frames, str):
        a, _, b = frames.partition(":")
        if not _:
            raise ConfigError(f"Expected frames as START:STOP, got {frames!r}.", hint="e.g. --frames 100:200")
        frames = range(int(a) if a else 0, int(b) if b else n_frames)
    if isinstance(frames, slice):
        frames = range(*frames.indices(n_frames))
    idx = np.asarray(list(frames) if isinstance(frames, range) else frames, np.int64).ravel()
    if not len(idx):
        raise ConfigError("No frames to render.", hint=f"Give a non-empty range within 0:{n_frames}.")
    if idx.min() < 0 or idx.max() >= n_frames:
        raise ConfigError(
            f"Frames {idx.min()}..{idx.max()} are outside the video (0..{n_frames - 1}).",
            hint=f"Use a range within 0:{n_frames}.",
        )
    return idx


# ---------------------------------------------------------------------------- trails
def _trail_index(table: PoseTable):
    """Dense (T, I, K, 2) positions of tracked rows, with the frame offset and track ids."""
    tracked = table.take(table.track_id >= 0)
    if not len(tracked):
        return None
    tids = np.unique(tracked.track_id)
    f0, f1 = int(tracked.frame_idx.min()), int(tracked.frame_idx.max())
    pos = np.full((f1 - f0 + 1, len(tids), tracked.n_nodes, 2), np.nan, np.float64)
    col = np.searchsorted(tids, tracked.track_id)
    pos[tracked.frame_idx - f0, col] = np.where((tracked.state != UNLABELED)[..., None], tracked.points, np.nan)
    return f0, tids, pos


def _trail_segments(index, frame: int, trail: int, colour_of):
    f0, tids, pos = index
    lo, hi = max(frame - trail, f0), min(frame, f0 + len(pos) - 1)
    if hi - lo < 1:
        return None
    seg = pos[lo - f0:hi - f0 + 1]  # (L, I, K, 2)
    p0, p1 = seg[:-1], seg[1:]
    age = (frame - np.arange(lo, hi))[:, None, None]  # 1..trail
    alpha = np.broadcast_to(0.8 * (1 - (age - 1) / max(trail, 1)), p0.shape[:3])
    colours = np.broadcast_to(colour_of(tids)[None], p0.shape[:3] + (3,))
    return (p0.reshape(-1, 2), p1.reshape(-1, 2), colours.reshape(-1, 3).astype(np.float32), alpha.reshape(-1))


# ---------------------------------------------------------------------------- main
def iter_render(video, table: PoseTable, skeleton, out_path, *, video_id: int | None = None, video_info=None,
                frames=None, trail: int = 0, color_by: str = "track", keypoints_only: bool = False,
                low_score: float | None = 0.3, radius: float | None = None, line_width: float | None = None,
                fps: float | None = None, crf: int = 20, overwrite: bool = False,
                cancel: CancelToken | None = None):
    """Render a labeled video; a generator of :class:`ProgressEvent` returning the output path.

    Parameters
    ----------
    video : str, Path or VideoReader
        The video the poses belong to.
    table : PoseTable
        Instances to draw (rows of other videos are ignored when ``video_id`` is given).
    skeleton : Skeleton
    out_path : str or Path
        ``.mp4`` (or ``.mkv``/``.mov``/``.avi``), written with H.264 (yuv420p; odd frame sizes
        are padded by one pixel to an even size).
    video_id : int, optional
        Keep only rows of this video.
    video_info : VideoInfo, optional
        What the poses' file recorded about their video; compared with ``video``.
    frames : "A:B", slice, range or sequence of int, optional
        Frames to write, in order (default: every frame of the video).
    trail : int
        Draw each tracked node's path over the previous ``trail`` frames.
    color_by : {"track", "node"}
    keypoints_only : bool
    low_score : float or None
        Points scored below this are drawn hollow.
    radius, line_width : float, optional
        Default: scaled with the frame size.
    fps : float, optional
        Output frame rate (default: the video's, or 30).
    crf : int
        x264 quality (lower = better, larger files).
    overwrite : bool
        Replace ``out_path`` if it exists.
    cancel : CancelToken, optional

    Yields
    ------
    ProgressEvent
        Stage ``"render"``, one per written frame.
    """
    from .video import open_video  # noqa: PLC0415

    out_path = Path(out_path)
    _check_render_args(out_path, overwrite, color_by)
    if video_id is not None:
        table = table.for_video(video_id)
    reader = open_video(video) if isinstance(video, (str, Path)) else video
    own_reader = isinstance(video, (str, Path))
    try:
        n_frames, height, width = int(reader.shape[0]), int(reader.shape[1]), int(reader.shape[2])
        check_predictions_fit(table, n_frames, height, width, video_info=video_info,
                              video_name=Path(str(getattr(reader, "path", video))).name)
        idx = _parse_frames(frames, n_frames)
        scale = max(height, width) / 512
        style = {"low_score": low_score, "keypoints_only": keypoints_only,
                 "radius": float(radius or max(2.0, 3.0 * scale)),
                 "line_width": float(line_width or max(1.0, 1.6 * scale))}
        rate = fps or float(getattr(reader, "fps", 0) or 0) or 30.0
        colour_of_tracks = _track_colourer(table, skeleton.n_nodes, color_by)
        trail_index = _trail_index(table) if trail and trail > 0 else None
        rows_of = {f: rows for _vid, f, rows in table.frame_groups()}

        def draw(f: int, img):
            rows = rows_of.get(int(f))
            inst = table.take(rows) if rows is not None else table.take(np.zeros(0, np.int64))
            colours = colour_of_tracks(inst.track_id) if len(inst) else np.zeros((0, skeleton.n_nodes, 3), np.float32)
            trails = (_trail_segments(trail_index, int(f), int(trail), colour_of_tracks)
                      if trail_index is not None else None)
            return render_frame(img, inst, skeleton.edges, colours=colours, trails=trails, **style)

        source = _frame_source(reader, idx)
        return (yield from _encode(out_path, source, draw, len(idx), (height, width), rate, crf, cancel))
    finally:
        if own_reader:
            reader.close()


def _frame_source(reader, idx):
    """``(frame, image)`` of the frames ``idx``: decoded in one pass when they are contiguous."""
    if len(idx) > 1 and np.all(np.diff(idx) == 1) and hasattr(reader, "iter_frames"):
        return reader.iter_frames(int(idx[0]), int(idx[-1]) + 1)
    return ((int(i), reader[int(i)]) for i in idx)


def _check_render_args(out_path: Path, overwrite: bool, color_by: str) -> None:
    if out_path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise FormatError(f"Cannot write a labeled video to {out_path.name}: unsupported extension.",
                          path=out_path, hint=f"Use one of {', '.join(VIDEO_EXTENSIONS)}.")
    if out_path.exists() and not overwrite:
        raise FormatError(f"{out_path} already exists.", path=out_path,
                          hint="Pass --overwrite (overwrite=True) to replace it, or choose another name.")
    if color_by not in ("track", "node"):
        raise ConfigError(f"color_by must be 'track' or 'node', got {color_by!r}.", hint="Use --color-by track|node.")


def _track_colourer(table: PoseTable, k: int, color_by: str):
    """``colour_of_tracks(track_ids (I,)) -> (I, K, 3)``: by node, or by track (untracked: light grey)."""
    node_col = palette(k, "node")
    max_track = int(table.track_id.max()) + 1 if len(table) and table.track_id.max() >= 0 else 0
    track_col = palette(max(max_track, 1), "track")

    def colour_of_tracks(tids):
        if color_by == "node":
            return np.broadcast_to(node_col[None], (len(tids), k, 3))
        c = np.where((tids >= 0)[:, None], track_col[np.clip(tids, 0, None) % len(track_col)], 235.0)
        return np.broadcast_to(c[:, None, :], (len(tids), k, 3))

    return colour_of_tracks


def _encode(out_path: Path, source, draw, total: int, size: tuple[int, int], rate: float, crf: int, cancel):
    """Generator: H.264-encode ``draw(f, img)`` of each ``(f, img)`` of ``source`` into a partial file
    that replaces ``out_path`` when every frame is written. Returns ``out_path``, or None when cancelled."""
    import av  # noqa: PLC0415

    height, width = size
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    even_h, even_w = height + height % 2, width + width % 2
    container = av.open(str(tmp), mode="w")
    ok = False
    try:
        stream = container.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": "veryfast"}
        t0 = time.perf_counter()
        cancelled = False
        for n_done, (f, img) in enumerate(source, start=1):
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            drawn = draw(f, img)
            if (even_h, even_w) != (height, width):
                drawn = np.pad(drawn, ((0, even_h - height), (0, even_w - width), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(drawn, format="rgb24")):
                container.mux(packet)
            elapsed = time.perf_counter() - t0
            yield ProgressEvent("render", n_done, total, {"fps": n_done / max(elapsed, 1e-9)}, f"frame {f}")
        for packet in stream.encode():
            container.mux(packet)
        ok = not cancelled
    finally:
        container.close()
        if not ok:
            tmp.unlink(missing_ok=True)
    if not ok:
        return None
    tmp.replace(out_path)
    return out_path
