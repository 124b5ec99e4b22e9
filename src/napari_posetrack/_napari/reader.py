"""napari reader: videos, image folders, project stores and every poses format we import.

``get_reader(path)`` returns a reader function for paths it handles and ``None`` for anything
else; it never raises (napari tries other plugins on ``None``). Frames are never read here:
images are lazy dask arrays from :func:`napari_posetrack.core.video.as_dask`.

A project store or a poses file (``.slp``, ``.pkg.slp``, DeepLabCut ``config.yaml``, project
folder, ``labeled-data/<video>`` folder, ``CollectedData_*.csv``/``.h5``, analysis ``.h5``,
``.nwb``) opened in a viewer (File > Open, drag and drop, ``viewer.open``) becomes the viewer's
editable session (:class:`~napari_posetrack._napari.session.ViewerShell`): the Labeling dock
shows it with the video or images behind, and it saves to its store (a file gets a new
``<name>.posetrack.zarr`` beside it). The reader then adds no layers itself, so no stale
copy of the poses can sit under the editable layers. Without a viewer (scripts), static
layers are returned.

Static layers of a store carry ``metadata = {"posetrack_store": PATH, "video_id": i,
"posetrack_kind": "video" | "labels" | "predictions" | "tracks"}`` so that the docks (the
labeling dock first) can pick the project up and open an editing session on it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

__all__ = ["get_reader", "read_video", "read_store", "VIDEO_SUFFIXES"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
#: endings of the poses files the reader opens (the manifest claims the same, as patterns)
POSE_SUFFIXES = (".slp", ".yaml", ".yml", ".csv", ".h5", ".nwb")
AXIS_LABELS = ("frame", "y", "x")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _is_image_folder(p: Path) -> bool:
    try:
        return p.is_dir() and any(e.is_file() and e.name.lower().endswith(_IMAGE_SUFFIXES) for e in os.scandir(p))
    except OSError:
        return False


def poses_source(p: Path) -> Path | None:
    """The poses file a path stands for: itself, or the ``CollectedData_*`` file of a
    DeepLabCut ``labeled-data/<video>`` folder (``.h5`` first); None if it is no poses file."""
    from ..core.io import detect_format

    if p.is_dir():
        found = sorted(p.glob("CollectedData_*.h5")) + sorted(p.glob("CollectedData_*.csv"))
        if found:
            return found[0]
    try:
        spec = detect_format(p)
    except Exception:  # noqa: BLE001 - not ours
        return None
    return p if spec.name != "store" else None


def _classify(path) -> str | None:
    if isinstance(path, (list, tuple)):
        return None
    p = Path(str(path))
    name = p.name.lower()
    if name.endswith(VIDEO_SUFFIXES):
        return "video" if p.is_file() else None
    if p.is_file():
        return "poses" if name.endswith(POSE_SUFFIXES) and poses_source(p) is not None else None
    if not p.is_dir():
        return None
    if (p / "config.yaml").is_file() or any(p.glob("CollectedData_*")):
        return "poses" if poses_source(p) is not None else None
    try:
        children = [c for c in p.iterdir() if c.name.endswith(".posetrack.zarr") and c.is_dir()]
    except OSError:
        return None
    if (p / "zarr.json").is_file() or children:  # only then pay for importing the store (zarr)
        from ..core.store import is_store_dir

        if is_store_dir(p):
            return "store"
        children = [c for c in children if is_store_dir(c)]
    stores = children
    if len(stores) == 1:
        return "store"
    if not stores and _is_image_folder(p):
        return "images"
    return None


def get_reader(path):
    """Reader function for a video, an image folder or a project store; ``None`` otherwise."""
    try:
        kind = _classify(path)
    except Exception:  # noqa: BLE001 - a reader must never raise
        log.debug("posetrack reader: cannot classify %r", path, exc_info=True)
        return None
    if kind in ("store", "poses"):
        return _safe(read_session)
    if kind in ("video", "images"):
        return _safe(read_video)
    return None


def _safe(fn):
    def reader(path):
        try:
            return fn(path)
        except Exception as exc:  # noqa: BLE001 - show the error, never crash napari
            try:
                from napari.utils.notifications import show_error

                show_error(f"napari-posetrack could not open {path}: {exc}")
            except Exception:  # noqa: BLE001
                log.error("napari-posetrack could not open %s: %s", path, exc)
            return [(None,)]  # napari: "handled, nothing to add"

    reader.__name__ = fn.__name__
    reader.__doc__ = fn.__doc__
    return reader


class _EmbeddedFrames:
    """Array-like over a store's embedded frames for dask; frames not embedded are black."""

    def __init__(self, reader):
        import numpy as np

        self.reader = reader
        self.shape = tuple(reader.shape)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4

    def __getitem__(self, key):
        import numpy as np

        key = key if isinstance(key, tuple) else (key,)
        frames = range(*key[0].indices(self.shape[0])) if isinstance(key[0], slice) else [int(key[0])]
        out = np.zeros((len(frames),) + self.shape[1:], np.uint8)
        for j, f in enumerate(frames):
            if f in self.reader._pos:
                out[j] = self.reader[f]
        out = out[(slice(None),) + tuple(key[1:])]
        return out if isinstance(key[0], slice) else out[0]


class _InfoFrames:
    """The embedded frames of a :class:`VideoInfo` (a ``.pkg.slp`` opened without a store),
    shaped like a store's embedded-frame reader for :class:`_EmbeddedFrames`."""

    def __init__(self, info):
        emb = info.embedded or {}
        self.frame_idx = np.asarray(emb.get("frame_idx", []), np.int64)
        self._images = emb.get("images")
        self._pos = {int(f): j for j, f in enumerate(self.frame_idx)}
        c = self._images.shape[-1] if self._images is not None and self._images.ndim == 4 else max(1, info.channels)
        self.shape = (max(int(info.n_frames), int(self.frame_idx.max(initial=-1)) + 1), int(info.height),
                      int(info.width), int(c))

    def __getitem__(self, f):
        return self._images[self._pos[int(f)]]


def video_source(info, store=None, video_id: int = 0):
    """What :func:`frames` reads for a session's video: the store's reader, a ``.pkg.slp``'s
    embedded frames, or the video file / image folder path."""
    if store is not None and hasattr(store, "open_video"):
        return store.open_video(video_id)
    if getattr(info, "kind", "") == "embedded" and info.embedded:
        return _InfoFrames(info)
    return info.path


def truncation_note(reader) -> str | None:
    """"Video X is truncated: N of M frames can be decoded ..." when a video file ends before
    the frames its header promises (a cut download), else None."""
    shared = getattr(reader, "_shared", None)
    idx = getattr(shared, "index", None) or getattr(reader, "index", None)
    header = int(getattr(idx, "header_frames", 0) or 0)
    n = int(getattr(idx, "n_frames", 0) or 0)
    if idx is None or not (getattr(idx, "truncated", False) or (header and n < header)):
        return None
    name = Path(str(getattr(reader, "path", "the video"))).name
    return (f"Video {name} is truncated: only {n} of the {header or '?'} frames its header promises can be "
            "decoded; the frames after that are missing. Re-copy or re-download the file to see them.")


def frames(source, warn=None):
    """Lazy ``(n, h, w[, 3])`` dask frames of :func:`video_source` (grey loses its channel axis).

    A path is opened here (a missing or unreadable file raises its ``VideoError``);
    ``warn(text)`` is told when the video is truncated."""
    if isinstance(source, (str, Path)):
        from ..core.video import open_video

        source = open_video(source)
    note = truncation_note(source)
    if note and warn is not None:
        warn(note)
    arr = _lazy_stack(source)
    return arr[..., 0] if arr.ndim == 4 and arr.shape[-1] == 1 else arr


def _lazy_stack(source):
    from ..core.video import as_dask

    if hasattr(source, "_pos") and hasattr(source, "frame_idx"):  # embedded frames of a store
        import dask.array as da

        arr = _EmbeddedFrames(source)
        return da.from_array(arr, chunks=(1,) + arr.shape[1:], asarray=False, fancy=False, lock=False)
    return as_dask(source, on_error="blank")


def _warn(text: str) -> None:
    try:
        from napari.utils.notifications import show_warning

        show_warning(text)
    except Exception:  # noqa: BLE001
        log.warning(text)


def _image_layer(source, name: str, metadata: dict, visible: bool = True):
    """(data, kwargs, "image") for a lazy video stack; grey videos lose their channel axis."""
    if isinstance(source, Path) and source.is_file():
        from ..core.video import open_video

        source = open_video(source)
    note = truncation_note(source)
    if note:
        _warn(note)
    data = _lazy_stack(source)
    kwargs = {"name": name, "metadata": metadata, "visible": visible, "axis_labels": AXIS_LABELS}
    if data.shape[-1] == 1:
        data = data[..., 0]
    elif data.shape[-1] in (3, 4):
        kwargs["rgb"] = True
    kwargs["contrast_limits"] = (0, 255)  # avoid napari computing limits from frame data
    return (data, kwargs, "image")


def read_session(path):
    """Open a store or poses file as the current viewer's editable session (layers: by the
    Labeling dock); without a viewer, return static layers."""
    try:
        from napari import current_viewer

        viewer = current_viewer()
    except Exception:  # noqa: BLE001
        viewer = None
    p = Path(str(path))
    if viewer is not None:
        from .session import shell_for

        shell_for(viewer).open(p)
        return [(None,)]
    if _classify(p) == "store":
        return read_store(p)
    from ..core.io import load_dataset

    ds = load_dataset(poses_source(p), check_videos="ignore")
    return dataset_layers(ds, {"posetrack_source": str(p)}, lambda i: ds.videos[i].path)


def read_video(path):
    """One lazy Image layer for a video file or an image folder (no frame is decoded)."""
    p = Path(str(path))
    return [_image_layer(p, p.stem if p.is_file() else p.name, {"posetrack_video": str(p)})]


def _points_kwargs(name, features, n_nodes, metadata, *, predictions: bool, visible: bool):
    from .styles import static_points_kwargs

    style = static_points_kwargs(features, n_nodes, predicted=predictions)  # the keypoints layer's look
    return {"name": name, "ndim": 3, "features": features, "metadata": metadata, "visible": visible,
            "axis_labels": AXIS_LABELS, **style}


def read_store(path):
    """Static layers of a project store: per video an Image, labels and predictions Points, and Tracks."""
    from ..core.store import ProjectStore, find_store

    store = ProjectStore.open(path, mode="r")
    store_path = str(find_store(path))
    return dataset_layers(store.load(), {"posetrack_store": store_path}, store.open_video)


def dataset_layers(ds, meta: dict, open_video):
    """Static layers of a dataset: per video an Image (``open_video(i)``), labels and
    predictions Points, and Tracks; every layer's metadata includes ``meta``."""
    import pandas as pd

    from .convert import FEATURES, table_to_points, table_to_tracks

    skel = ds.skeleton
    where = next(iter(meta.values()), "")
    layers = []
    n_videos = max(len(ds.videos), 1 if (len(ds.labels) or len(ds.predictions)) else 0)
    for i in range(n_videos):
        visible = i == 0
        base = {**meta, "video_id": i, "skeleton": skel.to_dict()}
        name = Path(ds.videos[i].path).stem if i < len(ds.videos) and ds.videos[i].path else f"video {i}"
        if i < len(ds.videos):
            try:
                layers.append(_image_layer(open_video(i), name, {**base, "posetrack_kind": "video"}, visible))
            except Exception as exc:  # noqa: BLE001 - a missing video must not hide the labels
                log.warning("video %d of %s not opened: %s", i, where, exc)
                _notify_missing(where, i, exc)
        labels = ds.labels.for_video(i)
        data, features = table_to_points(labels)
        if not len(features):
            features = pd.DataFrame({c: pd.Series([], dtype=float if c == "score" else int) for c in FEATURES})
        layers.append((data, _points_kwargs(f"labels [{name}]", features, skel.n_nodes,
                                            {**base, "posetrack_kind": "labels", "node_names": skel.node_names},
                                            predictions=False, visible=visible), "points"))
        preds = ds.predictions.for_video(i)
        if len(preds):
            pdata, pfeat = table_to_points(preds)
            layers.append((pdata, _points_kwargs(f"predictions [{name}]", pfeat, skel.n_nodes,
                                                 {**base, "posetrack_kind": "predictions",
                                                  "node_names": skel.node_names},
                                                 predictions=True, visible=visible), "points"))
        tracked = preds if (preds.track_id >= 0).any() else labels
        if (tracked.track_id >= 0).any():
            tdata = table_to_tracks(tracked)
            if len(tdata):
                layers.append((tdata, {"name": f"tracks [{name}]", "visible": visible, "tail_length": 30,
                                       "axis_labels": AXIS_LABELS,
                                       "metadata": {**base, "posetrack_kind": "tracks",
                                                    "track_names": list(ds.track_names)}}, "tracks"))
    return layers


def _notify_missing(store_path: str, i: int, exc: Exception) -> None:
    try:
        from napari.utils.notifications import show_warning

        show_warning(f"Video {i} of {Path(store_path).name}: {exc}")
    except Exception:  # noqa: BLE001
        pass
