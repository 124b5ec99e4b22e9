"""The columnar pose table: one row per instance.

This is the contract every part of napari-posetrack speaks (see docs/architecture.md):

==================  ===================  ================================================
column              dtype, shape         meaning
==================  ===================  ================================================
``frame_idx``       int64 (N,)           frame index in its video
``video_id``        int32 (N,)           index into the project's video list
``points``          float32 (N, K, 2)    pixel (x, y); NaN where the node is not labeled
``state``           uint8 (N, K)         0 = not labeled, 1 = visible, 2 = occluded
``score``           float32 (N, K)       per-node confidence (NaN for user labels)
``instance_score``  float32 (N,)         instance confidence (NaN for user labels)
``track_id``        int32 (N,)           index into the track names, -1 = no track
``tracking_score``  float32 (N,)         tracker confidence (NaN if none)
``source``          uint8 (N,)           0 = user label, 1 = prediction
``identity_probs``  float32 (N, C)       identity-model class probabilities: column ``j`` is
                                         the probability that the instance is track ``j``;
                                         C = 0 when there are none, NaN where unknown
==================  ===================  ================================================

An occluded node keeps its coordinates (the labeller's best guess) and is distinct from a
node that was never labeled. Tables are immutable in spirit: methods return new tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Mapping

import numpy as np

from .errors import PoseTrackError, SkeletonMismatchError

__all__ = ["PoseTable", "COLUMNS", "UNLABELED", "VISIBLE", "OCCLUDED", "USER", "PREDICTED"]

UNLABELED, VISIBLE, OCCLUDED = 0, 1, 2
USER, PREDICTED = 0, 1

#: column name -> (dtype, number of trailing axes: 0 = (N,), 1 = (N, K), 2 = (N, K, 2); -1 = (N, C), any C)
COLUMNS: dict[str, tuple[np.dtype, int]] = {
    "frame_idx": (np.dtype(np.int64), 0),
    "video_id": (np.dtype(np.int32), 0),
    "points": (np.dtype(np.float32), 2),
    "state": (np.dtype(np.uint8), 1),
    "score": (np.dtype(np.float32), 1),
    "instance_score": (np.dtype(np.float32), 0),
    "track_id": (np.dtype(np.int32), 0),
    "tracking_score": (np.dtype(np.float32), 0),
    "source": (np.dtype(np.uint8), 0),
    "identity_probs": (np.dtype(np.float32), -1),
}


@dataclass(eq=False)
class PoseTable:
    """Columnar pose table; see the module docstring for the columns."""

    frame_idx: np.ndarray
    video_id: np.ndarray
    points: np.ndarray
    state: np.ndarray
    score: np.ndarray
    instance_score: np.ndarray
    track_id: np.ndarray
    tracking_score: np.ndarray
    source: np.ndarray
    identity_probs: np.ndarray | None = None

    def __post_init__(self):
        if self.identity_probs is None:
            self.identity_probs = np.zeros((np.shape(self.frame_idx)[0], 0), np.float32)
        for name, (dtype, _) in COLUMNS.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        self.validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, n_nodes: int) -> PoseTable:
        """A table with no rows for a skeleton of ``n_nodes`` nodes."""
        return cls.from_arrays(np.zeros((0, n_nodes, 2), np.float32))

    @classmethod
    def from_arrays(
        cls,
        points,
        *,
        frame_idx=None,
        video_id=0,
        state=None,
        score=None,
        instance_score=None,
        track_id=-1,
        tracking_score=None,
        source=USER,
        identity_probs=None,
    ) -> PoseTable:
        """Build a table from ``points`` (N, K, 2) and optional columns.

        Scalars broadcast to every row. ``state`` defaults to visible where the point is finite
        and not labeled where it is NaN. ``frame_idx`` defaults to ``arange(N)``.
        """
        points = np.asarray(points, dtype=np.float32)
        if points.ndim != 3 or points.shape[-1] != 2:
            raise PoseTrackError(
                f"Expected points of shape (n_instances, n_nodes, 2), got {points.shape}.",
                hint="Stack instances along the first axis, (x, y) along the last.",
            )
        n, k = points.shape[:2]

        def col(value, default, shape, dtype):
            if value is None:
                value = default
            arr = np.asarray(value, dtype=dtype)
            return np.broadcast_to(arr, shape).copy() if arr.shape != shape else arr

        finite = np.isfinite(points).all(-1)
        if state is None:
            state = np.where(finite, VISIBLE, UNLABELED).astype(np.uint8)
        return cls(
            frame_idx=col(frame_idx, np.arange(n), (n,), np.int64),
            video_id=col(video_id, 0, (n,), np.int32),
            points=points,
            state=col(state, 0, (n, k), np.uint8),
            score=col(score, np.nan, (n, k), np.float32),
            instance_score=col(instance_score, np.nan, (n,), np.float32),
            track_id=col(track_id, -1, (n,), np.int32),
            tracking_score=col(tracking_score, np.nan, (n,), np.float32),
            source=col(source, USER, (n,), np.uint8),
            identity_probs=None if identity_probs is None else np.asarray(identity_probs, np.float32).reshape(n, -1),
        )

    @classmethod
    def from_dict(cls, columns: Mapping[str, np.ndarray]) -> PoseTable:
        """Build from a mapping of column name to array (missing optional columns get defaults)."""
        if "points" not in columns:
            raise PoseTrackError("A pose table needs a 'points' column.", hint="Check the file's columns.")
        kwargs = {k: columns[k] for k in COLUMNS if k in columns and k != "points"}
        return cls.from_arrays(columns["points"], **kwargs)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in COLUMNS}

    @classmethod
    def concat(cls, tables: Iterable[PoseTable], n_nodes: int | None = None) -> PoseTable:
        """Rows of several tables, in order. All must have the same number of nodes."""
        tables = list(tables)
        if not tables:
            if n_nodes is None:
                raise PoseTrackError("Cannot concatenate no tables without knowing n_nodes.")
            return cls.empty(n_nodes)
        k = tables[0].n_nodes
        for t in tables[1:]:
            if t.n_nodes != k:
                raise SkeletonMismatchError(
                    f"Cannot join pose tables with {k} and {t.n_nodes} nodes.",
                    hint="Map both onto one skeleton first (PoseTable.remap_nodes).",
                )
        width = max(t.identity_probs.shape[1] for t in tables)  # narrower tables: NaN (unknown) columns
        probs = [np.pad(t.identity_probs, ((0, 0), (0, width - t.identity_probs.shape[1])), constant_values=np.nan)
                 for t in tables]
        return cls(**{name: np.concatenate([getattr(t, name) for t in tables]) for name in COLUMNS
                      if name != "identity_probs"}, identity_probs=np.concatenate(probs))

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        n = self.frame_idx.shape[0]
        if self.points.ndim != 3 or self.points.shape[-1] != 2:
            raise PoseTrackError(f"points must be (N, K, 2), got {self.points.shape}.")
        k = self.points.shape[1]
        for name, (_, trailing) in COLUMNS.items():
            arr = getattr(self, name)
            want = (n,) if trailing == 0 else (n, k) if trailing == 1 else (n, k, 2) if trailing == 2 else \
                (n, arr.shape[1] if arr.ndim == 2 else -1)
            if arr.shape != want:
                raise PoseTrackError(
                    f"Pose table column {name!r} has shape {arr.shape}, expected {want}.",
                    hint="All columns need one row per instance (identity_probs: one row of class "
                         "probabilities per instance).",
                )
        if n and self.state.max(initial=0) > OCCLUDED:
            raise PoseTrackError(
                f"Pose table state values must be 0, 1 or 2, found {int(self.state.max())}.",
                hint="Use 0 = not labeled, 1 = visible, 2 = occluded.",
            )

    # ------------------------------------------------------------------ basic properties
    def __len__(self) -> int:
        return int(self.frame_idx.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.points.shape[1])

    @property
    def labeled(self) -> np.ndarray:
        """(N, K) bool: the node has coordinates (visible or occluded)."""
        return self.state != UNLABELED

    def __repr__(self) -> str:
        n_frames = len(np.unique(np.stack([self.video_id, self.frame_idx]), axis=1).T) if len(self) else 0
        return f"PoseTable(n_instances={len(self)}, n_nodes={self.n_nodes}, n_frames={n_frames})"

    def equals(self, other: PoseTable) -> bool:
        """Exact equality of every column (NaN equal to NaN)."""
        if not isinstance(other, PoseTable) or len(self) != len(other) or self.n_nodes != other.n_nodes:
            return False
        return all(
            np.array_equal(getattr(self, c), getattr(other, c), equal_nan=COLUMNS[c][0].kind == "f")
            for c in COLUMNS
        )

    # ------------------------------------------------------------------ selection
    def take(self, index) -> PoseTable:
        """Rows by boolean mask or integer index."""
        index = np.asarray(index)
        return PoseTable(**{c: getattr(self, c)[index] for c in COLUMNS})

    def copy(self) -> PoseTable:
        return PoseTable(**{c: getattr(self, c).copy() for c in COLUMNS})

    def for_frame(self, frame_idx: int, video_id: int = 0) -> PoseTable:
        return self.take((self.frame_idx == frame_idx) & (self.video_id == video_id))

    def for_video(self, video_id: int) -> PoseTable:
        return self.take(self.video_id == video_id)

    def frames(self, video_id: int | None = None) -> np.ndarray:
        """Sorted unique frame indices that have at least one instance."""
        f = self.frame_idx if video_id is None else self.frame_idx[self.video_id == video_id]
        return np.unique(f)

    def sorted(self) -> PoseTable:
        """Rows sorted by (video_id, frame_idx), stable within a frame."""
        order = np.lexsort((self.frame_idx, self.video_id))
        return self.take(order)

    def frame_groups(self):
        """Yield ``(video_id, frame_idx, row_indices)`` for each frame, in sorted order."""
        if not len(self):
            return
        order = np.lexsort((self.frame_idx, self.video_id))
        keys = np.stack([self.video_id[order].astype(np.int64), self.frame_idx[order]], 1)
        breaks = np.flatnonzero(np.any(np.diff(keys, axis=0) != 0, axis=1)) + 1
        for rows in np.split(order, breaks):
            yield int(self.video_id[rows[0]]), int(self.frame_idx[rows[0]]), rows

    # ------------------------------------------------------------------ transforms
    def with_columns(self, **columns) -> PoseTable:
        """A copy with some columns replaced."""
        d = self.to_dict()
        for k, v in columns.items():
            if k not in COLUMNS:
                raise PoseTrackError(f"Unknown pose table column {k!r}; columns are {list(COLUMNS)}.")
            d[k] = v
        return PoseTable(**d)

    def remap_nodes(self, mapping: list[int], n_nodes: int) -> PoseTable:
        """Move node ``j`` of this table to node ``mapping[j]`` of a table with ``n_nodes`` nodes.

        Nodes mapped to -1 are dropped; target nodes with no source become unlabeled.
        """
        n = len(self)
        pts = np.full((n, n_nodes, 2), np.nan, np.float32)
        st = np.zeros((n, n_nodes), np.uint8)
        sc = np.full((n, n_nodes), np.nan, np.float32)
        for j, t in enumerate(mapping):
            if t < 0:
                continue
            pts[:, t] = self.points[:, j]
            st[:, t] = self.state[:, j]
            sc[:, t] = self.score[:, j]
        return self.with_columns(points=pts, state=st, score=sc)

    def centroids(self) -> np.ndarray:
        """(N, 2) mean of the labeled nodes of each instance (NaN if none)."""
        pts = np.where(self.labeled[..., None], self.points, np.nan)
        with np.errstate(invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return np.nanmean(pts, axis=1)

    def bboxes(self) -> np.ndarray:
        """(N, 4) x0, y0, x1, y1 of the labeled nodes of each instance (NaN if none)."""
        pts = np.where(self.labeled[..., None], self.points, np.nan)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanmin(pts, axis=1)
            hi = np.nanmax(pts, axis=1)
        return np.concatenate([lo, hi], axis=1)
