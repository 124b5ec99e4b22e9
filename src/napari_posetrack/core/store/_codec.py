"""Converting store contents to and from columns and plain JSON, and content digests."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import numpy as np

from ..dataset import VideoInfo
from ..posetable import COLUMNS, PoseTable
from ..skeleton import Skeleton
from ._paths import from_relative, to_relative

__all__ = [
    "POSE_TABLES",
    "PAIR_TABLES",
    "empty_columns",
    "table_columns",
    "columns_table",
    "video_entry",
    "entry_video",
    "digest",
    "json_plain",
]

POSE_TABLES = ("labels", "predictions")
PAIR_TABLES = ("suggestions", "negative_frames", "predicted_frames")


def empty_columns(name: str, n_nodes: int) -> dict[str, np.ndarray]:
    if name in POSE_TABLES:
        return PoseTable.empty(n_nodes).to_dict()
    return {"video_id": np.zeros(0, np.int64), "frame_idx": np.zeros(0, np.int64)}


def table_columns(name: str, value) -> dict[str, np.ndarray]:
    """Columns to store for table ``name`` from a PoseTable or an (M, 2) pairs array."""
    if name in POSE_TABLES:
        return value.to_dict()
    pairs = np.asarray(value, np.int64).reshape(-1, 2)
    return {"video_id": np.ascontiguousarray(pairs[:, 0]), "frame_idx": np.ascontiguousarray(pairs[:, 1])}


def columns_table(name: str, cols: dict[str, np.ndarray]):
    """A PoseTable (pose tables) or an (M, 2) int64 array (pair tables) from stored columns."""
    if name in POSE_TABLES:
        return PoseTable(**{c: cols[c] for c in COLUMNS if c in cols})  # older stores: no identity_probs
    return np.stack([cols["video_id"], cols["frame_idx"]], axis=1).astype(np.int64).reshape(-1, 2)


def video_entry(info: VideoInfo, project_dir: Path, embedded_group: str | None = None) -> dict:
    """Plain-JSON entry of a video, paths relative to ``project_dir``."""
    d = info.to_dict()
    path = str(info.path)
    d["path"] = to_relative(path, project_dir) if path else ""
    d["abs_path"] = str(Path(path).expanduser().resolve()) if path and info.kind != "embedded" else ""
    d["image_paths"] = [to_relative(p, project_dir) for p in info.image_paths]
    d["embedded"] = embedded_group
    if info.kind == "embedded" and info.embedded is not None:
        d["n_embedded"] = int(len(info.embedded["frame_idx"]))
    return d


def entry_video(entry: dict, project_dir: Path) -> VideoInfo:
    """VideoInfo with absolute paths from a stored entry (embedded frames not attached)."""
    info = VideoInfo.from_dict(entry)
    rel = entry.get("path", "")
    info.path = str(from_relative(rel, project_dir)) if rel else ""
    info.image_paths = [str(from_relative(p, project_dir)) for p in entry.get("image_paths", [])]
    return info


def json_plain(obj, what: str):
    """``obj`` as plain JSON (round-tripped), or ValueError naming ``what``."""
    try:
        return json.loads(json.dumps(obj, allow_nan=False, default=_np_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not plain JSON: {exc}") from None


def _np_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def digest(kind: str, value) -> str:
    """A content hash of a store component as the caller holds it."""
    h = hashlib.blake2b(digest_size=16)
    h.update(kind.encode())
    if value is None:
        h.update(b"none")
    elif kind in POSE_TABLES:
        for c in COLUMNS:
            a = np.ascontiguousarray(getattr(value, c))
            h.update(str(a.shape).encode())
            h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    elif kind in PAIR_TABLES:
        a = np.ascontiguousarray(np.asarray(value, np.int64).reshape(-1, 2))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    elif kind == "skeleton":
        h.update(json.dumps(value.to_dict(), sort_keys=True).encode())
    elif kind == "videos":
        items = []
        for v in value:
            d = v.to_dict()
            d["path"] = str(Path(d["path"]).expanduser().resolve()) if d["path"] else ""
            if v.embedded is not None:
                d["embedded"] = [list(np.shape(v.embedded["images"])), np.asarray(v.embedded["frame_idx"]).tolist()]
            items.append(d)
        h.update(json.dumps(items, sort_keys=True).encode())
    else:
        h.update(json.dumps(value, sort_keys=True, default=_np_default).encode())
    return h.hexdigest()


def skeleton_from_entry(d) -> Skeleton:
    return Skeleton.from_dict(d) if d else Skeleton([], name="skeleton")


def new_name(prefix: str, commit: int) -> str:
    """A fresh group name: ``PREFIX-COMMIT-RANDOM`` (never reused, even after a killed save)."""
    return f"{prefix}-{commit:07d}-{uuid.uuid4().hex[:8]}"
