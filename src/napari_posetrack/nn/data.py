"""Training data: load labels, read the labeled frames once, split, and check them.

:func:`load_inputs` reads stores, ``.slp`` files and DeepLabCut projects (through
``core.io.load_dataset``) and merges them. :func:`collect_frames` decodes every labeled (and
negative) frame once, into a :class:`FrameSet` kept in memory; a module-level cache keyed by
(video path, frame index) means a second run in the same process (resume, the dock's next
run) does not decode again.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.dataset import PoseDataset, VideoInfo
from ..core.errors import ConfigError, PoseTrackError, VideoError
from ..core.posetable import VISIBLE, PoseTable

__all__ = ["FrameSet", "load_inputs", "merge_datasets", "collect_frames", "split_indices", "anchor_points",
           "check_labels", "clear_frame_cache"]

_FRAME_CACHE: dict[tuple[str, int], np.ndarray] = {}
_FRAME_CACHE_LIMIT = 4 * 1024 ** 3  # bytes


def clear_frame_cache() -> None:
    _FRAME_CACHE.clear()


@dataclass
class FrameSet:
    """Labeled frames in memory.

    Attributes
    ----------
    images : list of ndarray (H, W, C) uint8
    points : list of ndarray (N, K, 2) float32, NaN where not visible (N may be 0: negatives)
    keys : ndarray (M, 2) int64 ``[video_id, frame_idx]``
    negative : ndarray (M,) bool
    node_names, edges, flip_permutation : skeleton facts
    """

    images: list
    points: list
    keys: np.ndarray
    negative: np.ndarray
    node_names: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    flip_permutation: list = field(default_factory=list)
    labels: PoseTable | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return max((im.shape[-1] for im in self.images), default=1)

    def subset(self, idx) -> FrameSet:
        idx = [int(i) for i in idx]
        return FrameSet([self.images[i] for i in idx], [self.points[i] for i in idx], self.keys[idx],
                        self.negative[idx], self.node_names, self.edges, self.flip_permutation, self.labels)


def _load_one(path) -> PoseDataset:
    p = Path(path)
    try:
        from ..core.io import load_dataset
    except ImportError:  # pragma: no cover - formats helper not landed
        load_dataset = None
    if load_dataset is not None:
        return load_dataset(p, check_videos="ignore")
    import sleap_io as sio

    from ..core.io.sleap_convert import labels_to_dataset

    return labels_to_dataset(sio.load_slp(str(p)))


def merge_datasets(datasets: list[PoseDataset]) -> PoseDataset:
    """Concatenate datasets with the same skeleton (video ids renumbered, track names joined by name)."""
    base = datasets[0]
    videos, labels, negs, names = [], [], [], []
    for ds in datasets:
        base.skeleton.require_match(ds.skeleton, source="one of the training inputs") if ds is not base else None
        off = len(videos)
        videos.extend(ds.videos)
        # tracks are kept by name (identity models learn them); unnamed rows stay -1
        for t in ds.track_names:
            if str(t) not in names:
                names.append(str(t))
        remap = np.asarray([names.index(str(t)) for t in ds.track_names] + [-1], np.int32)
        tid = np.where((ds.labels.track_id >= 0) & (ds.labels.track_id < len(ds.track_names)), ds.labels.track_id, -1)
        labels.append(ds.labels.with_columns(video_id=ds.labels.video_id + off, track_id=remap[tid]))
        if len(ds.negative_frames):
            negs.append(ds.negative_frames + np.array([off, 0]))
    neg = np.concatenate(negs) if negs else np.zeros((0, 2), np.int64)
    return PoseDataset(base.skeleton, videos, names, PoseTable.concat(labels, base.skeleton.n_nodes),
                       negative_frames=neg)


def load_inputs(inputs) -> PoseDataset:
    """Read and merge training inputs (PoseDataset objects, stores, .slp, DLC projects)."""
    if isinstance(inputs, (str, Path, PoseDataset)):
        inputs = [inputs]
    datasets = [x if isinstance(x, PoseDataset) else _load_one(x) for x in inputs]
    if not datasets:
        raise ConfigError("No training input given.", hint="Pass a project store, .slp file or DeepLabCut project.")
    return merge_datasets(datasets) if len(datasets) > 1 else datasets[0]


def check_labels(dataset: PoseDataset) -> list[str]:
    """Raise if nothing is labeled; return warnings (e.g. a node that is never labeled)."""
    lab = dataset.labels
    visible = lab.state == VISIBLE if len(lab) else np.zeros((0, dataset.skeleton.n_nodes), bool)
    if len(lab) == 0 or not visible.any():
        raise ConfigError(
            f"The training data has no labeled frames ({len(lab)} instances, none with a visible point).",
            hint="Label some frames first (labeling dock or `posetrack import`), then train.")
    msgs = []
    never = [n for n, seen in zip(dataset.skeleton.node_names, visible.any(0)) if not seen]
    if never:
        msgs.append(f"Skeleton node(s) {never} are never labeled visible in the training data; the model "
                    "cannot learn them (they will never be predicted). Label them in a few frames or "
                    "remove them from the skeleton.")
    return msgs


def _video_reader(info: VideoInfo):
    try:
        from ..core.video import open_video
    except ImportError:  # pragma: no cover - video helper not landed yet
        open_video = None
    if open_video is not None:
        return open_video(info.image_paths if info.kind == "images" and info.image_paths else info.path)
    import sleap_io as sio  # fallback

    return sio.load_video(info.image_paths if info.image_paths else info.path)


def _read_frames(info: VideoInfo, frame_idx: list[int]) -> dict[int, np.ndarray]:
    out = {}
    todo = []
    embedded = info.kind == "embedded" and info.embedded is not None
    for f in frame_idx:
        key = (str(info.path), int(f))
        if not embedded and key in _FRAME_CACHE:
            out[f] = _FRAME_CACHE[key]
        else:
            todo.append(int(f))
    if not todo:
        return out
    if embedded:  # already in memory: no cache (paths of embedded videos need not be unique)
        pos = {int(f): i for i, f in enumerate(np.asarray(info.embedded["frame_idx"]))}
        for f in todo:
            if f not in pos:
                raise VideoError(f"Frame {f} is not embedded in {info.path}.", path=info.path,
                                 hint="Re-export the .pkg.slp with the labeled frames embedded.")
            out[f] = np.asarray(info.embedded["images"][pos[f]])
    else:
        try:
            reader = _video_reader(info)
        except PoseTrackError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise VideoError(f"Cannot open video {info.path}: {exc}", path=info.path,
                             hint="Check that the video exists (relink it in the project).") from None
        try:
            for f in sorted(todo):
                out[f] = np.asarray(reader[f])
        finally:
            close = getattr(reader, "close", None)
            if close:
                close()
    size = sum(a.nbytes for a in _FRAME_CACHE.values())
    for f in todo:
        im = out[f]
        if im.ndim == 2:
            im = im[..., None]
        out[f] = np.ascontiguousarray(im[..., :3].astype(np.uint8, copy=False))
        if size < _FRAME_CACHE_LIMIT and not embedded:
            _FRAME_CACHE[(str(info.path), f)] = out[f]
            size += out[f].nbytes
    return out


def collect_frames(dataset: PoseDataset, *, use_negatives: bool = True, single_instance: bool = False) -> FrameSet:
    """Decode every labeled frame (and negative frame) once.

    Only visible points (state 1) become targets; occluded and unlabeled points are NaN.
    With ``single_instance`` only the first instance of each frame is kept.
    """
    lab = dataset.labels
    groups = {}
    for vid, fidx, rows in lab.frame_groups():
        groups[(int(vid), int(fidx))] = rows
    negative = set()
    if use_negatives:
        for vid, fidx in dataset.negative_frames:
            if (int(vid), int(fidx)) not in groups:
                negative.add((int(vid), int(fidx)))
    keys = sorted(set(groups) | negative)
    by_video: dict[int, list[int]] = {}
    for vid, fidx in keys:
        by_video.setdefault(vid, []).append(fidx)
    frames = {}
    for vid, fl in by_video.items():
        got = _read_frames(dataset.videos[vid], fl)
        frames.update({(vid, f): im for f, im in got.items()})
    k = dataset.skeleton.n_nodes
    images, points = [], []
    for key in keys:
        images.append(frames[key])
        rows = groups.get(key)
        if rows is None:
            points.append(np.zeros((0, k, 2), np.float32))
            continue
        sub = lab.take(rows)
        pts = np.where((sub.state == VISIBLE)[..., None], sub.points, np.nan).astype(np.float32)
        if single_instance:
            pts = pts[:1]
        points.append(pts)
    return FrameSet(images, points, np.asarray(keys, np.int64).reshape(-1, 2),
                    np.array([k_ in negative for k_ in keys], bool), list(dataset.skeleton.node_names),
                    [tuple(e) for e in dataset.skeleton.edges], dataset.skeleton.flip_permutation(), lab)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and hold out ``val_fraction`` (at least 1 if n > 1)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n > 1:
        n_val = max(1, n_val)
    n_val = min(n_val, n - 1) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def anchor_points(points: np.ndarray, anchor: int | None) -> np.ndarray:
    """Anchor of each instance: node ``anchor`` when labeled, else the bounding-box centre.

    ``points`` (N, K, 2) NaN where not labeled -> (N, 2) (NaN if no node labeled).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = (np.nanmin(points, axis=1) + np.nanmax(points, axis=1)) / 2
    if anchor is None or anchor < 0:
        return centre
    a = points[:, anchor]
    ok = np.isfinite(a).all(-1)
    return np.where(ok[:, None], a, centre)
