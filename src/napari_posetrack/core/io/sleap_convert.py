"""Lossless conversion between sleap-io ``Labels`` and :class:`PoseDataset`.

Mapping of point state:

* visible point            <-> state 1
* coordinates, not visible <-> state 2 (occluded; SLEAP keeps the coordinates)
* NaN coordinates          <-> state 0 (not labeled)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import PoseDataset, VideoInfo
from ..errors import FormatError, SkeletonMismatchError
from ..posetable import OCCLUDED, PREDICTED, USER, VISIBLE, PoseTable
from ..skeleton import Skeleton

__all__ = ["skeleton_from_sleap", "skeleton_to_sleap", "labels_to_dataset", "dataset_to_labels"]


def skeleton_from_sleap(sk) -> Skeleton:
    names = [n.name for n in sk.nodes]
    edges = [(e.source.name, e.destination.name) for e in sk.edges]
    syms = []
    for s in sk.symmetries:
        a, b = [n.name for n in s.nodes]
        syms.append((a, b))
    return Skeleton.from_names(names, edges, syms, name=sk.name or "skeleton")


def skeleton_to_sleap(skeleton: Skeleton):
    import sleap_io as sio

    sk = sio.Skeleton(list(skeleton.node_names), name=skeleton.name)
    for a, b in skeleton.edge_names:
        sk.add_edge(a, b)
    for a, b in skeleton.symmetry_names:
        sk.add_symmetry(a, b)
    return sk


def _video_info(video, index: int) -> VideoInfo:
    """VideoInfo for a sleap-io Video without decoding frames when avoidable."""
    fn = video.filename
    backend = type(video.backend).__name__ if video.backend is not None else ""
    shape = None
    try:
        shape = video.shape
    except Exception:  # noqa: BLE001 - a missing file has no shape; we keep what we can
        shape = None
    n, h, w, c = shape if shape is not None else (0, 0, 0, 0)
    fps = 0.0
    try:
        fps = float(video.fps or 0.0)
    except Exception:  # noqa: BLE001
        fps = 0.0
    if isinstance(fn, (list, tuple)):
        return VideoInfo(path=str(Path(fn[0]).parent), n_frames=len(fn), height=h, width=w, channels=c,
                         fps=fps, kind="images", image_paths=[str(f) for f in fn])
    if backend == "HDF5Video" or (video.backend_metadata or {}).get("has_embedded_images"):
        # frames embedded in a .pkg.slp: copy them so the dataset is self-contained
        frame_map = getattr(video.backend, "frame_map", None) or {}
        idx = np.array(sorted(int(k) for k in frame_map), np.int64)
        images = np.stack([np.asarray(video[int(i)]) for i in idx]) if len(idx) else np.zeros((0, h, w, c), np.uint8)
        if images.ndim == 3:
            images = images[..., None]
        return VideoInfo(path=str(fn), n_frames=n, height=h, width=w, channels=c, fps=fps, kind="embedded",
                         embedded={"frame_idx": idx, "images": images.astype(np.uint8)})
    return VideoInfo(path=str(fn), n_frames=n, height=h, width=w, channels=c, fps=fps, kind="video")


def labels_to_dataset(labels, *, skeleton: Skeleton | None = None) -> PoseDataset:
    """Convert a sleap-io ``Labels`` to a :class:`PoseDataset`.

    Parameters
    ----------
    labels : sleap_io.Labels
    skeleton : Skeleton, optional
        Target skeleton. If given, the labels' nodes are mapped onto it by name and a
        :class:`SkeletonMismatchError` is raised if a labeled node has no counterpart.
    """
    src_skel, target, mapping = _target_skeleton(labels, skeleton)
    k = target.n_nodes
    videos = [_video_info(v, i) for i, v in enumerate(labels.videos)]
    video_index = {id(v): i for i, v in enumerate(labels.videos)}
    tracks = list(labels.tracks)
    track_index = {id(t): i for i, t in enumerate(tracks)}
    track_names = [t.name or f"track_{i}" for i, t in enumerate(tracks)]

    rows = {USER: [], PREDICTED: []}
    negatives = []
    for lf in labels.labeled_frames:
        vid = video_index[id(lf.video)]
        if getattr(lf, "is_negative", False):
            negatives.append((vid, int(lf.frame_idx)))
        for inst in lf.instances:
            if inst.track is not None and id(inst.track) not in track_index:
                track_index[id(inst.track)] = len(tracks)
                tracks.append(inst.track)
                track_names.append(inst.track.name or f"track_{len(tracks) - 1}")
            tid = track_index[id(inst.track)] if inst.track is not None else -1
            predicted, row = _instance_row(inst, int(lf.frame_idx), vid, tid)
            rows[PREDICTED if predicted else USER].append(row)

    def table(rs, source):
        t = _rows_table(rs, k, source)
        return t.remap_nodes(mapping, k) if skeleton is not None and len(t) else t

    suggestions = [(video_index[id(s.video)], int(s.frame_idx)) for s in labels.suggestions
                   if id(s.video) in video_index]
    return PoseDataset(
        skeleton=target,
        videos=videos,
        track_names=track_names,
        labels=table(rows[USER], USER),
        predictions=table(rows[PREDICTED], PREDICTED),
        suggestions=np.array(suggestions, np.int64).reshape(-1, 2),
        negative_frames=np.array(negatives, np.int64).reshape(-1, 2),
    )


def _target_skeleton(labels, skeleton: Skeleton | None):
    """``(labels' skeleton, target skeleton, node mapping)``; refuses several skeletons or missing nodes."""
    if not labels.skeletons:
        raise FormatError("The labels have no skeleton.", hint="Add a skeleton before importing.")
    if len(labels.skeletons) > 1:
        names = [s.name for s in labels.skeletons]
        raise FormatError(
            f"The labels have {len(labels.skeletons)} skeletons ({names}); napari-posetrack projects use one.",
            hint="Split the file per skeleton with sleap-io and import each into its own project.",
        )
    src_skel = skeleton_from_sleap(labels.skeletons[0])
    target = skeleton or src_skel
    mapping = target.node_mapping(src_skel)
    if skeleton is not None:
        missing = [src_skel.node_names[j] for j, t in enumerate(mapping) if t < 0]
        if missing:
            raise SkeletonMismatchError(
                f"The labels' skeleton has nodes {missing} that skeleton {target.name!r} "
                f"{target.node_names} lacks.",
                hint="Add the nodes to the project skeleton, or import without --skeleton.",
            )
    return src_skel, target, mapping


def _instance_row(inst, frame: int, vid: int, track_id: int):
    """``(predicted, row)``: one sleap-io instance as (frame, video, xy, state, score, instance score,
    track id, tracking score); non-finite points are unlabeled, invisible ones occluded."""
    pts = inst.points
    xy = np.asarray(pts["xy"], np.float64)
    vis = np.asarray(pts["visible"], bool)
    finite = np.isfinite(xy).all(-1)
    state = np.where(finite & vis, VISIBLE, np.where(finite, OCCLUDED, 0)).astype(np.uint8)
    xy = np.where(finite[:, None], xy, np.nan)
    predicted = type(inst).__name__ == "PredictedInstance"
    score = np.asarray(pts["score"], np.float32) if predicted else np.full(len(xy), np.nan, np.float32)
    tracking = np.nan if inst.tracking_score is None else float(inst.tracking_score)
    return predicted, (frame, vid, xy, state, score, float(inst.score) if predicted else np.nan, track_id, tracking)


def _rows_table(rs, k: int, source) -> PoseTable:
    if not rs:
        return PoseTable.empty(k)
    return PoseTable.from_arrays(
        np.stack([r[2] for r in rs]),
        frame_idx=[r[0] for r in rs],
        video_id=[r[1] for r in rs],
        state=np.stack([r[3] for r in rs]),
        score=np.stack([r[4] for r in rs]),
        instance_score=[r[5] for r in rs],
        track_id=[r[6] for r in rs],
        tracking_score=[r[7] for r in rs],
        source=source,
    )


def _sleap_video(info: VideoInfo):
    import sleap_io as sio

    shape = tuple(int(s) for s in info.shape) if info.n_frames and info.height else None
    meta = {"fps": float(info.fps) if info.fps else None}
    if shape is not None:
        meta.update(shape=shape, grayscale=info.channels == 1)
    if info.kind == "images" and info.image_paths:
        # a closed ImageVideo must say so, or sleap-io writes a list where a path is expected
        files = [str(p) for p in info.image_paths]
        meta.update(type="ImageVideo", filename=files[0], filenames=files)
        if shape is not None:
            meta.update(height_=shape[1], width_=shape[2], channels_=shape[3])
        return sio.Video(filename=files, backend_metadata=meta, open_backend=False)
    return sio.Video(filename=str(info.path), backend_metadata=meta, open_backend=False)


def dataset_to_labels(ds: PoseDataset, *, include_predictions: bool = True):
    """Convert a :class:`PoseDataset` to sleap-io ``Labels`` (user and predicted instances)."""
    import sleap_io as sio

    sk = skeleton_to_sleap(ds.skeleton)
    videos = [_sleap_video(v) for v in ds.videos]
    tracks = [sio.Track(name=n) for n in ds.track_names]
    table = ds.instances if include_predictions else ds.labels
    frames = {}
    for vid, fidx, rows in table.frame_groups():
        insts = []
        for r in rows:
            st = table.state[r]
            xy = table.points[r].astype(np.float64)
            xy = np.where((st > 0)[:, None], xy, np.nan)
            track = tracks[table.track_id[r]] if table.track_id[r] >= 0 else None
            tscore = float(table.tracking_score[r])
            kwargs = {"track": track}
            if np.isfinite(tscore):
                kwargs["tracking_score"] = tscore
            if table.source[r] == PREDICTED:
                sc = table.score[r].astype(np.float64)
                inst = sio.PredictedInstance.from_numpy(
                    xy, skeleton=sk, point_scores=np.nan_to_num(sc, nan=0.0),
                    score=float(np.nan_to_num(table.instance_score[r], nan=0.0)), **kwargs,
                )
            else:
                inst = sio.Instance.from_numpy(xy, skeleton=sk, **kwargs)
            inst.points["visible"][:] = st == VISIBLE
            insts.append(inst)
        frames[(vid, fidx)] = sio.LabeledFrame(video=videos[vid], frame_idx=fidx, instances=insts)
    for vid, fidx in ds.negative_frames:
        key = (int(vid), int(fidx))
        if key not in frames:
            frames[key] = sio.LabeledFrame(video=videos[key[0]], frame_idx=key[1], instances=[])
        frames[key].is_negative = True
    lfs = [frames[k] for k in sorted(frames)]
    suggestions = [sio.SuggestionFrame(video=videos[int(v)], frame_idx=int(f)) for v, f in ds.suggestions]
    return sio.Labels(labeled_frames=lfs, videos=videos, skeletons=[sk], tracks=tracks, suggestions=suggestions)
