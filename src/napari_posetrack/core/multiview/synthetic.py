"""Synthetic rigs with known geometry: cameras, board poses, detections and rendered board images.

Used by the tests and handy to check a pipeline end to end: everything here is exact, so a
calibration or triangulation of it must give the truth back (up to the noise added).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .board import BoardSpec, Detection
from .camera import Camera, CameraGroup, rodrigues, rodrigues_inverse

__all__ = ["look_at", "synthetic_rig", "board_poses", "synthetic_detections", "render_board", "write_board_images",
           "walking_points", "write_synthetic_session"]


def look_at(center, target, up=(0, 0, 1)) -> np.ndarray:
    """4x4 world-to-camera transform of a camera at ``center`` looking at ``target``."""
    c, t, u = (np.asarray(v, float) for v in (center, target, up))
    fwd = (t - c) / np.linalg.norm(t - c)
    right = np.cross(fwd, u)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd])
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = -rot @ c
    return m


def synthetic_rig(n_cameras: int = 3, *, size=(640, 480), focal: float = 600.0, radius: float = 700.0,
                  height: float = 500.0, spread_deg: float = 120.0, dist=(0.0, 0.0), names=None) -> CameraGroup:
    """Cameras on an arc around the origin, looking at it; world = the first camera's frame.

    Returns the group; ``group.metadata["world_to_cam0"]`` is the 4x4 transform from the
    arc's frame (Z up, board area at the origin) to the first camera.
    """
    names = names or [f"cam{i}" for i in range(n_cameras)]
    w, h = size
    k = np.array([[focal, 0, (w - 1) / 2 + 3.0], [0, focal, (h - 1) / 2 - 2.0], [0, 0, 1]])
    angles = np.deg2rad(np.linspace(-spread_deg / 2, spread_deg / 2, n_cameras))
    mats = [look_at((radius * np.sin(a), -radius * np.cos(a), height), (0, 0, 0)) for a in angles]
    m0inv = np.linalg.inv(mats[0])
    cams = []
    for i, m in enumerate(mats):
        rel = m @ m0inv
        cams.append(Camera(names[i], size, k, np.r_[dist, 0, 0, 0][:5], rodrigues_inverse(rel[:3, :3]), rel[:3, 3]))
    return CameraGroup(cams, {"world_to_cam0": mats[0].tolist()})


def board_poses(board: BoardSpec, n: int, *, seed: int = 0, tilt_deg: float = 30.0) -> list[np.ndarray]:
    """``n`` board-to-arc-frame poses: the board near the origin, pattern facing up, tilted."""
    rng = np.random.default_rng(seed)
    cx = board.squares_x * board.square_length / 2
    cy = board.squares_y * board.square_length / 2
    out = []
    for _ in range(n):
        flip = rodrigues(np.array([np.pi, 0, 0]))  # board z (away from the viewer) points down
        tilt = rodrigues(np.r_[np.deg2rad(rng.uniform(-tilt_deg, tilt_deg, 2)), rng.uniform(-0.6, 0.6)])
        rot = tilt @ flip
        t = np.r_[rng.uniform(-60, 60, 2), rng.uniform(-30, 30)] - rot @ np.array([cx, cy, 0])
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = rot, t
        out.append(m)
    return out


def synthetic_detections(group: CameraGroup, board: BoardSpec, poses, *, noise_px: float = 0.2, seed: int = 0,
                         margin: int = 5) -> dict[str, list[Detection]]:
    """Project the board's corners (poses in the arc frame) into every camera, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    to_cam0 = np.asarray(group.metadata["world_to_cam0"])
    out = {c.name: [] for c in group.cameras}
    obj = board.object_points
    for key, pose in enumerate(poses):
        pw = (to_cam0 @ pose)
        world = obj @ pw[:3, :3].T + pw[:3, 3]
        for cam in group.cameras:
            uv = cam.project(world)
            w, h = cam.size
            inside = np.isfinite(uv).all(1) & (uv[:, 0] > margin) & (uv[:, 0] < w - margin) & (uv[:, 1] > margin) \
                & (uv[:, 1] < h - margin)
            ids = np.flatnonzero(inside)
            out[cam.name].append(Detection(key, f"{cam.name}-{key}.png", ids,
                                           uv[ids] + rng.normal(0, noise_px, (ids.size, 2)), cam.size))
    return out


def render_board(board: BoardSpec, camera: Camera, pose_cam: np.ndarray, *, px_per_unit: float = 4.0) -> np.ndarray:
    """Grey image (h, w) uint8 of the board seen by ``camera`` (no distortion) at board-to-camera ``pose_cam``."""
    from .errors import require_cv2

    cv2 = require_cv2()
    margin = 10
    bw = int(round(board.squares_x * board.square_length * px_per_unit))
    bh = int(round(board.squares_y * board.square_length * px_per_unit))
    if board.is_charuco:
        img = board._cv_board().generateImage((bw + 2 * margin, bh + 2 * margin), marginSize=margin)
    else:  # plain checkerboard, black square at the origin
        yy, xx = np.mgrid[0:bh + 2 * margin, 0:bw + 2 * margin]
        sq = board.square_length * px_per_unit
        cell = (np.floor((xx - margin) / sq) + np.floor((yy - margin) / sq)) % 2
        inside = (xx >= margin) & (xx < bw + margin) & (yy >= margin) & (yy < bh + margin)
        img = np.where(inside & (cell == 0), 0, 255).astype(np.uint8)
    # board units -> board image pixels
    a = np.array([[px_per_unit, 0, margin], [0, px_per_unit, margin], [0, 0, 1]])
    hmat = camera.matrix @ np.column_stack([pose_cam[:3, 0], pose_cam[:3, 1], pose_cam[:3, 3]])
    m = hmat @ np.linalg.inv(a)
    w, h = camera.size
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=90)


def write_board_images(folder, board: BoardSpec, group: CameraGroup, poses) -> dict[str, list[Path]]:
    """Render every pose in every camera as ``folder/<camera>/calibration_images/<camera>-<i>.png``."""
    from .errors import require_cv2

    cv2 = require_cv2()
    to_cam0 = np.asarray(group.metadata["world_to_cam0"])
    out = {}
    for cam in group.cameras:
        d = Path(folder) / cam.name / "calibration_images"
        d.mkdir(parents=True, exist_ok=True)
        ext = np.eye(4)
        ext[:3, :3], ext[:3, 3] = cam.rotation, cam.tvec
        files = []
        for i, pose in enumerate(poses):
            img = render_board(board, cam, ext @ to_cam0 @ pose)
            p = d / f"{cam.name}-{i}.png"
            cv2.imwrite(str(p), img)
            files.append(p)
        out[cam.name] = files
    return out


def walking_points(n_frames: int = 10, n_nodes: int = 5) -> np.ndarray:
    """(T, K, 3) points of a rigid chain of ``n_nodes`` (40 mm apart) moving in front of the rig (arc frame)."""
    base = np.stack([np.arange(n_nodes) * 40.0 - 20.0 * (n_nodes - 1), np.zeros(n_nodes), np.full(n_nodes, 30.0)], 1)
    out = []
    for t in range(n_frames):
        ang = 0.1 * t
        rot = rodrigues(np.array([0, 0, ang]))
        out.append(base @ rot.T + np.array([3.0 * t, 2.0 * t, 0]))
    return np.stack(out)


def write_synthetic_session(folder, group: CameraGroup, points_arc: np.ndarray, *, node_names=None, edges=(),
                            noise_px: float = 0.0, seed: int = 0, frame_counts: dict | None = None,
                            lead: dict | None = None, write_calibration: bool = True) -> Path:
    """Write a session folder: per camera a plain video (the camera's image size) and a ``.slp`` of the 2D points.

    ``points_arc`` (T, K, 3) are in the arc frame of :func:`synthetic_rig`; ``frame_counts``
    overrides a camera's video length, and ``lead`` starts a camera's recording that many frames
    early (its frame t + lead shows instant t), to make unsynchronised videos. Returns the folder.
    """
    from ..dataset import PoseDataset, VideoInfo
    from ..io import save_dataset
    from ..posetable import PoseTable
    from ..skeleton import Skeleton
    from ..video import VideoWriter
    from .camera import save_calibration

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    t_n, k_n, _ = points_arc.shape
    names = node_names or [f"n{i}" for i in range(k_n)]
    skel = Skeleton.from_names(names, [(names[a], names[b]) for a, b in edges])
    to_cam0 = np.asarray(group.metadata["world_to_cam0"])
    world = points_arc @ to_cam0[:3, :3].T + to_cam0[:3, 3]
    for cam in group.cameras:
        d = folder / cam.name
        d.mkdir(parents=True, exist_ok=True)
        early = int((lead or {}).get(cam.name, 0))
        n = (frame_counts or {}).get(cam.name, t_n + early)
        vid = d / f"{cam.name}.mp4"
        width, height = (int(v) for v in cam.size)  # the camera's image size, so labels fit the video's frame
        with VideoWriter(vid, fps=30) as w:
            for i in range(n):
                w.write(np.full((height, width, 3), (i * 20) % 255, np.uint8))
        uv = cam.project(world) + rng.normal(0, noise_px, (t_n, k_n, 2))
        m = max(0, min(n - early, t_n))
        table = PoseTable.from_arrays(uv[:m].astype(np.float32), frame_idx=np.arange(m) + early)
        ds = PoseDataset(skel, [VideoInfo(str(vid), n_frames=n, height=height, width=width, channels=3)], labels=table)
        save_dataset(ds, d / f"{cam.name}.slp", overwrite=True)
    if write_calibration:
        g = CameraGroup(group.cameras, {})
        save_calibration(g, folder / "calibration.toml")
    return folder
