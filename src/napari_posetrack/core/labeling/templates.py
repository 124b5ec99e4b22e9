"""Templates for new instances, copying frames, navigation and labeling progress (headless)."""

from __future__ import annotations

import warnings

import numpy as np

from ..posetable import UNLABELED, VISIBLE, PoseTable
from .commands import AddInstances, LabelingError, check_skeleton

__all__ = [
    "mean_pose",
    "nearest_instance_pose",
    "template_offsets",
    "place_template",
    "new_instance",
    "copy_frame_command",
    "previous_labeled_frame",
    "next_unlabeled_suggestion",
    "labeling_progress",
]


def _centred(points: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """(N, K, 2) points minus each instance's centroid of labeled nodes (NaN where unlabeled)."""
    pts = np.where(labeled[..., None], points, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        c = np.nanmean(pts, axis=1, keepdims=True)
    return pts - c


def _circle(n_nodes: int, radius: float) -> np.ndarray:
    ang = np.linspace(0, 2 * np.pi, n_nodes, endpoint=False) - np.pi / 2
    return np.stack([np.cos(ang), np.sin(ang)], 1).astype(np.float32) * radius


def mean_pose(labels: PoseTable, n_nodes: int, *, default_radius: float = 20.0) -> np.ndarray:
    """Average pose of the labels, centred on (0, 0).

    Parameters
    ----------
    labels : PoseTable
        User labels (any videos).
    n_nodes : int
        Number of skeleton nodes K.
    default_radius : float
        Radius of the circle used for nodes that were never labeled.

    Returns
    -------
    ndarray (K, 2) float32
        Offsets (x, y) from the instance centre.
    """
    out = _circle(n_nodes, default_radius)
    if len(labels) and labels.n_nodes == n_nodes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmean(_centred(labels.points, labels.labeled), axis=0)
        ok = np.isfinite(m).all(1)
        if ok.any():
            spread = float(np.nanmax(np.linalg.norm(m[ok], axis=1))) or default_radius
            out = _circle(n_nodes, spread)
            out[ok] = m[ok]
    return out.astype(np.float32)


def nearest_instance_pose(labels: PoseTable, video_id: int, frame_idx: int) -> np.ndarray | None:
    """Centred pose (K, 2) of an instance in the nearest labeled frame (earlier frames first).

    Returns None if the video has no labels. Unlabeled nodes are NaN.
    """
    sel = np.flatnonzero((labels.video_id == video_id) & labels.labeled.any(1))
    if not len(sel):
        return None
    f = labels.frame_idx[sel]
    before = sel[f <= frame_idx]
    if len(before):
        cand = before[labels.frame_idx[before] == labels.frame_idx[before].max()]
    else:
        after = sel[f > frame_idx]
        cand = after[labels.frame_idx[after] == labels.frame_idx[after].min()]
    r = cand[np.argmax(labels.labeled[cand].sum(1))]
    return _centred(labels.points[r : r + 1], labels.labeled[r : r + 1])[0].astype(np.float32)


def template_offsets(dataset, video_id: int, frame_idx: int, kind: str = "mean") -> np.ndarray:
    """Template offsets (K, 2): ``kind`` is ``"mean"`` (mean pose) or ``"nearest"`` (copy of the
    nearest previous instance; falls back to the mean pose where a node is missing)."""
    check_skeleton(dataset)
    k = dataset.skeleton.n_nodes
    mean = mean_pose(dataset.labels, k, default_radius=_default_radius(dataset, video_id))
    if kind == "mean":
        return mean
    if kind != "nearest":
        raise LabelingError(f"Unknown template {kind!r}.", hint="Use 'mean' or 'nearest'.")
    near = nearest_instance_pose(dataset.labels, video_id, frame_idx)
    if near is None:
        return mean
    return np.where(np.isfinite(near), near, mean).astype(np.float32)


def _default_radius(dataset, video_id: int) -> float:
    if 0 <= video_id < len(dataset.videos):
        v = dataset.videos[video_id]
        if v.width and v.height:
            return 0.08 * min(v.width, v.height)
    return 20.0


def place_template(offsets: np.ndarray, center_xy, width: int = 0, height: int = 0) -> np.ndarray:
    """Template offsets moved to ``center_xy`` (x, y) and clamped inside a ``width`` x ``height`` image."""
    pts = np.asarray(offsets, np.float32) + np.asarray(center_xy, np.float32)[None]
    if width and height:
        pts[:, 0] = np.clip(pts[:, 0], 0, width - 1)
        pts[:, 1] = np.clip(pts[:, 1], 0, height - 1)
    return pts


def new_instance(dataset, video_id: int, frame_idx: int, center_xy, *, template: str = "mean",
                 only_node: int | None = None, track_id: int = -1) -> AddInstances:
    """Command that adds one instance at ``center_xy`` (x, y).

    With ``only_node`` the instance gets only that node, exactly at ``center_xy`` (node-by-node
    placing); otherwise the whole template is dropped around the click.
    """
    check_skeleton(dataset)
    from .commands import check_inside

    check_inside(dataset, video_id, np.asarray(center_xy, np.float64))
    k = dataset.skeleton.n_nodes
    v = dataset.videos[video_id]
    if only_node is None:
        pts = place_template(template_offsets(dataset, video_id, frame_idx, template), center_xy, v.width, v.height)
        state = np.full((1, k), VISIBLE, np.uint8)
    else:
        pts = np.full((k, 2), np.nan, np.float32)
        pts[only_node] = center_xy
        state = np.zeros((1, k), np.uint8)
        state[0, only_node] = VISIBLE
    rows = PoseTable.from_arrays(pts[None], frame_idx=[frame_idx], video_id=video_id, state=state,
                                 track_id=track_id)
    return AddInstances(rows, text="add instance")


def previous_labeled_frame(labels: PoseTable, video_id: int, frame_idx: int) -> int | None:
    """Largest labeled frame index before ``frame_idx`` in the video (None if there is none)."""
    f = labels.frame_idx[(labels.video_id == video_id) & (labels.frame_idx < frame_idx)]
    return int(f.max()) if len(f) else None


def copy_frame_command(dataset, video_id: int, frame_idx: int, source_frame: int | None = None) -> AddInstances:
    """Command that copies the instances of the previous labeled frame (or ``source_frame``)."""
    check_skeleton(dataset)
    lab = dataset.labels
    src = previous_labeled_frame(lab, video_id, frame_idx) if source_frame is None else source_frame
    if src is None:
        raise LabelingError(
            f"No labeled frame before frame {frame_idx} of video {video_id} to copy from.",
            hint="Label an earlier frame first, or place an instance with a click.",
        )
    rows = lab.for_frame(src, video_id)
    if not len(rows):
        raise LabelingError(f"Frame {src} of video {video_id} has no instances to copy.")
    rows = rows.with_columns(frame_idx=np.full(len(rows), frame_idx, np.int64))
    return AddInstances(rows, text=f"copy {len(rows)} instance(s) from frame {src}")


def next_unlabeled_suggestion(dataset, video_id: int, frame_idx: int, *, wrap: bool = True) -> int | None:
    """Next suggested frame after ``frame_idx`` in the video that has no user labels yet."""
    sug = dataset.suggestions
    f = np.unique(sug[sug[:, 0] == video_id, 1]) if len(sug) else np.zeros(0, np.int64)
    if not len(f):
        return None
    labeled = dataset.labels.frames(video_id)
    f = f[~np.isin(f, labeled)]
    if not len(f):
        return None
    after = f[f > frame_idx]
    if len(after):
        return int(after[0])
    return int(f[0]) if wrap else None


def labeling_progress(dataset) -> list[dict]:
    """Per-video progress.

    Returns
    -------
    list of dict
        One dict per video: ``video_id``, ``n_frames``, ``n_labeled_frames``, ``n_suggested``,
        ``n_suggested_labeled``, ``n_instances``, ``keypoints_labeled_pct`` (labeled nodes over
        nodes of all user instances, in percent).
    """
    out = []
    lab = dataset.labels
    sug = dataset.suggestions
    for vid, v in enumerate(dataset.videos):
        m = lab.video_id == vid
        frames = np.unique(lab.frame_idx[m])
        s = np.unique(sug[sug[:, 0] == vid, 1]) if len(sug) else np.zeros(0, np.int64)
        st = lab.state[m]
        pct = 100.0 * float((st != UNLABELED).sum()) / st.size if st.size else 0.0
        out.append(
            dict(video_id=vid, n_frames=int(v.n_frames), n_labeled_frames=int(len(frames)),
                 n_suggested=int(len(s)), n_suggested_labeled=int(np.isin(s, frames).sum()),
                 n_instances=int(m.sum()), keypoints_labeled_pct=pct)
        )
    return out
