"""Lossless conversion between our pose tables and movement's xarray poses datasets.

movement (https://movement.neuroinformatics.dev) holds poses as an ``xarray.Dataset`` with
``position`` (time, space, keypoints, individuals) and ``confidence`` (time, keypoints,
individuals). Individuals are our track names; instances without a track become extra
individuals ``untracked_<k>``. What movement has no place for is kept as extra data
variables, so a round trip gives back exactly the same table:

=====================  ===============================  ==============================
variable               dims                             meaning
=====================  ===============================  ==============================
``state``              (time, keypoints, individuals)   0 unlabeled, 1 visible, 2 occluded
``instance_present``   (time, individuals)              an instance exists there
``instance_score``     (time, individuals)              instance confidence
``tracking_score``     (time, individuals)              tracker confidence
``source``             (time, individuals)              0 user label, 1 prediction
=====================  ===============================  ==============================

Attributes ``posetrack_n_tracks`` (how many individuals are real tracks) and
``posetrack_skeleton`` (JSON) complete it. Occluded points keep their coordinates in
``position``; movement functions treat them as observed.

movement is in the ``analysis`` extra and is imported inside functions.
"""

from __future__ import annotations

import json

import numpy as np

from ..dataset import PoseDataset, VideoInfo
from ..errors import FormatError
from ..posetable import PREDICTED, UNLABELED, USER, VISIBLE, PoseTable
from ..skeleton import Skeleton
from ._slots import UNTRACKED_PREFIX, assign_slots

__all__ = ["table_to_movement", "movement_to_table", "movement_to_dataset", "save_netcdf", "load_netcdf",
           "require_movement"]


def require_movement():
    """Import movement or raise a :class:`FormatError` that says how to install it."""
    try:
        from movement.io import load_poses
    except ImportError as exc:
        raise FormatError(
            "This needs the 'movement' package, which is not installed.",
            hint="pip install 'napari-posetrack[analysis]' (or pip install movement).",
        ) from exc
    return load_poses


def _pick_table(dataset: PoseDataset, table: str) -> PoseTable:
    choices = {
        "labels": lambda: dataset.labels,
        "predictions": lambda: dataset.predictions,
        "all": lambda: dataset.instances,
        "auto": lambda: dataset.predictions if len(dataset.predictions) else dataset.labels,
    }
    if table not in choices:
        raise FormatError(f"Unknown table {table!r}.", hint=f"Use one of {list(choices)}.")
    return choices[table]()


def table_to_movement(dataset, video_id: int = 0, *, table: str = "auto", fps: float | None = None,
                      node_names=None, track_names=None):
    """A movement poses dataset for one video.

    Parameters
    ----------
    dataset : PoseDataset or PoseTable
        With a bare table, pass ``node_names`` and ``track_names`` (defaults ``node_<i>``, none).
    video_id : int
        Which video's rows to convert.
    table : {"auto", "predictions", "labels", "all"}
        Which rows of a dataset ("auto": predictions if there are any, else labels).
    fps : float, optional
        Frame rate; when given (or known from the video) ``time`` is in seconds.

    Returns
    -------
    xarray.Dataset
        ``position`` (time, space, keypoints, individuals), ``confidence`` and the extra
        variables of the module docstring. ``time`` covers frame 0 to the last frame of the video.
    """
    load_poses = require_movement()
    if isinstance(dataset, PoseTable):
        t = dataset
        skeleton = Skeleton.from_names(node_names or [f"node_{i}" for i in range(t.n_nodes)])
        tracks = list(track_names or [])
        video = None
    else:
        t = _pick_table(dataset, table)
        skeleton = dataset.skeleton
        tracks = list(dataset.track_names)
        video = dataset.videos[video_id] if video_id < len(dataset.videos) else None
    t = t.for_video(video_id)
    if fps is None and video is not None and video.fps > 0:
        fps = float(video.fps)
    slots, names = assign_slots(t, tracks)
    n_frames = max(int(t.frame_idx.max()) + 1 if len(t) else 0, int(video.n_frames) if video else 0, 1)
    k, n_ind = t.n_nodes, max(len(names), 1)
    if not names:
        names = [f"{UNTRACKED_PREFIX}0"]
    f, s = t.frame_idx, slots
    position = np.full((n_frames, 2, k, n_ind), np.nan, np.float64)
    confidence = np.full((n_frames, k, n_ind), np.nan, np.float64)
    state = np.zeros((n_frames, k, n_ind), np.uint8)
    present = np.zeros((n_frames, n_ind), bool)
    inst_score = np.full((n_frames, n_ind), np.nan, np.float64)
    trk_score = np.full((n_frames, n_ind), np.nan, np.float64)
    source = np.zeros((n_frames, n_ind), np.uint8)
    pts = np.where((t.state > 0)[..., None], t.points, np.nan)
    position[f, :, :, s] = np.transpose(pts, (0, 2, 1))
    confidence[f, :, s] = t.score
    state[f, :, s] = t.state
    present[f, s] = True
    inst_score[f, s] = t.instance_score
    trk_score[f, s] = t.tracking_score
    source[f, s] = t.source
    ds = load_poses.from_numpy(position, confidence, individual_names=names,
                               keypoint_names=list(skeleton.node_names), fps=fps,
                               source_software="napari-posetrack")
    dims3, dims2 = ("time", "keypoints", "individuals"), ("time", "individuals")
    ds["state"] = (dims3, state)
    ds["instance_present"] = (dims2, present)
    ds["instance_score"] = (dims2, inst_score)
    ds["tracking_score"] = (dims2, trk_score)
    ds["source"] = (dims2, source)
    ds.attrs["posetrack_n_tracks"] = len(tracks)
    ds.attrs["posetrack_skeleton"] = json.dumps(skeleton.to_dict())
    if video is not None:
        ds.attrs["video_path"] = str(video.path)
        ds.attrs["posetrack_video"] = json.dumps(video.to_dict())
    return ds


def _frame_numbers(ds) -> np.ndarray:
    time = np.asarray(ds["time"].values, np.float64)
    fps = ds.attrs.get("fps")
    if ds.attrs.get("time_unit") == "seconds" and fps:
        return np.rint(time * float(fps)).astype(np.int64)
    return np.rint(time).astype(np.int64)


def movement_to_table(ds, *, video_id: int = 0) -> PoseTable:
    """The rows of a movement poses dataset (ours or any other), sorted by frame then individual.

    Without our extra variables: an instance exists where any keypoint has a position,
    points with a position are visible, ``source`` is "predicted" and ``track_id`` is the
    individual's index.
    """
    pos = np.asarray(ds["position"].transpose("time", "individuals", "keypoints", "space").values, np.float64)
    if pos.shape[-1] != 2:
        raise FormatError(f"Expected 2-D poses (space x, y), got {pos.shape[-1]} space dimensions.",
                          hint="Drop the z coordinate first (ds.sel(space=['x', 'y'])).")
    n_t, n_i, k = pos.shape[:3]
    get = (lambda name, dims, default: np.asarray(ds[name].transpose(*dims).values)
           if name in ds else default)
    conf = get("confidence", ("time", "individuals", "keypoints"), np.full((n_t, n_i, k), np.nan))
    finite = np.isfinite(pos).all(-1)
    state = get("state", ("time", "individuals", "keypoints"),
                np.where(finite, VISIBLE, UNLABELED)).astype(np.uint8)
    present = get("instance_present", ("time", "individuals"), finite.any(-1)).astype(bool)
    n_tracks = int(ds.attrs.get("posetrack_n_tracks", n_i))
    tt, ii = np.nonzero(present)  # row-major: sorted by time then individual
    frames = _frame_numbers(ds)[tt]
    default_source = PREDICTED if "source" not in ds else USER
    return PoseTable.from_arrays(
        pos[tt, ii].astype(np.float32),
        frame_idx=frames,
        video_id=video_id,
        state=state[tt, ii],
        score=conf[tt, ii],
        instance_score=get("instance_score", ("time", "individuals"), np.full((n_t, n_i), np.nan))[tt, ii],
        tracking_score=get("tracking_score", ("time", "individuals"), np.full((n_t, n_i), np.nan))[tt, ii],
        track_id=np.where(ii < n_tracks, ii, -1),
        source=get("source", ("time", "individuals"), np.full((n_t, n_i), default_source))[tt, ii],
    )


def movement_to_dataset(ds) -> PoseDataset:
    """A :class:`PoseDataset` (skeleton, tracks, one video) from a movement poses dataset."""
    table = movement_to_table(ds)
    if "posetrack_skeleton" in ds.attrs:
        skeleton = Skeleton.from_dict(json.loads(ds.attrs["posetrack_skeleton"]))
    else:
        skeleton = Skeleton.from_names([str(k) for k in ds["keypoints"].values], name="movement")
    n_tracks = int(ds.attrs.get("posetrack_n_tracks", ds.sizes["individuals"]))
    track_names = [str(n) for n in ds["individuals"].values[:n_tracks]]
    if "posetrack_video" in ds.attrs:
        video = VideoInfo.from_dict(json.loads(ds.attrs["posetrack_video"]))
    else:
        video = VideoInfo(path=str(ds.attrs.get("video_path") or ds.attrs.get("source_file") or ""),
                          n_frames=int(ds.sizes["time"]), fps=float(ds.attrs.get("fps") or 0.0))
    return PoseDataset(
        skeleton=skeleton, videos=[video], track_names=track_names,
        labels=table.take(table.source == USER), predictions=table.take(table.source == PREDICTED),
    )


def save_netcdf(dataset: PoseDataset, path, *, video: int = 0, table: str = "auto") -> None:
    """Write one video's poses as a movement netCDF file (``xarray.Dataset.to_netcdf``).

    ``table="auto"`` writes the predictions if there are any, else the labels.
    """
    ds = table_to_movement(dataset, video_id=video, table=table)
    for name in ("instance_present",):  # netCDF has no bool
        ds[name] = ds[name].astype(np.uint8)
    ds.to_netcdf(str(path))


def load_netcdf(path) -> PoseDataset:
    """Read a movement netCDF file (ours or movement's own) into a :class:`PoseDataset`."""
    require_movement()
    import xarray as xr

    with xr.open_dataset(str(path)) as ds:
        ds = ds.load()
    if "position" not in ds:
        raise FormatError(f"{path} is a netCDF file without a 'position' variable: not a movement poses file.",
                          path=path,
                          hint="Export poses with movement's save_poses or `posetrack export --format netcdf`.")
    return movement_to_dataset(ds)
