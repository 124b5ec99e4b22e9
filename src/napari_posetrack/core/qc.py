"""Label quality control: render labeled frames to PNG, flag outlier instances (headless).

* :func:`iter_render_labeled_frames` draws every labeled frame with its skeleton (like
  DeepLabCut's ``check_labels``): filled dots for visible nodes, rings for occluded ones.
* :func:`find_label_outliers` flags instances whose bone lengths or joint angles have a large
  robust z-score (median / MAD) against the rest of the labels, and likely left/right swaps
  found through the skeleton's symmetry pairs.
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Callable, Generator

import numpy as np

from .posetable import UNLABELED, VISIBLE, PoseTable
from .progress import CancelToken, ProgressEvent

__all__ = ["node_colors", "draw_instances", "iter_render_labeled_frames", "bone_features",
           "robust_z", "swap_candidates", "find_label_outliers", "outlier_suggestions"]

_PALETTE = np.array([
    [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
    [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
    [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0], [255, 215, 180],
    [0, 0, 128], [128, 128, 128]], np.uint8)


def node_colors(n: int) -> np.ndarray:
    """(n, 3) uint8 distinct colours (cycled after 20)."""
    return _PALETTE[np.arange(n) % len(_PALETTE)]


def draw_instances(image: np.ndarray, table: PoseTable, edges, *, radius: int = 4,
                   line_color=(255, 255, 255)) -> np.ndarray:
    """RGB copy (h, w, 3) uint8 of ``image`` with the instances of ``table`` drawn on it."""
    from skimage.draw import circle_perimeter, disk, line_aa

    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, -1)
    img = np.ascontiguousarray(img[..., :3], np.uint8).copy()
    h, w = img.shape[:2]
    colors = node_colors(table.n_nodes)
    for i in range(len(table)):
        p, st = table.points[i], table.state[i]
        for a, b in edges:
            if st[a] != UNLABELED and st[b] != UNLABELED:
                ra, ca, rb, cb = (int(round(v)) for v in (p[a, 1], p[a, 0], p[b, 1], p[b, 0]))
                rr, cc, val = line_aa(ra, ca, rb, cb)
                ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
                alpha = val[ok, None]
                mixed = alpha * np.asarray(line_color) + (1 - alpha) * img[rr[ok], cc[ok]]
                img[rr[ok], cc[ok]] = mixed.astype(np.uint8)
        for k in range(table.n_nodes):
            if st[k] == UNLABELED or not np.isfinite(p[k]).all():
                continue
            c = (p[k, 1], p[k, 0])
            if st[k] == VISIBLE:
                rr, cc = disk(c, radius, shape=(h, w))
            else:
                rr, cc = circle_perimeter(int(round(c[0])), int(round(c[1])), radius, shape=(h, w))
            img[rr, cc] = colors[k]
    return img


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "video"


def iter_render_labeled_frames(dataset, out_dir, open_reader: Callable[[int], object], *,
                               table: PoseTable | None = None, radius: int = 4,
                               cancel: CancelToken | None = None) -> Generator[ProgressEvent, None, list[Path]]:
    """Write one PNG per labeled frame into ``out_dir``; returns the paths written.

    Files are named ``<video>_v<id>_f<frame>.png``. ``open_reader(video_id)`` gives a reader
    with ``reader[i] -> (h, w, c) uint8`` (e.g. ``store.open_video``).
    """
    import matplotlib.image as mpimg

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = dataset.labels if table is None else table
    groups = list(table.frame_groups())
    paths: list[Path] = []
    readers: dict[int, object] = {}
    try:
        for step, (vid, frame, rows) in enumerate(groups):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if vid not in readers:
                readers[vid] = open_reader(vid)
            image = readers[vid][frame]
            img = draw_instances(image, table.take(rows), dataset.skeleton.edges, radius=radius)
            stem = _safe(Path(str(dataset.videos[vid].path)).stem)
            p = out / f"{stem}_v{vid}_f{frame:06d}.png"
            mpimg.imsave(p, img)
            paths.append(p)
            yield ProgressEvent("render", step + 1, len(groups), message=p.name)
    finally:
        for r in readers.values():
            close = getattr(r, "close", None)
            if close:
                close()
    return paths


# ---------------------------------------------------------------------- outliers
def robust_z(values: np.ndarray) -> np.ndarray:
    """Robust z-scores along axis 0: (x - median) / (1.4826 * MAD), NaN kept; 0 where MAD is 0."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(values, axis=0)
        mad = 1.4826 * np.nanmedian(np.abs(values - med), axis=0)
        z = (values - med) / np.where(mad > 1e-9, mad, np.nan)
    return np.where(np.isfinite(values) & ~np.isfinite(z), 0.0, z)


def bone_features(table: PoseTable, edges) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Bone lengths (N, E) and joint angles (N, J) in radians (angle between two edges sharing a node).

    Returns lengths, angles and a label for each angle column.
    """
    pts = np.where(table.labeled[..., None], table.points, np.nan).astype(np.float64)
    e = np.asarray(edges, np.int64).reshape(-1, 2)
    vec = pts[:, e[:, 1]] - pts[:, e[:, 0]]
    lengths = np.linalg.norm(vec, axis=-1)
    angles, names = [], []
    for i in range(len(e)):
        for j in range(i + 1, len(e)):
            shared = set(e[i]) & set(e[j])
            if len(shared) != 1:
                continue
            s = shared.pop()
            u = pts[:, e[i][e[i] != s][0]] - pts[:, s]
            v = pts[:, e[j][e[j] != s][0]] - pts[:, s]
            with np.errstate(invalid="ignore"):
                ang = np.arctan2(np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]), (u * v).sum(1))
            angles.append(ang)
            names.append(f"{i}-{j}@{s}")
    a = np.stack(angles, 1) if angles else np.zeros((len(table), 0))
    return lengths, a, names


def swap_candidates(table: PoseTable, skeleton) -> np.ndarray:
    """(N,) bool: instances whose left/right pairs sit on the other side of the body axis.

    The body axis runs from the first to the last node that is in no symmetry pair; the side
    of each pair (sign of the cross product) is compared with the majority over all labels.
    """
    n = len(table)
    flags = np.zeros(n, bool)
    in_pair = {k for s in skeleton.symmetries for k in s}
    axis_nodes = [k for k in range(skeleton.n_nodes) if k not in in_pair]
    if not skeleton.symmetries or len(axis_nodes) < 2 or n < 3:
        return flags
    a0, a1 = axis_nodes[0], axis_nodes[-1]
    pts = np.where(table.labeled[..., None], table.points, np.nan).astype(np.float64)
    axis = pts[:, a1] - pts[:, a0]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True) + 1e-9
    for l, r in skeleton.symmetries:
        d = pts[:, r] - pts[:, l]
        norm = np.linalg.norm(d, axis=1) + 1e-9
        side = (axis[:, 0] * d[:, 1] - axis[:, 1] * d[:, 0]) / norm
        ok = np.isfinite(side) & (np.abs(side) > 0.3)
        if ok.sum() < 3:
            continue
        majority = np.sign(np.median(side[ok]))
        flags |= ok & (np.sign(side) != majority)
    return flags


def find_label_outliers(dataset, *, z_threshold: float = 3.5, table: PoseTable | None = None) -> list[dict]:
    """Instances to review, worst first.

    Returns
    -------
    list of dict
        ``row``, ``video_id``, ``frame_idx``, ``score`` (max |z|, or inf for swaps) and
        ``reasons`` (list of str).
    """
    t = dataset.labels if table is None else table
    sk = dataset.skeleton
    if not len(t):
        return []
    lengths, angles, ang_names = bone_features(t, sk.edges)
    zl = np.abs(robust_z(lengths)) if lengths.size else np.zeros((len(t), 0))
    za = np.abs(robust_z(angles)) if angles.size else np.zeros((len(t), 0))
    swaps = swap_candidates(t, sk)
    out = []
    for i in range(len(t)):
        reasons = []
        for e in np.flatnonzero(np.nan_to_num(zl[i]) > z_threshold):
            a, b = sk.edge_names[e]
            reasons.append(f"bone {a}-{b} length z={zl[i, e]:.1f}")
        for j in np.flatnonzero(np.nan_to_num(za[i]) > z_threshold):
            reasons.append(f"joint angle {ang_names[j]} z={za[i, j]:.1f}")
        if swaps[i]:
            reasons.append("likely left/right swap")
        if reasons:
            score = float(np.nanmax(np.concatenate([np.nan_to_num(zl[i]), np.nan_to_num(za[i]), [0]])))
            out.append(dict(row=i, video_id=int(t.video_id[i]), frame_idx=int(t.frame_idx[i]),
                            score=float("inf") if swaps[i] else score, reasons=reasons))
    out.sort(key=lambda d: -d["score"])
    return out


def outlier_suggestions(dataset, **kw) -> np.ndarray:
    """(M, 2) ``[video_id, frame_idx]`` of frames holding outlier instances, worst first, unique."""
    seen, out = set(), []
    for d in find_label_outliers(dataset, **kw):
        key = (d["video_id"], d["frame_idx"])
        if key not in seen:
            seen.add(key)
            out.append(key)
    return np.asarray(out, np.int64).reshape(-1, 2)
