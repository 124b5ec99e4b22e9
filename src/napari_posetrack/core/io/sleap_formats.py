"""Formats that sleap-io reads and writes: .slp, .pkg.slp, NWB (ndx-pose), analysis HDF5, COCO.

Each loader returns a :class:`PoseDataset`, each saver writes exactly the path it is given
(the registry wraps it in an atomic temporary file). sleap-io is imported inside functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import PoseDataset, VideoInfo
from ..errors import FormatError
from .sleap_convert import dataset_to_labels, labels_to_dataset

__all__ = [
    "load_slp", "save_slp", "save_pkg_slp", "load_nwb", "save_nwb", "load_analysis", "save_analysis",
    "load_coco", "save_coco", "is_analysis_h5",
]


def _to_dataset(labels, path) -> PoseDataset:
    if not labels.skeletons:
        raise FormatError(
            f"{path} holds no skeleton (and no labeled frames we could read).",
            path=path,
            hint="Check that the file is not empty, and that any images it references are beside it.",
        )
    return labels_to_dataset(labels)


def _open_videos(labels) -> None:
    """Open the backends of videos whose files exist (some writers need shapes or frames)."""
    for v in labels.videos:
        fn = v.filename
        exists = all(Path(f).exists() for f in fn) if isinstance(fn, list) else Path(str(fn)).exists()
        if exists and v.backend is None:
            try:
                v.open()
            except Exception:  # noqa: BLE001 - an unreadable video only costs the writer some metadata
                pass


def _labels(dataset: PoseDataset, *, video: int | None = None, include_predictions: bool = True):
    """sleap-io Labels for ``dataset`` (optionally one video only)."""
    if video is not None:
        dataset = select_video(dataset, video)
    return dataset_to_labels(dataset, include_predictions=include_predictions)


def select_video(dataset: PoseDataset, video: int) -> PoseDataset:
    """The part of ``dataset`` on video ``video`` (renumbered to video 0)."""
    if not 0 <= int(video) < len(dataset.videos):
        raise FormatError(
            f"Video {video} does not exist: the dataset has {len(dataset.videos)} video(s).",
            hint=f"Pass a video index from 0 to {max(len(dataset.videos) - 1, 0)}.",
        )

    def part(t):
        t = t.for_video(int(video))
        return t.with_columns(video_id=np.zeros(len(t), np.int32))

    def pairs(a):
        a = a[a[:, 0] == int(video)].copy()
        a[:, 0] = 0
        return a

    return PoseDataset(
        skeleton=dataset.skeleton, videos=[dataset.videos[int(video)]], track_names=list(dataset.track_names),
        labels=part(dataset.labels), predictions=part(dataset.predictions),
        suggestions=pairs(dataset.suggestions), negative_frames=pairs(dataset.negative_frames),
    )


# ---------------------------------------------------------------------------- SLEAP .slp
def load_slp(path: Path) -> PoseDataset:
    import sleap_io as sio

    return _to_dataset(sio.load_slp(str(path), open_videos=True), path)


def save_slp(dataset: PoseDataset, path: Path, *, video: int | None = None) -> None:
    import sleap_io as sio

    labels = _labels(dataset, video=video)
    sio.save_slp(labels, str(path), verbose=False)


def save_pkg_slp(dataset: PoseDataset, path: Path, *, video: int | None = None) -> None:
    """A self-contained ``.pkg.slp``: labels plus the labeled (and suggested) frames' images."""
    import sleap_io as sio

    labels = _labels(dataset, video=video)
    _open_videos(labels)
    missing = [v.filename for v in labels.videos if v.backend is None]
    if missing:
        raise FormatError(
            f"Cannot embed frames: video(s) {missing} cannot be opened.",
            hint="Relink the videos (they must exist to copy their frames), or export plain .slp.",
        )
    sio.save_slp(labels, str(path), embed="user+suggestions", verbose=False)


# ---------------------------------------------------------------------------- NWB
def load_nwb(path: Path) -> PoseDataset:
    import sleap_io as sio

    return _to_dataset(sio.load_nwb(str(path)), path)


def save_nwb(dataset: PoseDataset, path: Path, *, video: int | None = None) -> None:
    """NWB with ndx-pose: user labels as ``PoseTraining``, predictions as ``PoseEstimation``."""
    import sleap_io as sio

    try:
        import ndx_pose  # noqa: F401
        import pynwb  # noqa: F401
    except ImportError as exc:
        raise FormatError(
            "NWB export needs pynwb and ndx-pose, which are not installed.",
            hint="pip install 'napari-posetrack[nwb]'",
        ) from exc
    has_labels = len(dataset.labels) > 0
    embedded = [v.path for v in dataset.videos if v.kind == "embedded"]
    if embedded:
        raise FormatError(
            f"NWB export needs the original video files, but the frames of {embedded[0]} are embedded in a "
            "labels package.",
            hint="Relink the videos to the original media files (dataset.videos[i]), or export .slp / .pkg.slp.",
        )
    labels = _labels(dataset, video=video, include_predictions=not has_labels)
    _open_videos(labels)
    sio.save_nwb(labels, str(path), nwb_format="annotations" if has_labels else "predictions")


# ---------------------------------------------------------------------------- analysis HDF5
def is_analysis_h5(path: Path) -> bool:
    if path.suffix.lower() not in (".h5", ".hdf5", ".analysis.h5") or not path.is_file():
        return False
    import h5py

    with h5py.File(path, "r") as f:
        return "tracks" in f and "node_names" in f


def load_analysis(path: Path) -> PoseDataset:
    import sleap_io as sio

    return _to_dataset(sio.load_analysis_h5(str(path)), path)


def save_analysis(dataset: PoseDataset, path: Path, *, video: int = 0) -> None:
    """SLEAP analysis HDF5 for one video: ``tracks`` (n_tracks, 2, n_nodes, n_frames),
    ``track_occupancy``, ``point_scores``, ``instance_scores``, ``node_names``, ``track_names``.

    Instances without a track get their own column per frame, as in SLEAP.
    """
    import sleap_io as sio

    if not len(dataset.videos):
        raise FormatError("The analysis HDF5 format needs a video, and the dataset has none.",
                          hint="Add the video the poses belong to first.")
    part = select_video(dataset, video)
    info = part.videos[0]
    if info.kind != "video":
        # the analysis file records one video path: give image folders / packages as a path string
        part.videos = [VideoInfo(path=str(info.path), n_frames=info.n_frames, height=info.height,
                                 width=info.width, channels=info.channels, fps=info.fps)]
    labels = dataset_to_labels(part)
    _open_videos(labels)
    sio.save_analysis_h5(labels, str(path), video=0)


# ---------------------------------------------------------------------------- COCO
def load_coco(path: Path) -> PoseDataset:
    import sleap_io as sio

    return _to_dataset(sio.load_coco(str(path)), path)


def save_coco(dataset: PoseDataset, path: Path, *, video: int | None = None) -> None:
    """COCO keypoints JSON (visibility 0 not labeled, 2 visible; tracks as ``attributes.object_id``).

    sleap-io's writer drops the coordinates of occluded nodes (they are written as not labeled).

    Images are named ``<video stem>_frame_<frame:06d>.png``, or the real image file names for
    image-folder videos. The JSON is written; images are not copied.
    """
    import sleap_io as sio

    labels = _labels(dataset, video=video)
    names = None
    if all(v.kind == "images" and v.image_paths for v in ([dataset.videos[video]] if video is not None
                                                          else dataset.videos)) and dataset.videos:
        names = []
        for lf in labels.labeled_frames:
            vid = labels.videos.index(lf.video)
            info = dataset.videos[video if video is not None else vid]
            names.append(Path(info.image_paths[lf.frame_idx]).name)
    sio.save_coco(labels, str(path), image_filenames=names, visibility_encoding="ternary")
