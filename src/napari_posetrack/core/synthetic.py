"""Synthetic videos with ground truth, made offline by our own code.

- :func:`make_synthetic_clip`: articulated "animals" (head, thorax, abdomen, two wings) that
  walk, turn, bend and flap over a textured, noisy arena, with their exact poses, tracks and
  occlusions as a :class:`~napari_posetrack.core.dataset.PoseDataset`. The napari sample
  data, ``posetrack demo`` and the tests train and track on it.
- :func:`make_synthetic_video`: long, cheap test videos (a moving gradient with the frame
  number written in binary blocks, :func:`read_frame_number` reads it back), for seeking
  tests and benchmarks.

Everything is deterministic given ``seed``. Coordinates are pixel (x, y) with pixel centres
at integers (as napari displays them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import PoseDataset, VideoInfo
from .posetable import OCCLUDED, VISIBLE, PoseTable
from .skeleton import Skeleton

__all__ = [
    "SYNTHETIC_SKELETON",
    "make_synthetic_clip",
    "simulate_poses",
    "render_frame",
    "make_synthetic_video",
    "synthetic_video_frame",
    "read_frame_number",
]

NODE_NAMES = ["head", "thorax", "abdomen", "wing_left", "wing_right"]
SYNTHETIC_SKELETON = Skeleton.from_names(
    NODE_NAMES,
    edges=[("head", "thorax"), ("thorax", "abdomen"), ("thorax", "wing_left"), ("thorax", "wing_right")],
    symmetries=[("wing_left", "wing_right")],
    name="critter",
)

# (value, alpha) of each body part: head brightest, then thorax, abdomen, translucent wings
_PARTS = {"head": (235.0, 1.0), "thorax": (185.0, 1.0), "abdomen": (135.0, 1.0), "wing": (150.0, 0.6)}


def _rot(theta: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta)], axis=-1)


def simulate_poses(n_frames: int, n_animals: int, size: tuple[int, int], *, body_length: float | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random motion of articulated animals.

    Each animal is a random walk with inertia (velocity low-pass filtered), heading that
    follows the motion, a soft push away from the walls and from the other animals, a body
    that bends with turning and a slow sway, and flapping wings.

    Returns
    -------
    points : ndarray (n_frames, n_animals, 5, 2) float32
        (x, y) of head, thorax, abdomen, wing_left, wing_right.
    ellipses : ndarray (n_frames, n_animals, 5, 5) float32
        Body-part ellipses (cx, cy, semi-major, semi-minor, angle) for head, thorax, abdomen,
        left wing, right wing.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    length = body_length or 0.22 * min(h, w)
    scale = 1.0 - 0.12 * np.arange(n_animals) / max(1, n_animals - 1)  # animal 0 largest
    margin = 0.6 * length
    pos = np.column_stack([rng.uniform(margin, w - margin, n_animals), rng.uniform(margin, h - margin, n_animals)])
    vel = rng.normal(0, 1, (n_animals, 2))
    heading = np.arctan2(vel[:, 1], vel[:, 0])
    phase = rng.uniform(0, 2 * np.pi, (n_animals, 2))
    speed = 0.025 * length
    center = np.array([w / 2, h / 2])
    pts = np.zeros((n_frames, n_animals, 5, 2), np.float32)
    ell = np.zeros((n_frames, n_animals, 5, 5), np.float32)
    turn = np.zeros(n_animals)
    for t in range(n_frames):
        acc = rng.normal(0, 1, (n_animals, 2)) * speed
        for a in range(n_animals):  # walls and other animals push back
            lo = np.maximum(margin - pos[a], 0) / margin
            hi = np.maximum(pos[a] - (np.array([w, h]) - margin), 0) / margin
            acc[a] += (lo - hi) * 3 * speed + (center - pos[a]) * 0.002 * speed
            for b in range(n_animals):
                d = pos[a] - pos[b]
                dist = np.hypot(*d)
                if b != a and dist < 0.8 * length:
                    acc[a] += d / max(dist, 1e-3) * speed * 1.5
        vel = 0.92 * vel + acc
        sp = np.hypot(vel[:, 0], vel[:, 1])
        vel *= np.minimum(1.0, 6 * speed / np.maximum(sp, 1e-6))[:, None]
        pos = np.clip(pos + vel, 0.25 * length, np.array([w, h]) - 0.25 * length)
        target = np.arctan2(vel[:, 1], vel[:, 0])
        dtheta = (target - heading + np.pi) % (2 * np.pi) - np.pi
        dtheta *= np.clip(sp / (2 * speed), 0, 1) * 0.25
        heading = heading + dtheta
        turn = 0.8 * turn + 0.2 * dtheta
        bend = np.clip(-4.0 * turn, -0.6, 0.6) + 0.15 * np.sin(0.15 * t + phase[:, 0])
        flap = 0.25 * np.sin(0.6 * t + phase[:, 1])
        for a in range(n_animals):
            L = length * scale[a]
            fwd = _rot(heading[a])
            back = _rot(heading[a] + np.pi + bend[a])
            thorax = pos[a]
            head = thorax + fwd * 0.27 * L
            abdomen = thorax + back * 0.36 * L
            wl_dir = _rot(heading[a] + np.pi - (0.45 + flap[a]))
            wr_dir = _rot(heading[a] + np.pi + (0.45 + flap[a]))
            wing_l = thorax + wl_dir * 0.42 * L
            wing_r = thorax + wr_dir * 0.42 * L
            pts[t, a] = [head, thorax, abdomen, wing_l, wing_r]
            hd, ab = heading[a], heading[a] + bend[a]
            ell[t, a, 0] = [*head, 0.13 * L, 0.10 * L, hd]
            ell[t, a, 1] = [*thorax, 0.15 * L, 0.11 * L, hd]
            ell[t, a, 2] = [*(thorax + back * 0.30 * L), 0.24 * L, 0.11 * L, ab]
            ell[t, a, 3] = [*(thorax + wl_dir * 0.23 * L), 0.21 * L, 0.06 * L, np.arctan2(wl_dir[1], wl_dir[0])]
            ell[t, a, 4] = [*(thorax + wr_dir * 0.23 * L), 0.21 * L, 0.06 * L, np.arctan2(wr_dir[1], wr_dir[0])]
    return pts, ell


def _ellipse_coverage(shape, cx, cy, a, b, angle):
    """Anti-aliased coverage (0..1) of an ellipse over its bounding box: (slices, coverage)."""
    h, w = shape
    r = max(a, b) + 2
    x0, x1 = int(max(0, np.floor(cx - r))), int(min(w, np.ceil(cx + r) + 1))
    y0, y1 = int(max(0, np.floor(cy - r))), int(min(h, np.ceil(cy + r) + 1))
    if x0 >= x1 or y0 >= y1:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xs - cx, ys - cy
    c, s = np.cos(angle), np.sin(angle)
    u = (dx * c + dy * s) / a
    v = (-dx * s + dy * c) / b
    d = np.sqrt(u * u + v * v)
    cov = np.clip(0.5 - (d - 1.0) * min(a, b), 0.0, 1.0)
    return (slice(y0, y1), slice(x0, x1)), cov


def _background(size, rng) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    h, w = size
    tex = gaussian_filter(rng.normal(0, 1, (h, w)), sigma=max(2.0, min(h, w) / 40))
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    yy, xx = np.mgrid[0:h, 0:w]
    vignette = np.hypot((yy - h / 2) / h, (xx - w / 2) / w)
    return (62 + 9 * tex - 30 * vignette + 4 * rng.normal(0, 1, (h, w))).astype(np.float32)


def render_frame(background: np.ndarray, ellipses: np.ndarray, rng=None, noise: float = 4.0) -> np.ndarray:
    """Draw animals over a background. ``ellipses`` (n_animals, 5, 5) -> frame (h, w) uint8."""
    img = background.copy()
    values = [_PARTS["wing"], _PARTS["wing"], _PARTS["abdomen"], _PARTS["thorax"], _PARTS["head"]]
    for animal in ellipses:
        for part, (value, alpha) in zip((3, 4, 2, 1, 0), values):
            got = _ellipse_coverage(img.shape, *animal[part])
            if got is None:
                continue
            sl, cov = got
            cov = cov * alpha
            img[sl] = img[sl] * (1 - cov) + value * cov
    if noise and rng is not None:
        img += rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _occlusion(points: np.ndarray, ellipses: np.ndarray) -> np.ndarray:
    """State (n_animals, 5): 2 where a node lies under an animal drawn after it, else 1."""
    n = len(points)
    state = np.full(points.shape[:2], VISIBLE, np.uint8)
    for a in range(n):
        for b in range(a + 1, n):
            for cx, cy, ea, eb, ang in ellipses[b][:3]:
                dx, dy = points[a, :, 0] - cx, points[a, :, 1] - cy
                c, s = np.cos(ang), np.sin(ang)
                inside = ((dx * c + dy * s) / ea) ** 2 + ((-dx * s + dy * c) / eb) ** 2 < 1.0
                state[a, inside] = OCCLUDED
    return state


def make_synthetic_clip(out_dir, n_frames: int = 200, n_animals: int = 2, size: tuple[int, int] = (256, 256), *,
                        seed: int = 0, gop: int = 30, fps: float = 30.0, crf: int = 12, noise: float = 4.0,
                        name: str = "synthetic_clip", reuse: bool = False) -> dict:
    """Write a clip of moving articulated animals and return it with its ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``<name>.mp4`` (created if needed).
    n_frames, n_animals : int
    size : (height, width)
    seed : int
        Everything (background, motion, noise) follows from it.
    gop : int
        Keyframe interval of the H.264 file.
    fps : float
    crf : int
        x264 quality (lower is closer to the rendered frames).
    noise : float
        Standard deviation of the per-frame pixel noise.
    reuse : bool
        Keep an existing ``<name>.mp4`` that opens with ``n_frames`` frames of this size
        (the ground truth is recomputed, which is cheap) instead of rendering it again.

    Returns
    -------
    dict
        ``video``: Path of the mp4; ``dataset``: PoseDataset with the skeleton, one video,
        track names ``animal_0..``, and a label for every animal in every frame (state 1
        visible, 2 when under another animal; ``track_id`` = animal index).
    """
    from .video.writer import VideoWriter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{name}.mp4"
    points, ellipses = simulate_poses(n_frames, n_animals, size, seed=seed + 1)
    states = np.stack([_occlusion(points[t], ellipses[t]) for t in range(n_frames)])
    if not (reuse and _video_matches(video, n_frames, size)):
        rng = np.random.default_rng(seed)
        background = _background(size, rng)
        tmp = video.with_name(video.stem + ".partial.mp4")
        with VideoWriter(tmp, fps=fps, gop=gop, crf=crf, preset="veryfast") as writer:
            for t in range(n_frames):
                writer.write(render_frame(background, ellipses[t], rng, noise))
        tmp.replace(video)  # never leave a half-written clip under the final name
    labels = PoseTable.from_arrays(
        points.reshape(-1, len(NODE_NAMES), 2),
        frame_idx=np.repeat(np.arange(n_frames), n_animals),
        video_id=0,
        state=states.reshape(-1, len(NODE_NAMES)),
        track_id=np.tile(np.arange(n_animals), n_frames),
        source=0,
    )
    h, w = size
    info = VideoInfo(path=str(video), n_frames=n_frames, height=h, width=w, channels=1, fps=float(fps), kind="video")
    dataset = PoseDataset(
        skeleton=SYNTHETIC_SKELETON.copy(),
        videos=[info],
        track_names=[f"animal_{i}" for i in range(n_animals)],
        labels=labels,
    )
    return {"video": video, "dataset": dataset}


def _video_matches(path: Path, n_frames: int, size: tuple[int, int]) -> bool:
    from .errors import VideoError
    from .video import open_video

    if not path.exists():
        return False
    try:
        with open_video(path, read_ahead=0) as reader:
            return reader.shape[:3] == (n_frames, *size)
    except VideoError:
        return False


# ---------------------------------------------------------------------- long test videos
_BITS = 20  # frame numbers up to about one million


def synthetic_video_frame(i: int, size: tuple[int, int], *, color: bool = False, texture=None) -> np.ndarray:
    """Frame ``i`` of :func:`make_synthetic_video`: ``(h, w)`` or ``(h, w, 3)`` uint8."""
    h, w = size
    x = np.arange(w, dtype=np.int32)
    ramp = ((x + 3 * i) % 256).astype(np.uint8)
    img = np.broadcast_to(ramp, (h, w)).copy()
    if texture is not None:
        img = img // 2 + texture
    block = max(4, w // (_BITS + 4))
    bh = max(8, block)
    for b in range(_BITS):
        img[0:bh, (b + 1) * block : (b + 2) * block] = 255 if (i >> b) & 1 else 0
    cy, cx = int(h / 2 + h / 4 * np.sin(i / 25)), int(w / 2 + w / 4 * np.cos(i / 40))
    r = max(4, min(h, w) // 20)
    img[max(bh, cy - r) : cy + r, max(0, cx - r) : cx + r] = 200
    if color:
        img = np.stack([img, np.roll(img, 7, axis=1), 255 - img], axis=-1)
    return img


def read_frame_number(frame: np.ndarray) -> int:
    """Read back the frame number written by :func:`synthetic_video_frame` (robust to coding)."""
    img = frame[..., 0] if frame.ndim == 3 else frame
    h, w = img.shape
    block = max(4, w // (_BITS + 4))
    bh = max(8, block)
    value = 0
    for b in range(_BITS):
        patch = img[bh // 4 : 3 * bh // 4, (b + 1) * block + block // 4 : (b + 2) * block - block // 4]
        if patch.mean() > 127:
            value |= 1 << b
    return value


def make_synthetic_video(path, n_frames: int = 1000, size: tuple[int, int] = (240, 320), *, gop: int = 30,
                         fps: float = 30.0, color: bool = False, noise: float = 0.0, crf: int = 23,
                         preset: str = "ultrafast", bframes: int | None = None, seed: int = 0,
                         faststart: bool = False) -> Path:
    """Write a long test video fast: a moving ramp, a moving square and the frame number.

    Frame ``i`` shows ``i`` in binary blocks along the top (:func:`read_frame_number`), so a
    reader's frame accuracy can be checked on any frame without a reference decode.

    Parameters
    ----------
    path : str or Path
    n_frames : int
    size : (height, width)
    gop : int
        Keyframe interval.
    color : bool
        RGB frames instead of grey.
    noise : float
        A static texture of this amplitude (makes the picture less trivial to encode).
    crf, preset, bframes
        x264 settings (``ultrafast`` has no B-frames; use ``veryfast`` to get them).
    faststart : bool
        MP4 index at the start of the file.

    Returns
    -------
    Path
    """
    from .video.writer import VideoWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    texture = None
    if noise:
        rng = np.random.default_rng(seed)
        texture = np.clip(rng.normal(64, noise, size), 0, 127).astype(np.uint8)
    with VideoWriter(path, fps=fps, gop=gop, crf=crf, preset=preset, bframes=bframes, faststart=faststart) as writer:
        for i in range(n_frames):
            writer.write(synthetic_video_frame(i, size, color=color, texture=texture))
    return path
