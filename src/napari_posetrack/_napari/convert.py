"""Pose tables <-> napari layer data. The only place that swaps (x, y) to (y, x).

Points layers hold one row per labeled node: ``(frame, y, x)`` with features

=========  =====  ==============================================
feature    dtype  meaning
=========  =====  ==============================================
node       int    node index in the skeleton
instance   int    row of the instance in the source pose table
track      int    track id (-1 = none)
state      int    1 = visible, 2 = occluded (0 rows are not emitted)
score      float  node score (NaN for user labels)
source     int    0 = user, 1 = predicted
video      int    video id
=========  =====  ==============================================

The editable keypoints layer (Labeling dock) holds one frame in 2-D: :func:`frame_points`
gathers the user labels and the predictions of one frame into one :class:`FramePoints`
(layer rows as ``(y, x)``, plus per-point source/row/node/state/track/score and its
features, where ``instance`` is the row in the table of the point's ``source``), and
:func:`frame_edges` the skeleton lines between them.

These functions are pure (numpy + pandas) and tested without Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.posetable import UNLABELED, PoseTable

__all__ = ["table_to_points", "points_to_table", "table_to_edges", "table_to_tracks", "FEATURES", "FramePoints",
           "frame_points", "frame_edges", "score_text"]

FEATURES = ["node", "instance", "track", "state", "score", "source", "video"]


def table_to_points(table: PoseTable) -> tuple[np.ndarray, pd.DataFrame]:
    """Points layer data ``(M, 3)`` as (frame, y, x) and its features, for labeled nodes only."""
    inst, node = np.nonzero(table.state != UNLABELED)
    xy = table.points[inst, node]
    data = np.column_stack([table.frame_idx[inst].astype(np.float64), xy[:, 1], xy[:, 0]])
    features = pd.DataFrame(
        {
            "node": node.astype(np.int64),
            "instance": inst.astype(np.int64),
            "track": table.track_id[inst].astype(np.int64),
            "state": table.state[inst, node].astype(np.int64),
            "score": table.score[inst, node].astype(np.float64),
            "source": table.source[inst].astype(np.int64),
            "video": table.video_id[inst].astype(np.int64),
        }
    )
    return data, features


def points_to_table(data: np.ndarray, features: pd.DataFrame, n_nodes: int) -> PoseTable:
    """Rebuild a pose table from Points layer data and features.

    Rows are grouped into instances by the ``instance`` feature (one table row per distinct
    value, in increasing order). Per-instance columns (frame, track, source, video) come from
    the instance's first point. Nodes with no point become unlabeled.
    """
    data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    if len(data) == 0:
        return PoseTable.empty(n_nodes)
    inst_ids, inv = np.unique(np.asarray(features["instance"], np.int64), return_inverse=True)
    n = len(inst_ids)
    node = np.asarray(features["node"], np.int64)
    if node.min() < 0 or node.max() >= n_nodes:
        from ..core.errors import SkeletonMismatchError

        raise SkeletonMismatchError(
            f"Points reference node {int(node.max())} but the skeleton has {n_nodes} nodes.",
            hint="Load the skeleton the points were made with.",
        )
    pts = np.full((n, n_nodes, 2), np.nan, np.float32)
    state = np.zeros((n, n_nodes), np.uint8)
    score = np.full((n, n_nodes), np.nan, np.float32)
    pts[inv, node, 0] = data[:, 2]
    pts[inv, node, 1] = data[:, 1]
    state[inv, node] = np.asarray(features.get("state", pd.Series(np.ones(len(data)))), np.uint8)
    if "score" in features:
        score[inv, node] = np.asarray(features["score"], np.float32)
    first = np.zeros(n, np.int64)
    first[inv[::-1]] = np.arange(len(inv))[::-1]

    def per_instance(name, default):
        if name in features:
            return np.asarray(features[name])[first]
        return np.full(n, default)

    return PoseTable.from_arrays(
        pts,
        frame_idx=np.round(data[first, 0]).astype(np.int64),
        video_id=per_instance("video", 0),
        state=state,
        score=score,
        track_id=per_instance("track", -1),
        source=per_instance("source", 0),
    )


def table_to_edges(table: PoseTable, edges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton edges as napari line data.

    Returns ``lines`` ``(E, 2, 3)`` of (frame, y, x) endpoints and ``instance`` ``(E,)``, for
    every edge whose two nodes are labeled.
    """
    if not len(table) or not edges:
        return np.zeros((0, 2, 3)), np.zeros((0,), np.int64)
    e = np.asarray(edges, np.int64)
    lab = table.state != UNLABELED
    ok = lab[:, e[:, 0]] & lab[:, e[:, 1]]
    inst, ei = np.nonzero(ok)
    a = table.points[inst, e[ei, 0]]
    b = table.points[inst, e[ei, 1]]
    f = table.frame_idx[inst].astype(np.float64)
    lines = np.stack([np.column_stack([f, a[:, 1], a[:, 0]]), np.column_stack([f, b[:, 1], b[:, 0]])], axis=1)
    return lines, inst.astype(np.int64)


def table_to_tracks(table: PoseTable) -> np.ndarray:
    """napari Tracks data ``(M, 4)`` = (track_id, frame, y, x) of each tracked instance's centroid."""
    keep = table.track_id >= 0
    t = table.take(keep)
    c = t.centroids()
    ok = np.isfinite(c).all(1)
    data = np.column_stack([t.track_id[ok], t.frame_idx[ok], c[ok, 1], c[ok, 0]]).astype(np.float64)
    order = np.lexsort((data[:, 1], data[:, 0]))
    return data[order]


@dataclass
class FramePoints:
    """The labeled nodes of one frame, user labels (source 0) first, then predictions (source 1)."""

    yx: np.ndarray  # (M, 2) layer data
    source: np.ndarray  # (M,) 0 user / 1 predicted
    row: np.ndarray  # (M,) row in labels (source 0) or predictions (source 1)
    node: np.ndarray  # (M,)
    state: np.ndarray  # (M,)
    track: np.ndarray  # (M,)
    score: np.ndarray  # (M,) node score (NaN for user labels)
    label: np.ndarray  # (M,) str: instance score beside a prediction's first node, else ""
    video_id: int = 0

    def __len__(self) -> int:
        return len(self.yx)

    def features(self) -> pd.DataFrame:
        return pd.DataFrame({"node": self.node, "instance": self.row, "track": self.track.astype(np.int64),
                             "state": self.state.astype(np.int64), "score": self.score, "source": self.source,
                             "video": np.full(len(self.yx), self.video_id, np.int64), "label": self.label})

    def instance_keys(self) -> np.ndarray:
        """One integer per instance (source and row)."""
        return self.source * (1 << 40) + self.row


def score_text(instance_score: float, node_scores) -> str:
    """The score written beside a predicted instance, in [0, 1].

    Our predictors' instance scores are in [0, 1], but SLEAP's are not (a bottom-up instance's
    score is a sum over its nodes and edges, e.g. 39.08), so a score outside [0, 1] is replaced
    by the mean of the instance's node scores. Empty when neither is known.
    """
    s = float(instance_score)
    if not (np.isfinite(s) and 0.0 <= s <= 1.0):
        nodes = np.asarray(node_scores, np.float64)
        nodes = nodes[np.isfinite(nodes)]
        s = float(np.clip(nodes.mean(), 0.0, 1.0)) if len(nodes) else float("nan")
    return f"{s:.2f}" if np.isfinite(s) else ""


def frame_points(tables, video_id: int, frame: int) -> FramePoints:
    """Gather the labeled nodes of ``frame`` of video ``video_id`` from ``tables``: ``[(source, table)]``."""
    parts = []
    for src, table in tables:
        r = np.flatnonzero((table.frame_idx == frame) & (table.video_id == video_id))
        if not len(r):
            continue
        inst, node = np.nonzero(table.state[r] != UNLABELED)
        rr = r[inst]
        p = table.points[rr, node]
        first = np.r_[True, rr[1:] != rr[:-1]] if len(rr) else np.zeros(0, bool)
        label = np.full(len(rr), "", dtype=object)
        if src == 1 and len(rr):
            label[first] = [score_text(table.instance_score[i], table.score[i]) for i in rr[first]]
        parts.append((np.full(len(rr), src), rr, node, np.column_stack([p[:, 1], p[:, 0]]), table.state[rr, node],
                      table.track_id[rr], table.score[rr, node], label))
    if not parts:
        z = np.zeros(0, np.int64)
        return FramePoints(np.zeros((0, 2)), z, z, z, np.zeros(0, np.uint8), z, np.zeros(0), np.zeros(0, object),
                           int(video_id))
    cols = [np.concatenate(c) for c in zip(*parts)]
    src, rows, nodes, yx, state, track, score, label = cols
    return FramePoints(yx.astype(np.float64), src.astype(np.int64), rows.astype(np.int64), nodes.astype(np.int64),
                       state, track.astype(np.int64), score.astype(np.float64), label.astype(str).astype(object),
                       int(video_id))


def frame_edges(fp: FramePoints, edges, n_nodes: int, yx: np.ndarray | None = None):
    """Skeleton lines between the nodes of ``fp`` as napari Vectors data ``(E, 2, 2)``, with each
    line's ``predicted`` flag and ``track`` (E,). ``yx`` replaces ``fp.yx`` (points being dragged)."""
    yx = fp.yx if yx is None else np.asarray(yx, np.float64)
    if not len(yx) or not edges:
        return np.zeros((0, 2, 2)), np.zeros(0, bool), np.zeros(0, np.int64)
    keys, first, inv = np.unique(fp.instance_keys(), return_index=True, return_inverse=True)
    dense = np.full((len(keys), n_nodes, 2), np.nan)
    dense[inv, fp.node] = yx
    e = np.asarray(edges)
    a, b = dense[:, e[:, 0]], dense[:, e[:, 1]]
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    inst = np.nonzero(ok)[0]
    vec = np.stack([a[ok], b[ok] - a[ok]], 1)
    return vec, (keys >> 40)[inst] == 1, fp.track[first][inst]
