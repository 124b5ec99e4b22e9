"""Calibrate a camera rig from synchronised views of a board.

Steps (:func:`calibrate_detections`):

1. drop detections with too few corners (and say which); a camera with fewer than
   ``min_views`` usable images is an error that names the images where the board was not found;
2. intrinsics and distortion per camera with OpenCV's ``calibrateCamera`` (Zhang's method), which
   also gives each board pose in each camera;
3. extrinsics relative to the reference camera from board views seen by two cameras at once
   (rotation averaged over the shared views, translation median), chained through other cameras
   when a camera never sees the board together with the reference;
4. bundle adjustment of every camera (pose, focal length, principal point, k1, k2) and every
   board pose with ``scipy.optimize.least_squares`` (sparse Jacobian, Huber loss);
5. per board view, the detection with the worst median reprojection error is dropped when it is
   far above the rest (named in the report) and the adjustment is run again, for a few rounds, so
   one bad image does not take the good views of the same instant with it.

Why OpenCV and scipy: OpenCV's ArUco/ChArUco detector and ``calibrateCamera`` are the reference
implementations (the same ones anipose and DeepLabCut call); the bundle adjustment is ~150 lines
of numpy on top of scipy's sparse trust-region solver, which we can test and report on, so we
did not add aniposelib (and its pinned OpenCV contrib build) as a dependency.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .board import BoardSpec, Detection
from .camera import Camera, CameraGroup, rodrigues, rodrigues_inverse
from .errors import CalibrationError, require_cv2

__all__ = ["CalibrationConfig", "CalibrationReport", "calibrate_detections", "bundle_adjust"]

# per-camera parameter layout in the adjustment
_CAM = ("r0", "r1", "r2", "t0", "t1", "t2", "f", "cx", "cy", "k1", "k2")


@dataclass
class CalibrationConfig:
    """Options of :func:`calibrate_detections`.

    Parameters
    ----------
    reference : camera whose frame is the world frame (default: the first camera).
    min_corners : detections with fewer corners are dropped.
    min_views : each camera needs at least this many usable board images.
    fix_principal_point : keep the principal point at the image centre (robust when the board
        covers a small part of the image or moves little); False refines it too.
    distortion : "k1" or "k1k2" (radial terms refined; tangential and k3 are zero).
    outlier_px : a detection whose median reprojection error exceeds
        ``max(outlier_px, outlier_factor * median of all detections)`` is dropped (the worst one
        per board view per round, for at most ``max_rounds`` rounds).
    """

    reference: str | None = None
    min_corners: int = 8
    min_views: int = 3
    fix_principal_point: bool = False
    distortion: str = "k1k2"
    outlier_px: float = 3.0
    outlier_factor: float = 5.0
    huber_px: float = 2.0
    max_nfev: int = 100
    max_rounds: int = 5

    def __post_init__(self):
        if self.distortion not in ("k1", "k1k2"):
            raise CalibrationError(f"distortion must be 'k1' or 'k1k2'; got {self.distortion!r}.")
        if self.min_views < 1 or self.min_corners < 4:
            raise CalibrationError("min_views must be >= 1 and min_corners >= 4 (6 or more recommended).")


@dataclass
class CalibrationReport:
    """Reprojection errors after adjustment, and what was dropped.

    ``per_camera``: rows ``{camera, views, corners, median_px, p95_px, mean_px}``;
    ``per_view``: rows ``{camera, key, source, corners, median_px, max_px}``;
    ``dropped``: rows ``{camera, source, reason}``.
    """

    per_camera: list[dict] = field(default_factory=list)
    per_view: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    reference: str = ""
    n_shared_views: int = 0
    cost_initial: float = float("nan")
    cost_final: float = float("nan")

    def to_dict(self) -> dict:
        return {"per_camera": self.per_camera, "per_view": self.per_view, "dropped": self.dropped,
                "reference": self.reference, "n_shared_views": self.n_shared_views}

    def summary(self) -> str:
        lines = [f"reference camera: {self.reference}; board views seen by >= 2 cameras: {self.n_shared_views}",
                 f"{'camera':<12}{'views':>6}{'corners':>9}{'median px':>11}{'p95 px':>9}"]
        for r in self.per_camera:
            lines.append(f"{r['camera']:<12}{r['views']:>6}{r['corners']:>9}{r['median_px']:>11.3f}{r['p95_px']:>9.3f}")
        for d in self.dropped:
            lines.append(f"dropped {d['camera']} {d['source']}: {d['reason']}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- helpers
def _pose(rvec, tvec) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rodrigues(np.asarray(rvec, float).ravel())
    m[:3, 3] = np.asarray(tvec, float).ravel()
    return m


def _mean_pose(mats: list[np.ndarray]) -> np.ndarray:
    """Chordal mean of the rotations, median of the translations."""
    rs = np.stack([m[:3, :3] for m in mats])
    u, _, vt = np.linalg.svd(rs.sum(0))
    rot = u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = np.median(np.stack([m[:3, 3] for m in mats]), axis=0)
    return out


def _intrinsics(cv2, board: BoardSpec, dets: list[Detection], size, cfg: CalibrationConfig):
    obj = [board.object_points[d.ids].astype(np.float32) for d in dets]
    img = [d.corners.astype(np.float32).reshape(-1, 1, 2) for d in dets]
    w, h = size
    k0 = np.array([[max(w, h), 0, (w - 1) / 2], [0, max(w, h), (h - 1) / 2], [0, 0, 1]], np.float64)
    flags = (cv2.CALIB_USE_INTRINSIC_GUESS | cv2.CALIB_FIX_ASPECT_RATIO | cv2.CALIB_ZERO_TANGENT_DIST
             | cv2.CALIB_FIX_K3)
    if cfg.distortion == "k1":
        flags |= cv2.CALIB_FIX_K2
    if cfg.fix_principal_point:
        flags |= cv2.CALIB_FIX_PRINCIPAL_POINT
    try:
        rms, k, dist, rvecs, tvecs = cv2.calibrateCamera(obj, img, (int(w), int(h)), k0, np.zeros(5), flags=flags)
    except cv2.error as exc:
        raise CalibrationError(f"OpenCV could not calibrate from {len(dets)} views: {exc}".strip(),
                               hint="Use more board images with the board at different angles and distances.") from None
    poses = {d.key: _pose(r, t) for d, r, t in zip(dets, rvecs, tvecs)}
    return float(rms), k, np.asarray(dist, float).ravel(), poses


# ---------------------------------------------------------------------- main entry
def calibrate_detections(detections: dict[str, list[Detection]], board: BoardSpec,
                         config: CalibrationConfig | None = None, *, image_sizes: dict | None = None):
    """Calibrate the cameras of ``detections`` (camera name -> detections in its images).

    Detections of different cameras with the same ``key`` show the board at the same instant.
    Returns ``(CameraGroup, CalibrationReport)``.
    """
    cfg = config or CalibrationConfig()
    cv2 = require_cv2()
    names = list(detections)
    if not names:
        raise CalibrationError("No cameras to calibrate.", hint="Give at least one camera's board images.")
    ref = cfg.reference or names[0]
    if ref not in names:
        raise CalibrationError(f"Reference camera {ref!r} is not among the cameras {names}.",
                               hint="Pass one of those names as the reference.")
    report = CalibrationReport(reference=ref)
    good = {cam: _usable_detections(cam, detections[cam], cfg, report) for cam in names}
    sizes = {}
    for cam in names:
        s = (image_sizes or {}).get(cam) or good[cam][0].image_size
        sizes[cam] = (int(s[0]), int(s[1]))
    # 1. intrinsics and board poses per camera
    intr, poses = {}, {}
    for cam in names:
        rms, k, dist, p = _intrinsics(cv2, board, good[cam], sizes[cam], cfg)
        intr[cam] = (k, dist, rms)
        poses[cam] = p
    # 2. extrinsics from the shared views; 3. board poses in the world frame
    ext = _extrinsics(names, poses, ref, report)
    boards = _world_board_poses(names, poses, good, ext)
    cams = _initial_cameras(names, intr, ext, sizes, cfg)
    # 4. adjust, dropping the worst outlying detection of each board view for a few rounds
    group, errs = _adjust_dropping_outliers(cams, boards, good, board, cfg, ref, report)
    _report_errors(report, names, good, errs)
    group.metadata = {
        "reference": ref,
        "board": board.to_dict(),
        "adjusted": True,
        "error_px": {r["camera"]: {"median": r["median_px"], "p95": r["p95_px"]} for r in report.per_camera},
        "dropped": [f"{d['camera']} {d['source']}: {d['reason']}" for d in report.dropped],
    }
    return group, report


def _usable_detections(cam: str, dets: list[Detection], cfg: CalibrationConfig, report: CalibrationReport):
    """The detections of ``cam`` with enough corners (the others listed as dropped); too few is an error."""
    keep, missing = [], []
    for d in dets:
        if len(d) < cfg.min_corners:
            reason = ("board not found" if len(d) == 0 else
                      f"only {len(d)} corners found, at least {cfg.min_corners} needed")
            report.dropped.append({"camera": cam, "source": d.source, "reason": reason})
            missing.append(d.source)
        else:
            keep.append(d)
    if len(keep) < cfg.min_views:
        shown = ", ".join(missing[:20]) + (f" ... ({len(missing)} in all)" if len(missing) > 20 else "")
        raise CalibrationError(
            f"Camera {cam!r}: the board was found in {len(keep)} of {len(dets)} images, but at least "
            f"{cfg.min_views} are needed. Not found (or too few corners) in: {shown or 'no images given'}.",
            hint="Check the board description (squares, marker size, dictionary) and record more images in "
            "which the whole board is sharp and visible.")
    return keep


def _extrinsics(names: list[str], poses: dict, ref: str, report: CalibrationReport) -> dict:
    """camera -> 4x4 world-to-camera, breadth-first from the reference through board views seen together."""
    ext = {ref: np.eye(4)}
    keys_of = {cam: set(poses[cam]) for cam in names}
    counts = defaultdict(int)
    for key in set().union(*keys_of.values()):
        counts[key] = sum(key in keys_of[c] for c in names)
    report.n_shared_views = sum(1 for v in counts.values() if v >= 2)
    while len(ext) < len(names):
        best = None
        for b in names:
            if b in ext:
                continue
            for a in ext:
                shared = keys_of[a] & keys_of[b]
                if shared and (best is None or len(shared) > best[2]):
                    best = (a, b, len(shared))
        if best is None:
            lonely = [c for c in names if c not in ext]
            raise CalibrationError(
                f"Camera(s) {lonely} never see the board at the same time as the calibrated cameras {sorted(ext)}.",
                hint="Record board views that two cameras see at once (synchronised images share their last number, "
                "e.g. back-...-7.jpg and mid-...-7.jpg), linking every camera to the others.")
        a, b, _ = best
        cands = [poses[b][k] @ np.linalg.inv(poses[a][k]) @ ext[a] for k in keys_of[a] & keys_of[b]]
        ext[b] = _mean_pose(cands)
    return ext


def _world_board_poses(names: list[str], poses: dict, good: dict, ext: dict) -> dict:
    """Board view key -> 4x4 board-to-world, from the camera that saw most of its corners."""
    boards = {}
    for key in sorted(set().union(*(set(poses[c]) for c in names))):
        cam = max((c for c in names if key in poses[c]),
                  key=lambda c: next(len(d) for d in good[c] if d.key == key))
        boards[key] = np.linalg.inv(ext[cam]) @ poses[cam][key]
    return boards


def _initial_cameras(names, intr, ext, sizes, cfg: CalibrationConfig) -> list[Camera]:
    """Cameras from OpenCV's intrinsics (one focal length, square pixels) and the extrinsics."""
    cams = []
    for cam in names:
        k, dist, _ = intr[cam]
        f = (k[0, 0] + k[1, 1]) / 2
        kk = np.array([[f, 0, k[0, 2]], [0, f, k[1, 2]], [0, 0, 1]])
        d5 = np.array([dist[0], dist[1] if cfg.distortion == "k1k2" else 0.0, 0, 0, 0])
        cams.append(Camera(cam, sizes[cam], kk, d5, rodrigues_inverse(ext[cam][:3, :3]), ext[cam][:3, 3]))
    return cams


def _adjust_dropping_outliers(cams, boards, good, board, cfg: CalibrationConfig, ref: str,
                              report: CalibrationReport):
    """Bundle adjustment; in each round the worst outlying detection of each board view is dropped."""
    names = [c.name for c in cams]
    quick = min(cfg.max_nfev, 30)  # outlier rounds need no full convergence; the last adjustment does
    group, poses_w, errs, cost0, _ = bundle_adjust(cams, boards, good, board, cfg, ref, max_nfev=quick)
    report.cost_initial = cost0
    for _ in range(cfg.max_rounds):
        worst, limit = _worst_per_view(names, good, errs, cfg)
        if not worst:
            break
        for m, cam, d in worst.values():
            report.dropped.append({"camera": cam, "source": d.source,
                                   "reason": f"median reprojection error {m:.2f} px > {limit:.2f} px"})
            good[cam] = [x for x in good[cam] if x is not d]
            if len(good[cam]) < cfg.min_views:
                raise CalibrationError(
                    f"Camera {cam!r}: only {len(good[cam])} board images agree with the others (at least "
                    f"{cfg.min_views} needed); the rest reproject worse than {limit:.1f} px.",
                    hint="The images may not be synchronised across cameras, or the board description may be wrong.")
        keys_left = set().union(*(set(d.key for d in good[c]) for c in names))
        poses_w = {k: v for k, v in poses_w.items() if k in keys_left}
        group, poses_w, errs, _, _ = bundle_adjust(group.cameras, poses_w, good, board, cfg, ref, max_nfev=quick)
    group, poses_w, errs, _, _ = bundle_adjust(group.cameras, poses_w, good, board, cfg, ref)
    report.cost_final = float(sum(float(np.sum(e ** 2)) for e in errs.values()))
    return group, errs


def _worst_per_view(names, good, errs, cfg: CalibrationConfig):
    """Per board view key, ``(median px, camera, detection)`` of its worst detection above the limit; and the limit."""
    med_all = np.median(np.concatenate([e for e in errs.values()]))
    limit = max(cfg.outlier_px, cfg.outlier_factor * med_all)
    worst: dict[int, tuple[float, str, Detection]] = {}
    for cam in names:
        for d in good[cam]:
            m = float(np.median(errs[(cam, d.key)]))
            if m > limit and (d.key not in worst or m > worst[d.key][0]):
                worst[d.key] = (m, cam, d)
    return worst, limit


def _report_errors(report: CalibrationReport, names, good, errs) -> None:
    for cam in names:
        e = np.concatenate([errs[(cam, d.key)] for d in good[cam]])
        report.per_camera.append({"camera": cam, "views": len(good[cam]), "corners": int(e.size),
                                  "median_px": float(np.median(e)), "p95_px": float(np.percentile(e, 95)),
                                  "mean_px": float(e.mean())})
        for d in good[cam]:
            ev = errs[(cam, d.key)]
            report.per_view.append({"camera": cam, "key": int(d.key), "source": d.source, "corners": int(ev.size),
                                    "median_px": float(np.median(ev)), "max_px": float(ev.max())})


def bundle_adjust(cameras: list[Camera], board_poses: dict, detections: dict[str, list[Detection]],
                  board: BoardSpec, cfg: CalibrationConfig, reference: str, *, max_nfev: int | None = None):
    """Refine cameras and board poses (4x4 board-to-world) jointly.

    Returns ``(CameraGroup, board_poses, errors, initial_cost, result)`` where ``errors[(camera,
    key)]`` holds the per-corner reprojection errors (px) of each detection.
    """
    from scipy.optimize import least_squares

    names = [c.name for c in cameras]
    keys = sorted(board_poses)
    ci, vi, pts, uv, owner = _observations(names, detections, {k: i for i, k in enumerate(keys)}, board)
    full_cam = np.array([np.r_[c.rvec, c.tvec, (c.matrix[0, 0] + c.matrix[1, 1]) / 2, c.matrix[0, 2],
                               c.matrix[1, 2], c.dist[0], c.dist[1]] for c in cameras])
    free = np.ones_like(full_cam, dtype=bool)
    free[names.index(reference), :6] = False
    if cfg.fix_principal_point:
        free[:, 7:9] = False
    if cfg.distortion == "k1":
        free[:, 10] = False
    full_view = np.array([np.r_[rodrigues_inverse(board_poses[k][:3, :3]), board_poses[k][:3, 3]] for k in keys])
    n_free_cam = int(free.sum())
    x0 = np.r_[full_cam[free], full_view.ravel()]

    def unpack(x):
        cp = full_cam.copy()
        cp[free] = x[:n_free_cam]
        return cp, x[n_free_cam:].reshape(len(keys), 6)

    def residuals(x):
        cp, vp = unpack(x)
        return (_project_corners(cp, vp, ci, vi, pts) - uv).ravel()

    sp = _jacobian_sparsity(ci, vi, free, x0.size)
    r0 = residuals(x0)
    res = least_squares(residuals, x0, jac_sparsity=sp, method="trf", loss="huber", f_scale=cfg.huber_px,
                        x_scale="jac", max_nfev=max_nfev or cfg.max_nfev, ftol=1e-5, xtol=1e-7)
    cp, vp = unpack(res.x)
    out = []
    for c, cam in enumerate(cameras):
        p = cp[c]
        k = np.array([[p[6], 0, p[7]], [0, p[6], p[8]], [0, 0, 1]])
        out.append(Camera(cam.name, cam.size, k, np.array([p[9], p[10], 0, 0, 0]), p[:3], p[3:6]))
    new_poses = {k: _pose(vp[i, :3], vp[i, 3:]) for i, k in enumerate(keys)}
    err = np.linalg.norm(residuals(res.x).reshape(-1, 2), axis=1)
    return CameraGroup(out), new_poses, _errors_by_detection(err, owner), float(np.sum(r0 ** 2)), res


def _observations(names, detections, kidx: dict, board: BoardSpec):
    """Per observed corner: camera index, board view index, board point, pixel, and ``(camera, key)``."""
    ci, vi, pts, uv, owner = [], [], [], [], []
    for c, cam in enumerate(names):
        for d in detections[cam]:
            if d.key not in kidx:
                continue
            n = len(d)
            ci.append(np.full(n, c))
            vi.append(np.full(n, kidx[d.key]))
            pts.append(board.object_points[d.ids])
            uv.append(d.corners)
            owner += [(cam, d.key)] * n
    return np.concatenate(ci), np.concatenate(vi), np.concatenate(pts), np.concatenate(uv), owner


def _project_corners(cp, vp, ci, vi, pts) -> np.ndarray:
    """Pixels of the board corners ``pts`` (board frame) in camera ``ci`` for board pose ``vi`` (k1, k2 radial)."""
    rv, rc = rodrigues(vp[:, :3]), rodrigues(cp[:, :3])
    xw = np.einsum("nij,nj->ni", rv[vi], pts) + vp[vi, 3:]
    xc = np.einsum("nij,nj->ni", rc[ci], xw) + cp[ci, 3:6]
    xy = xc[:, :2] / xc[:, 2:3]
    r2 = (xy ** 2).sum(1)
    radial = 1 + r2 * (cp[ci, 9] + r2 * cp[ci, 10])
    return xy * radial[:, None] * cp[ci, 6:7] + cp[ci, 7:9]


def _jacobian_sparsity(ci, vi, free, n_params: int):
    """Each corner's two residuals depend on its camera's free parameters and its board pose."""
    from scipy.sparse import lil_matrix

    n_obs, n_free_cam = len(ci), int(free.sum())
    sp = lil_matrix((2 * n_obs, n_params), dtype=np.int8)
    col_of = np.full(free.shape, -1)
    col_of[free] = np.arange(n_free_cam)
    rows = np.arange(n_obs)
    for j in range(len(_CAM)):
        cols = col_of[ci, j]
        ok = cols >= 0
        sp[2 * rows[ok], cols[ok]] = 1
        sp[2 * rows[ok] + 1, cols[ok]] = 1
    for j in range(6):
        cols = n_free_cam + 6 * vi + j
        sp[2 * rows, cols] = 1
        sp[2 * rows + 1, cols] = 1
    return sp


def _errors_by_detection(err: np.ndarray, owner: list) -> dict:
    """``(camera, key)`` -> the per-corner errors of that detection."""
    errs: dict = defaultdict(list)
    owner_arr = np.array([f"{a}\x00{b}" for a, b in owner])
    for tag in np.unique(owner_arr):
        cam, key = tag.split("\x00")
        errs[(cam, int(key))] = err[owner_arr == tag]
    return dict(errs)
