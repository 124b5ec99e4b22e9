"""Flat ("tidy") CSV: one row per instance and node, for spreadsheets, R and pandas.

Columns, in order:

==================  ==========================================================
``video_id``        index of the video in the project
``video``           the video's path
``frame_idx``       frame index
``instance``        index of the instance within its frame (0, 1, ...)
``track``           track name (empty when the instance has no track)
``track_id``        track index (-1 when none)
``node``            node name
``x``, ``y``        pixel coordinates (empty when the node is not labeled)
``state``           0 not labeled, 1 visible, 2 occluded
``score``           node confidence (empty for user labels)
``instance_score``  instance confidence (empty for user labels)
``tracking_score``  tracker confidence (empty if none)
``source``          ``user`` or ``predicted``
``identity:NAME``   only with identity-model predictions: the class probability of track
                    ``NAME``, one column per track (empty where unknown)
==================  ==========================================================

Reading it back gives the same pose tables, track names and node names (edges are not kept).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import PoseDataset, VideoInfo
from ..errors import FormatError
from ..posetable import PREDICTED, USER, PoseTable
from ..skeleton import Skeleton

__all__ = ["FLAT_COLUMNS", "dataset_to_frame", "save_flat_csv", "load_flat_csv", "is_flat_csv"]

FLAT_COLUMNS = ["video_id", "video", "frame_idx", "instance", "track", "track_id", "node", "x", "y", "state",
                "score", "instance_score", "tracking_score", "source"]
_SOURCE_NAMES = {USER: "user", PREDICTED: "predicted"}


def dataset_to_frame(dataset: PoseDataset, *, video: int | None = None):
    """A pandas DataFrame with :data:`FLAT_COLUMNS` (labels then predictions, sorted by frame)."""
    import pandas as pd

    table = dataset.instances
    if video is not None:
        table = table.for_video(int(video))
    order = np.lexsort((table.source, table.frame_idx, table.video_id))
    table = table.take(order)
    n, k = len(table), table.n_nodes
    key = np.stack([table.video_id.astype(np.int64), table.frame_idx])
    if n:
        new = np.r_[True, np.any(np.diff(key, axis=1) != 0, axis=0)]
        starts = np.maximum.accumulate(np.where(new, np.arange(n), 0))
        instance = np.arange(n) - starts
    else:
        instance = np.zeros(0, np.int64)
    paths = [str(v.path) for v in dataset.videos]
    names = list(dataset.track_names)
    rep = lambda a: np.repeat(a, k)  # noqa: E731
    labeled = table.state > 0
    xy = np.where(labeled[..., None], table.points, np.nan)
    cols = {
        "video_id": rep(table.video_id),
        "video": rep(np.array([paths[v] if v < len(paths) else "" for v in table.video_id], dtype=object)),
        "frame_idx": rep(table.frame_idx),
        "instance": rep(instance),
        "track": rep(np.array([names[t] if 0 <= t < len(names) else "" for t in table.track_id], dtype=object)),
        "track_id": rep(table.track_id),
        "node": np.tile(np.array(dataset.skeleton.node_names, dtype=object), n),
        "x": xy[..., 0].ravel(),
        "y": xy[..., 1].ravel(),
        "state": table.state.ravel(),
        "score": table.score.ravel(),
        "instance_score": rep(table.instance_score),
        "tracking_score": rep(table.tracking_score),
        "source": rep(np.array([_SOURCE_NAMES[int(s)] for s in table.source], dtype=object)),
    }
    probs = table.identity_probs  # identity models: one column per track, after the fixed columns
    extra = [f"identity:{names[j] if j < len(names) else j}" for j in range(probs.shape[1])]
    cols.update({name: rep(probs[:, j]) for j, name in enumerate(extra)})
    return pd.DataFrame(cols, columns=FLAT_COLUMNS + extra)


def save_flat_csv(dataset: PoseDataset, path: Path, *, video: int | None = None) -> None:
    """Write :func:`dataset_to_frame` as CSV (floats written exactly: float32 round-trips)."""
    dataset_to_frame(dataset, video=video).to_csv(path, index=False, float_format="%.9g")


def is_flat_csv(path: Path) -> bool:
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.readline().strip().split(",")[: len(FLAT_COLUMNS)] == FLAT_COLUMNS


def load_flat_csv(path: Path) -> PoseDataset:
    import pandas as pd

    df = pd.read_csv(path, keep_default_na=True, dtype={"video": str, "track": str, "node": str})
    missing = [c for c in FLAT_COLUMNS if c not in df.columns]
    if missing:
        raise FormatError(f"{path} lacks the flat CSV columns {missing}.", path=path,
                          hint=f"A flat CSV has the columns {FLAT_COLUMNS}.")
    nodes = list(dict.fromkeys(df["node"].astype(str)))
    k = len(nodes)
    if len(df) % max(k, 1):
        raise FormatError(f"{path} has {len(df)} rows, not a multiple of its {k} nodes: it is truncated or edited.",
                          path=path, hint="Re-export the file.")
    n = len(df) // max(k, 1)
    node_of = df["node"].astype(str).to_numpy().reshape(n, k)
    if n and not (node_of == np.array(nodes)).all():
        raise FormatError(f"{path}: the node rows of some instance are out of order.", path=path,
                          hint="Keep one row per node, in the same node order for every instance.")
    first = df.iloc[::k] if k else df.iloc[:0]
    videos: dict[int, str] = {}
    for vid, p in zip(first["video_id"], first["video"].fillna("")):
        videos.setdefault(int(vid), str(p))
    n_videos = max(videos) + 1 if videos else 0
    tracks: dict[int, str] = {}
    for tid, name in zip(first["track_id"], first["track"].fillna("")):
        if int(tid) >= 0:
            tracks.setdefault(int(tid), str(name))
    track_names = [tracks.get(i, f"track_{i}") for i in range(max(tracks) + 1 if tracks else 0)]
    table = PoseTable.from_arrays(
        np.stack([df["x"].to_numpy(np.float32), df["y"].to_numpy(np.float32)], -1).reshape(n, k, 2),
        frame_idx=first["frame_idx"].to_numpy(np.int64),
        video_id=first["video_id"].to_numpy(np.int32),
        state=df["state"].to_numpy(np.uint8).reshape(n, k),
        score=df["score"].to_numpy(np.float32).reshape(n, k),
        instance_score=first["instance_score"].to_numpy(np.float32),
        tracking_score=first["tracking_score"].to_numpy(np.float32),
        track_id=first["track_id"].to_numpy(np.int32),
        source=(first["source"].astype(str).to_numpy() == "predicted").astype(np.uint8),
        identity_probs=first[[c for c in df.columns if str(c).startswith("identity:")]].to_numpy(np.float32),
    )
    return PoseDataset(
        skeleton=Skeleton.from_names(nodes, name=Path(path).stem),
        videos=[VideoInfo(path=videos.get(i, "")) for i in range(n_videos)],
        track_names=track_names,
        labels=table.take(table.source == USER),
        predictions=table.take(table.source == PREDICTED),
    )
