"""Multi-view consistency: where a point must be in the other views, and 3D clean-up.

* :func:`predict_in_views`: from a node labelled in two or more views, its position in every
  camera (the reprojected 3D point) - a labelling aid and a check of the labels.
* :func:`predict_views`: the same for a whole session, camera by camera from the *other*
  cameras (leave one out): the predicted point where 2+ other views labelled the node, the
  epipolar curve where only one did, and the label's distance from the prediction.
* :func:`epipolar_curve`: the pixels in one camera where a point seen in another can lie
  (the other camera's ray, projected with distortion, so a curve rather than a line).
* :func:`smooth_poses`: a NaN-aware running median of the 3D points over time.
* :func:`constrain_bones`: drop the 3D point of a bone whose length is far from that bone's
  median length (the end with the larger reprojection error goes), with a status and message.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from .camera import CameraGroup
from .errors import TriangulationError
from .poses3d import Poses3D
from .session import Views2D
from .triangulate import BONE_LENGTH, OK, TriangulationConfig, triangulate_points
from .triangulate import _weights as _weights_of

__all__ = ["predict_in_views", "epipolar_curve", "smooth_poses", "constrain_bones", "BONE_LENGTH", "predict_views",
           "ViewPredictions", "EpipolarCurve", "reproject", "PREDICTED", "EPIPOLAR_ONLY", "NOT_SEEN", "view_weights",
           "weight_views"]


def predict_in_views(group: CameraGroup, observed: dict, *, max_error_px: float = 1e9) -> dict:
    """Positions in every camera of a point observed at ``{camera: (x, y)}`` in 2+ views.

    Returns ``{camera: (x, y)}`` for all cameras of ``group`` (NaN when the point is behind a
    camera), plus ``"_point3d"`` and ``"_error_px"`` (mean reprojection error of the observed views).
    """
    obs = {c: xy for c, xy in observed.items() if xy is not None and np.isfinite(np.asarray(xy, float)).all()}
    if len(obs) < 2:
        raise TriangulationError(f"A point needs 2 labelled views to be placed in the others; got {sorted(obs)}.",
                                 hint="Label the node in one more view.")
    sub = group.subset(list(obs))
    pts = np.array([np.asarray(obs[c], float) for c in obs])[:, None, :]
    res = triangulate_points(sub, pts, config=TriangulationConfig(ransac=False, max_error_px=max_error_px))
    x = res.points3d[0]
    out = {c.name: tuple(float(v) for v in c.project(x[None])[0]) for c in group.cameras}
    out["_point3d"] = tuple(float(v) for v in x)
    out["_error_px"] = float(res.error_px[0])
    return out


def epipolar_curve(group: CameraGroup, source: str, xy, target: str, *, near: float = 10.0, far: float = 5000.0,
                   n: int = 64) -> np.ndarray:
    """(M, 2) pixels in ``target`` of the ray through ``xy`` in ``source`` (depths near..far, world units).

    Only the part inside ``target``'s image is returned (possibly empty).
    """
    src, dst = group[source], group[target]
    ray = np.r_[src.undistort(np.asarray(xy, float)[None])[0], 1.0]
    depths = np.geomspace(near, far, n)
    cam_pts = depths[:, None] * ray[None]
    world = (cam_pts - src.tvec) @ src.rotation  # R^T (x - t)
    uv = dst.project(world)
    w, h = dst.size
    keep = np.isfinite(uv).all(1) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    return uv[keep]


def smooth_poses(poses: Poses3D, window: int = 5) -> Poses3D:
    """Running median of the 3D points over ``window`` frames (NaN-aware; gaps are not filled)."""
    if window < 2:
        return poses
    half = window // 2
    pts = poses.points
    pad = np.pad(pts, ((half, half), (0, 0), (0, 0), (0, 0)), constant_values=np.nan)
    wins = np.lib.stride_tricks.sliding_window_view(pad, window, axis=0)[: len(pts)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(wins, axis=-1)
    med[~np.isfinite(pts).all(-1)] = np.nan  # keep missing points missing
    return dataclasses.replace(poses, points=med)


def constrain_bones(poses: Poses3D, tolerance: float = 0.3) -> tuple[Poses3D, list[str]]:
    """Drop 3D points that make a bone longer or shorter than ``(1 +- tolerance)`` x its median.

    Returns the new poses (dropped points: NaN, status :data:`BONE_LENGTH`) and one message
    per dropped point.
    """
    if not poses.edges:
        return poses, []
    pts, status, err = poses.points.copy(), poses.status.copy(), poses.error_px
    msgs = []
    e = np.asarray(poses.edges, int)
    lengths = np.linalg.norm(pts[:, :, e[:, 0]] - pts[:, :, e[:, 1]], axis=-1)  # T, I, E
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(lengths, axis=0)  # I, E
    dev = np.abs(lengths / ref - 1)
    for t, i, j in zip(*np.nonzero(dev > tolerance)):
        a, b = e[j]
        if status[t, i, a] != OK or status[t, i, b] != OK:
            continue
        drop = a if err[t, i, a] >= err[t, i, b] else b
        pts[t, i, drop] = np.nan
        status[t, i, drop] = BONE_LENGTH
        msgs.append(f"frame {int(poses.frames[t])}, {poses.individuals[i]}, node {poses.node_names[drop]}: bone "
                    f"{poses.node_names[a]}-{poses.node_names[b]} is {lengths[t, i, j]:.1f} vs a median of "
                    f"{ref[i, j]:.1f}; 3D point dropped")
    n_views = np.where(status == OK, poses.n_views, 0)
    return dataclasses.replace(poses, points=pts, status=status, n_views=n_views,
                               error_px=np.where(status == OK, poses.error_px, np.nan)), msgs


# ---------------------------------------------------------------------- labelling aid over a whole session
@dataclass
class ViewPredictions:
    """Where every labelled node must be in each camera, judged from the *other* cameras.

    For camera ``c`` and (frame, individual, node): when two or more other cameras labelled the
    node, ``points[c]`` is their 3D point projected into ``c`` (a labelling aid where ``c`` has
    no label yet, a check where it has one: ``error_px`` is the label's distance from it).
    When exactly one other camera labelled it, the node lies on that camera's epipolar curve
    in ``c``: see ``curves``. ``status`` says which case applies, per camera and point, so a
    missing prediction always has a reason (:data:`PREDICTED`, :data:`EPIPOLAR_ONLY`,
    :data:`NOT_SEEN`).

    Attributes: ``points`` (C, T, I, K, 2), ``n_sources`` (C, T, I, K), ``error_px``
    (C, T, I, K; NaN where the camera has no label or no prediction), ``status`` (C, T, I, K),
    ``curves``: list of :class:`EpipolarCurve`; ``cameras``, ``frames``, ``individuals``,
    ``node_names``.
    """

    points: np.ndarray
    n_sources: np.ndarray
    error_px: np.ndarray
    status: np.ndarray
    curves: list
    cameras: list
    frames: np.ndarray
    individuals: list
    node_names: list

    def reason(self, camera: str, t: int, i: int, k: int) -> str:
        """Why ``camera`` has (or lacks) a predicted position for this point, in words."""
        c = self.cameras.index(camera)
        who = f"frame {int(self.frames[t])}, {self.individuals[i]}, node {self.node_names[k]}"
        st = int(self.status[c, t, i, k])
        if st == PREDICTED:
            e = self.error_px[c, t, i, k]
            tail = f"; the {camera} label is {e:.1f} px from it" if np.isfinite(e) else f"; not labelled in {camera}"
            return (f"{who}: predicted in {camera} from {int(self.n_sources[c, t, i, k])} other views "
                    f"at ({self.points[c, t, i, k, 0]:.1f}, {self.points[c, t, i, k, 1]:.1f}){tail}")
        if st == EPIPOLAR_ONLY:
            src = [cv.source for cv in self.curves if cv.camera == camera and (cv.t, cv.i, cv.k) == (t, i, k)]
            return (f"{who}: labelled in one other view only ({', '.join(src)}), so {camera} gets its epipolar "
                    "line, not a point; label it in a second view to place it")
        return f"{who}: labelled in no other view, so nothing can be predicted in {camera}"


@dataclass
class EpipolarCurve:
    """Pixels (M, 2) in ``camera`` where the node labelled in ``source`` can lie (frame index ``t``)."""

    camera: str
    source: str
    t: int
    i: int
    k: int
    pixels: np.ndarray


PREDICTED, EPIPOLAR_ONLY, NOT_SEEN = 0, 1, 2


def predict_views(views: Views2D, group: CameraGroup, config: TriangulationConfig | None = None, *,
                  epipolar: bool = True, curve_points: int = 48) -> ViewPredictions:
    """Leave-one-camera-out predictions for every camera of ``views`` (see :class:`ViewPredictions`).

    ``config`` is the triangulation of the other views (default: RANSAC with a 20 px threshold,
    so one wrong label among the others does not move the prediction). Epipolar curves are
    sampled at ``curve_points`` depths between 10 and 10 000 world units.
    """
    cams = list(views.cameras)
    sub = group.subset(cams)
    c_n, t_n, i_n, k_n, _ = views.points.shape
    cfg = config or TriangulationConfig()
    flat = views.points.reshape(c_n, -1, 2).astype(np.float64)
    scores = views.scores.reshape(c_n, -1)
    _, _, avail = _weights_of(flat, scores, cfg.min_score)
    pts = np.full((c_n, flat.shape[1], 2), np.nan)
    n_src = np.zeros((c_n, flat.shape[1]), np.int16)
    status = np.full((c_n, flat.shape[1]), NOT_SEEN, np.int8)
    curves: list[EpipolarCurve] = []
    for c in range(c_n):
        others = [j for j in range(c_n) if j != c]
        n_other = avail[others].sum(0)
        many = np.flatnonzero(n_other >= 2)
        if len(others) >= 2 and len(many):
            res = triangulate_points(sub.subset([cams[j] for j in others]), flat[others][:, many],
                                     scores[others][:, many], config=cfg)
            ok = res.status == OK
            pts[c, many[ok]] = sub[cams[c]].project(res.points3d[ok])
            n_src[c, many[ok]] = res.n_views[ok]
            status[c, many[ok]] = PREDICTED
        single = np.flatnonzero(n_other == 1)
        status[c, single] = EPIPOLAR_ONLY
        if not epipolar:
            continue
        for p in single:
            j = others[int(np.flatnonzero(avail[others, p])[0])]
            t, i, k = np.unravel_index(p, (t_n, i_n, k_n))
            px = epipolar_curve(sub, cams[j], flat[j, p], cams[c], near=10.0, far=10_000.0, n=curve_points)
            curves.append(EpipolarCurve(cams[c], cams[j], int(t), int(i), int(k), px))
    err = np.linalg.norm(pts - flat, axis=-1)
    err = np.where(avail & (status == PREDICTED), err, np.nan)
    shape = (c_n, t_n, i_n, k_n)
    return ViewPredictions(points=pts.reshape(*shape, 2), n_sources=n_src.reshape(shape),
                           error_px=err.reshape(shape), status=status.reshape(shape), curves=curves, cameras=cams,
                           frames=np.asarray(views.frames), individuals=list(views.individuals),
                           node_names=list(views.node_names))


def reproject(poses: Poses3D, group: CameraGroup) -> np.ndarray:
    """(C, T, I, K, 2) pixels of the 3D points of ``poses`` in each of its cameras (NaN where no 3D point)."""
    return np.stack([group[c].project(poses.points) for c in poses.cameras])


def view_weights(views: Views2D, group: CameraGroup, config: TriangulationConfig | None = None, *,
                 floor_px: float = 1.0, iterations: int = 3) -> dict:
    """Per-camera weights ``(floor / max(s, floor))**2`` from each camera's label noise ``s``.

    ``s`` is the median distance of a camera's labels from where the other cameras put them
    (:func:`predict_views`, leave one camera out), so a camera whose labels disagree with the
    others pulls less in a weighted DLT. The other cameras' predictions are themselves weighted
    by the previous round's weights (``iterations`` rounds), so one sloppy camera does not make
    the good ones look noisy. The largest weight is 1; a camera without an estimate gets 1.
    Multiply the 2D scores by these (:func:`weight_views`) before triangulating.
    """
    weights = {cam: 1.0 for cam in views.cameras}
    for _ in range(max(1, int(iterations))):
        pred = predict_views(weight_views(views, weights), group, config, epipolar=False)
        out = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for c, cam in enumerate(pred.cameras):
                s = float(np.nanmedian(pred.error_px[c]))
                out[cam] = (floor_px / max(s, floor_px)) ** 2 if np.isfinite(s) else None
        top = max((w for w in out.values() if w is not None), default=1.0)
        weights = {cam: (w / top if w is not None else 1.0) for cam, w in out.items()}
    return weights


def weight_views(views: Views2D, weights: dict) -> Views2D:
    """``views`` with each camera's scores multiplied by ``weights[camera]`` (user labels count as score 1)."""
    w = np.array([float(weights.get(c, 1.0)) for c in views.cameras], np.float32)
    scores = np.where(np.isnan(views.scores), 1.0, views.scores) * w[:, None, None, None]
    scores = np.where(np.isfinite(views.points).all(-1), scores, np.nan).astype(np.float32)
    return dataclasses.replace(views, scores=scores)
