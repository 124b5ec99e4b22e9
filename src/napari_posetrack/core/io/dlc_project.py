"""Export a whole DeepLabCut project folder, ready for ``deeplabcut.create_training_dataset``.

::

    PROJECT/
      config.yaml                              body parts (skeleton order), edges, individuals
      labeled-data/<video>/CollectedData_<scorer>.csv   and .h5 (pandas, key "df_with_missing")
      labeled-data/<video>/img<frame>.png      the labeled frames (decoded from the videos)

The folder is built beside the target under a hidden name and renamed into place, so a failed
export leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import uuid
from pathlib import Path

import numpy as np

from ..dataset import PoseDataset
from ..errors import FormatError
from .dlc import DEFAULT_SCORER, _image_name, _is_multi, _pick, labels_frame
from .sleap_formats import select_video

__all__ = ["save_dlc_project"]


def _config(dataset: PoseDataset, path: Path, scorer: str, multi: bool, individuals: list[str]) -> dict:
    sk = dataset.skeleton
    video_sets = {}
    for v in dataset.videos:
        if v.kind == "video":
            video_sets[str(Path(v.path).resolve())] = {"crop": f"0, {v.width}, 0, {v.height}"}
    cfg = {
        "Task": sk.name or "posetrack", "scorer": scorer, "date": datetime.date.today().strftime("%b%d"),
        "multianimalproject": bool(multi), "identity": False, "project_path": str(path.resolve()),
        "engine": "pytorch", "video_sets": video_sets,
        "skeleton": [list(e) for e in sk.edge_names], "skeleton_color": "black", "pcutoff": 0.6,
        "dotsize": 8, "alphavalue": 0.7, "colormap": "rainbow", "start": 0, "stop": 1, "numframes2pick": 20,
        "TrainingFraction": [0.95], "iteration": 0, "default_net_type": "resnet_50",
        "default_augmenter": "default", "snapshotindex": -1, "batch_size": 8, "cropping": False,
        "x1": 0, "x2": 640, "y1": 277, "y2": 624, "corner2move2": [50, 50], "move2corner": True,
    }
    if multi:
        cfg.update(individuals=individuals, uniquebodyparts=[], multianimalbodyparts=list(sk.node_names),
                   bodyparts="MULTI!")
    else:
        cfg["bodyparts"] = list(sk.node_names)
    return cfg


def _write_frames(info, frames, folder: Path) -> None:
    """The image file of each frame index in ``frames`` into ``folder``."""
    from skimage.io import imsave

    if info.kind == "images" and info.image_paths:
        for f in frames:
            src = Path(info.image_paths[f])
            if not src.exists():
                raise FormatError(f"Image {src} of {info.path} is not there; cannot copy it into the project.",
                                  path=src, hint="Relink the image folder first.")
            shutil.copy2(src, folder / src.name)
        return
    if info.kind == "embedded" and info.embedded is not None:
        lookup = {int(f): i for i, f in enumerate(info.embedded["frame_idx"])}
        images = info.embedded["images"]
        missing = [f for f in frames if f not in lookup]
        if missing:
            raise FormatError(f"Frames {missing[:5]} of {info.path} are not embedded.", path=info.path,
                              hint="Export from a project that has the original video.")
        get = (lambda f: images[lookup[f]])
    else:
        from ..video import open_video

        if not Path(info.path).exists():
            raise FormatError(f"Video {info.path} is not there; its labeled frames cannot be extracted.",
                              path=info.path, hint="Relink the video, or export --format dlc (CSV only).")
        reader = open_video(info.path)
        get = reader.__getitem__
    try:
        for f in frames:
            img = np.asarray(get(int(f)))
            if img.ndim == 3 and img.shape[-1] == 1:
                img = img[..., 0]
            imsave(folder / _image_name(info, int(f))[1], img, check_contrast=False)
    finally:
        if info.kind not in ("images", "embedded"):
            reader.close()


def save_dlc_project(dataset: PoseDataset, path: Path, *, overwrite: bool = False, video: int | None = None,
                     scorer: str = DEFAULT_SCORER) -> None:
    """Write a DeepLabCut project folder at ``path`` (see the module docstring)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FormatError(f"Refusing to overwrite the existing {path} (dlc-project export).", path=path,
                          hint="Choose another folder, or pass overwrite=True (--overwrite).")
    if not path.parent.is_dir():
        raise FormatError(f"Cannot write {path}: the folder {path.parent} does not exist.", path=path,
                          hint=f"Create it first (mkdir -p {path.parent}).")
    if video is not None:
        dataset = select_video(dataset, video)
    table = _pick(dataset, "labels")
    if not len(table):
        raise FormatError("There are no labels to export to a DeepLabCut project.",
                          hint="Label some frames first.")
    multi = _is_multi(table, dataset.track_names)
    tmp = path.parent / f".{path.name}.creating-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        df_all = labels_frame(dataset, scorer=scorer)
        individuals = list(dict.fromkeys(df_all.columns.get_level_values("individuals"))) if multi else []
        import yaml

        with open(tmp / "config.yaml", "w", encoding="utf-8") as fh:
            yaml.safe_dump(_config(dataset, path, scorer, multi, individuals), fh, sort_keys=False)
        for vid, info in enumerate(dataset.videos):
            part = table.for_video(vid)
            if not len(part):
                continue
            folder_name = _image_name(info, 0)[0]
            folder = tmp / "labeled-data" / folder_name
            folder.mkdir(parents=True, exist_ok=True)
            frames = range(len(info.image_paths)) if info.kind == "images" and info.image_paths \
                else [int(f) for f in part.frames()]
            _write_frames(info, list(frames), folder)
            df = labels_frame(dataset, video=vid, scorer=scorer)
            df.to_csv(folder / f"CollectedData_{scorer}.csv")
            df.to_hdf(folder / f"CollectedData_{scorer}.h5", key="df_with_missing", mode="w")
        (tmp / "videos").mkdir()
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
