"""DeepLabCut ``CollectedData_*.h5`` labels (the pandas HDF5 that DeepLabCut itself saves).

sleap-io reads DeepLabCut's CSV but not this HDF5 layout, so it is read here with pandas:
rows are images (``labeled-data/<folder>/<image>``, as one string or a 3-level index), columns
``scorer`` / [``individuals``] / ``bodyparts`` / ``coords``. Body-part order comes from the
project's ``config.yaml`` when one is found above the file, else from the columns.
DeepLabCut *predictions* HDF5 (rows are frame numbers, with likelihood) go through movement
instead (:func:`napari_posetrack.core.io.dlc.load_dlc_predictions`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import PoseDataset, VideoInfo
from ..errors import FormatError
from ..posetable import PoseTable
from ..skeleton import Skeleton

__all__ = ["is_dlc_labels_h5", "load_dlc_labels_h5"]


def _read_frame(path: Path):
    import pandas as pd

    return pd.read_hdf(path)


def is_dlc_labels_h5(path: Path) -> bool:
    """A DeepLabCut HDF5 whose rows are image paths (labels), not frame numbers (predictions)."""
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return False
    import h5py

    with h5py.File(path, "r") as f:
        g = f.get("df_with_missing")
        if not isinstance(g, h5py.Group):
            return False
        # look at the row index without loading the table: strings = image paths = labels
        if "table" in g and "index" in (g["table"].dtype.names or ()):
            return g["table"].dtype["index"].kind in "SUO"
        if "axis1" in g:
            return g["axis1"].dtype.kind in "SUO"
        return "axis1_level0" in g  # a multi-level row index (labeled-data, folder, image)


def _image_key(idx) -> str:
    return "/".join(str(p) for p in idx) if isinstance(idx, tuple) else str(idx)


def _resolve(rel: str, path: Path) -> Path:
    """The image file for an index entry, looking where DeepLabCut projects keep them."""
    rel_path = Path(rel)
    for base in (path.parent, path.parent.parent, path.parent.parent.parent):
        if (base / rel_path).exists():
            return base / rel_path
    if (path.parent / rel_path.name).exists():
        return path.parent / rel_path.name
    return path.parent / rel_path.name  # recorded even when missing (check_video_paths reports it)


def load_dlc_labels_h5(path: Path) -> PoseDataset:
    from sleap_io.io.dlc import _discover_config

    from .dlc import _read_config, config_bodyparts

    df = _read_frame(path)
    names = list(df.columns.names)
    if "bodyparts" not in names or "coords" not in names:
        raise FormatError(f"{path} has columns {names}; expected DeepLabCut's scorer/bodyparts/coords header.",
                          path=path, hint="Is this a DeepLabCut CollectedData file?")
    multi = "individuals" in names
    cols = df.columns
    parts = list(dict.fromkeys(cols.get_level_values("bodyparts")))
    cfg_path = _discover_config(path)
    cfg = _read_config(cfg_path) if cfg_path else {}
    order = [p for p in config_bodyparts(cfg) if p in parts]
    parts = order + [p for p in parts if p not in order]
    individuals = list(dict.fromkeys(cols.get_level_values("individuals"))) if multi else [None]
    keys = [_image_key(i) for i in df.index]
    folders = [Path(k).parent.name or "images" for k in keys]
    videos, frame_of, vid_of = [], [], []
    by_folder: dict[str, int] = {}
    for key, folder in zip(keys, folders):
        if folder not in by_folder:
            by_folder[folder] = len(videos)
            videos.append([])
        vid = by_folder[folder]
        vid_of.append(vid)
        frame_of.append(len(videos[vid]))
        videos[vid].append(str(_resolve(key, path)))
    values = df.to_numpy(np.float64)
    col_index = {c: i for i, c in enumerate(cols)}
    scorer = cols.get_level_values("scorer")[0]
    rows = []
    for r in range(len(df)):
        for t, ind in enumerate(individuals):
            pts = np.full((len(parts), 2), np.nan)
            for k, bp in enumerate(parts):
                for c, coord in enumerate(("x", "y")):
                    key = (scorer, ind, bp, coord) if multi else (scorer, bp, coord)
                    if key in col_index:
                        pts[k, c] = values[r, col_index[key]]
            if np.isfinite(pts).all(-1).any():
                rows.append((r, t if multi else -1, pts))
    table = PoseTable.from_arrays(
        np.stack([p for _, _, p in rows]) if rows else np.zeros((0, len(parts), 2)),
        frame_idx=[frame_of[r] for r, _, _ in rows], video_id=[vid_of[r] for r, _, _ in rows],
        track_id=[t for _, t, _ in rows],
    )
    edges = [tuple(e) for e in (cfg.get("skeleton") or []) if len(e) == 2 and e[0] in parts and e[1] in parts]
    infos = []
    for files in videos:
        first = Path(files[0])
        infos.append(VideoInfo(path=str(first.parent), n_frames=len(files), kind="images", image_paths=files))
    _fill_image_shapes(infos)
    return PoseDataset(
        skeleton=Skeleton.from_names(parts, edges, name=str(cfg.get("Task") or "dlc")),
        videos=infos, track_names=[str(i) for i in individuals] if multi else [], labels=table,
    )


def _fill_image_shapes(infos) -> None:
    """Height, width and channels from the first image of each folder (when it exists)."""
    for info in infos:
        p = Path(info.image_paths[0])
        if not p.exists():
            continue
        try:
            from skimage.io import imread

            img = imread(p)
        except Exception:  # noqa: BLE001 - shape stays unknown
            continue
        info.height, info.width = int(img.shape[0]), int(img.shape[1])
        info.channels = int(img.shape[2]) if img.ndim == 3 else 1
