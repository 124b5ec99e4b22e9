"""DeepLabCut: project / CollectedData import (through sleap-io), labels CSV and predictions export.

Import keeps the body-part order of the project's ``config.yaml`` (``bodyparts``, or
``multianimalbodyparts`` then ``uniquebodyparts``); without a config, the CSV's column order.
(sleap-io alone sorts them alphabetically.) A labeled-data folder becomes an ``"images"`` video
listing its labeled images; body parts left empty in DeepLabCut are state 0 (not labeled).

sleap-io has no DeepLabCut writer that keeps real image paths and likelihoods, so the two
layouts are written here with pandas:

* ``CollectedData`` (labels): header rows ``scorer`` / [``individuals``] / ``bodyparts`` /
  ``coords`` (x, y), one row per labeled image, indexed by ``labeled-data/<folder>/<image>``.
* predictions (``.h5`` key ``df_with_missing``, or ``.csv``): the same header with
  ``likelihood`` columns, one row per video frame (0 .. n_frames-1, NaN where nothing was found).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..dataset import PoseDataset
from ..errors import FormatError
from ..skeleton import Skeleton
from ._slots import assign_slots
from .sleap_convert import labels_to_dataset

__all__ = [
    "is_dlc_project", "is_dlc_csv", "is_dlc_predictions_csv", "is_dlc_h5", "load_dlc_project", "load_dlc_csv",
    "load_dlc_predictions",
    "save_dlc_labels", "labels_frame", "save_dlc_predictions_h5", "save_dlc_predictions_csv", "config_bodyparts",
]

DEFAULT_SCORER = "napari-posetrack"


# ---------------------------------------------------------------------------- detection
def _config_path(path: Path) -> Path | None:
    if path.is_dir():
        p = path / "config.yaml"
        return p if p.is_file() else None
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return path
    return None


def _read_config(path: Path) -> dict:
    import yaml

    with open(path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict):
        raise FormatError(f"{path} is not a DeepLabCut config (expected a YAML mapping).", path=path,
                          hint="Pass the project's config.yaml.")
    return cfg


def is_dlc_project(path: Path) -> bool:
    cfg_path = _config_path(path)
    if cfg_path is None:
        return False
    cfg = _read_config(cfg_path)
    return "bodyparts" in cfg or "multianimalbodyparts" in cfg


def _dlc_csv_kind(path: Path) -> str | None:
    """"labels", "predictions" (has likelihood columns) or None for a non-DeepLabCut file."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return None
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = [fh.readline() for _ in range(4)]
    if head[0].split(",")[0].strip() != "scorer":
        return None
    coords = next((line for line in head if line.startswith("coords")), "")
    return "predictions" if "likelihood" in coords else "labels"


def is_dlc_csv(path: Path) -> bool:
    return _dlc_csv_kind(path) == "labels"


def is_dlc_predictions_csv(path: Path) -> bool:
    return _dlc_csv_kind(path) == "predictions"


def is_dlc_h5(path: Path) -> bool:
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return False
    import h5py

    with h5py.File(path, "r") as f:
        return "df_with_missing" in f


# ---------------------------------------------------------------------------- body-part order
def config_bodyparts(cfg: dict) -> list[str]:
    """Body parts in the order the project's config lists them."""
    multi = bool(cfg.get("multianimalproject")) or cfg.get("bodyparts") == "MULTI!"
    if multi:
        return [str(b) for b in (cfg.get("multianimalbodyparts") or [])] + \
            [str(b) for b in (cfg.get("uniquebodyparts") or [])]
    bp = cfg.get("bodyparts") or []
    return [str(b) for b in bp] if isinstance(bp, list) else []


def _csv_bodyparts(csv_path: Path) -> list[str]:
    import csv

    with open(csv_path, encoding="utf-8", errors="replace", newline="") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if row and row[0] == "bodyparts":
                return list(dict.fromkeys(v for v in row[1:] if v))
            if i > 4:
                break
    return []


def _ordered_dataset(labels, order: list[str], name: str) -> PoseDataset:
    sk = labels.skeletons[0]
    have = [n.name for n in sk.nodes]
    order = [n for n in order if n in have] + [n for n in have if n not in order]
    edges = [(e.source.name, e.destination.name) for e in sk.edges]
    syms = [tuple(n.name for n in s.nodes) for s in sk.symmetries]
    skeleton = Skeleton.from_names(order, edges, syms, name=name)
    return labels_to_dataset(labels, skeleton=skeleton)


# ---------------------------------------------------------------------------- import
def load_dlc_project(path: Path) -> PoseDataset:
    """A DeepLabCut project (``config.yaml`` or its folder): every ``labeled-data/*/CollectedData_*.csv``."""
    import sleap_io as sio

    cfg_path = _config_path(path)
    cfg = _read_config(cfg_path)
    labels = sio.load_dlc_project(str(cfg_path))
    if not labels.skeletons or not labels.labeled_frames:
        raise FormatError(f"The DeepLabCut project {cfg_path.parent} has no labeled frames.", path=cfg_path,
                          hint="Label frames in DeepLabCut first (labeled-data/<video>/CollectedData_<scorer>.csv).")
    return _ordered_dataset(labels, config_bodyparts(cfg), str(cfg.get("Task") or "dlc"))


def load_dlc_csv(path: Path) -> PoseDataset:
    """One ``CollectedData_*.csv`` (config.yaml found up to three folders above gives order and edges)."""
    import sleap_io as sio
    from sleap_io.io.dlc import _discover_config

    labels = sio.load_dlc(str(path))
    if not labels.skeletons or not labels.labeled_frames:
        raise FormatError(f"{path} has no labeled frames whose images we could find.", path=path,
                          hint="Keep the CSV inside its labeled-data/<video>/ folder, beside its images.")
    cfg_path = _discover_config(path)
    cfg = _read_config(cfg_path) if cfg_path else {}
    order = config_bodyparts(cfg)
    return _ordered_dataset(labels, order or _csv_bodyparts(path), str(cfg.get("Task") or "dlc"))


def load_dlc_predictions(path: Path) -> PoseDataset:
    """DeepLabCut predictions (``.h5`` or ``.csv`` with likelihoods), read with movement."""
    from .movement_convert import movement_to_dataset, require_movement

    load_poses = require_movement()
    ds = load_poses.from_dlc_file(str(path))
    out = movement_to_dataset(ds)
    out.videos[0].path = str(path)
    return out


# ---------------------------------------------------------------------------- export helpers
def _image_name(info, frame: int) -> tuple[str, str]:
    """(folder, image file name) of a frame, DeepLabCut style."""
    if info.kind == "images" and info.image_paths and frame < len(info.image_paths):
        return Path(info.path).name or "images", Path(info.image_paths[frame]).name
    n = max(int(info.n_frames), frame + 1, 2)
    width = max(int(math.ceil(math.log10(n))), 1)
    return Path(info.path).stem or "video", f"img{str(frame).zfill(width)}.png"


def _is_multi(table, track_names) -> bool:
    if len(track_names):
        return True
    if not len(table):
        return False
    _, counts = np.unique(np.stack([table.video_id, table.frame_idx]), axis=1, return_counts=True)
    return bool((counts > 1).any())


def _columns(scorer, individuals, node_names, coords):
    import pandas as pd

    if individuals is None:
        tuples = [(scorer, n, c) for n in node_names for c in coords]
        return pd.MultiIndex.from_tuples(tuples, names=["scorer", "bodyparts", "coords"])
    tuples = [(scorer, i, n, c) for i in individuals for n in node_names for c in coords]
    return pd.MultiIndex.from_tuples(tuples, names=["scorer", "individuals", "bodyparts", "coords"])


def _fill(table, slots, n_rows_index, n_ind, k, with_likelihood):
    """(rows, n_ind * k * c) block: x, y[, likelihood] per individual and node."""
    c = 3 if with_likelihood else 2
    block = np.full((n_rows_index.max() + 1 if len(n_rows_index) else 0, n_ind, k, c), np.nan)
    labeled = table.state > 0
    xy = np.where(labeled[..., None], table.points, np.nan)
    block[n_rows_index, slots, :, 0:2] = xy
    if with_likelihood:
        block[n_rows_index, slots, :, 2] = np.where(labeled, np.nan_to_num(table.score, nan=1.0), np.nan)
    return block.reshape(block.shape[0], -1)


def _pick(dataset: PoseDataset, prefer: str):
    if prefer == "labels":
        return dataset.labels if len(dataset.labels) else dataset.predictions
    return dataset.predictions if len(dataset.predictions) else dataset.labels


# ---------------------------------------------------------------------------- export
def labels_frame(dataset: PoseDataset, *, video: int | None = None, scorer: str = DEFAULT_SCORER):
    """The CollectedData DataFrame (rows ``labeled-data/<folder>/<image>``) of the labels.

    Uses the user labels, or the predictions when there are no labels.
    """
    import pandas as pd

    table = _pick(dataset, "labels")
    if video is not None:
        table = table.for_video(int(video))
    table = table.sorted()
    multi = _is_multi(table, dataset.track_names)
    index, row_of = [], {}
    keys = {(v, f) for v, f, _ in table.frame_groups()}
    for vid, info in enumerate(dataset.videos):
        if (video is None or vid == int(video)) and info.kind == "images" and info.image_paths:
            # every image of a labeled-data folder gets a row (empty ones too): positions are frame indices
            keys |= {(vid, f) for f in range(len(info.image_paths))}
    for vid, frame in sorted(keys):
        folder, image = _image_name(dataset.videos[vid], frame)
        row_of[(vid, frame)] = len(index)
        index.append(f"labeled-data/{folder}/{image}")
    rows = np.array([row_of[(int(v), int(f))] for v, f in zip(table.video_id, table.frame_idx)], np.int64)
    names = None
    slots = np.zeros(len(table), np.int64)
    if multi:
        slots, names = assign_slots(table.with_columns(frame_idx=rows), dataset.track_names)
        names = [n if not n.startswith("untracked_") else f"individual{n[len('untracked_'):]}" for n in names]
    k = dataset.skeleton.n_nodes
    data = np.full((len(index), (len(names) if multi else 1) * k * 2), np.nan)
    block = _fill(table, slots, rows, len(names) if multi else 1, k, False)
    data[: len(block)] = block
    return pd.DataFrame(data, index=index, columns=_columns(scorer, names, dataset.skeleton.node_names, ["x", "y"]))


def save_dlc_labels(dataset: PoseDataset, path: Path, *, video: int | None = None,
                    scorer: str = DEFAULT_SCORER) -> None:
    """CollectedData CSV of the user labels (predictions if there are no labels)."""
    labels_frame(dataset, video=video, scorer=scorer).to_csv(path)


def _predictions_frame(dataset: PoseDataset, video: int, scorer: str):
    import pandas as pd

    if not 0 <= int(video) < max(len(dataset.videos), 1):
        raise FormatError(f"Video {video} does not exist: the dataset has {len(dataset.videos)} video(s).",
                          hint="Pass --video with a valid index.")
    table = _pick(dataset, "predictions").for_video(int(video))
    n_frames = int(dataset.videos[video].n_frames) if dataset.videos else 0
    n_frames = max(n_frames, int(table.frame_idx.max()) + 1 if len(table) else 0)
    multi = _is_multi(table, dataset.track_names)
    slots = np.zeros(len(table), np.int64)
    names = None
    if multi:
        slots, names = assign_slots(table, dataset.track_names)
        names = [n if not n.startswith("untracked_") else f"individual{n[len('untracked_'):]}" for n in names]
    k = dataset.skeleton.n_nodes
    data = np.full((n_frames, (len(names) if multi else 1) * k * 3), np.nan)
    block = _fill(table, slots, table.frame_idx, len(names) if multi else 1, k, True)
    data[: len(block)] = block
    cols = _columns(scorer, names, dataset.skeleton.node_names, ["x", "y", "likelihood"])
    return pd.DataFrame(data, index=pd.RangeIndex(n_frames), columns=cols)


def save_dlc_predictions_h5(dataset: PoseDataset, path: Path, *, video: int = 0,
                            scorer: str = DEFAULT_SCORER) -> None:
    """DeepLabCut predictions HDF5 (pandas ``to_hdf``, key ``df_with_missing``; needs PyTables)."""
    try:
        import tables  # noqa: F401
    except ImportError as exc:
        raise FormatError("DeepLabCut .h5 export needs PyTables, which is not installed.",
                          hint="pip install tables, or export --format dlc-pred-csv.") from exc
    df = _predictions_frame(dataset, video, scorer)
    df.to_hdf(str(path), key="df_with_missing", format="table", mode="w")


def save_dlc_predictions_csv(dataset: PoseDataset, path: Path, *, video: int = 0,
                             scorer: str = DEFAULT_SCORER) -> None:
    """DeepLabCut predictions CSV (x, y, likelihood per body part and individual)."""
    _predictions_frame(dataset, video, scorer).to_csv(path)
