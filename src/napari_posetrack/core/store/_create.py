"""Creating a store: built in a hidden temporary folder, then renamed into place.

A failed or killed create never leaves a half-written store at the target path: either
the rename happened (complete store) or only the hidden ``.NAME.creating-XXXX`` folder
exists (removed on failure; ignored by readers).
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import zarr

from ... import __version__
from ..dataset import VideoInfo
from ..errors import PoseTrackError, SkeletonMismatchError, StoreError
from ..skeleton import Skeleton
from . import _commits as commits
from ._codec import PAIR_TABLES, POSE_TABLES, empty_columns, json_plain, table_columns, video_entry
from ._paths import FORMAT_NAME, STORE_SUFFIX
from ._videos import probe_info
from ._zarrio import DurableLocalStore, flush_dirs, fsync_dir, write_columns

__all__ = ["create_store", "store_target"]


def store_target(path: Path) -> Path:
    """The ``*.zarr`` folder for ``path`` (a project folder gets ``FOLDER/FOLDER.posetrack.zarr``)."""
    path = Path(path).expanduser()
    if path.name.endswith(".zarr"):
        return path.absolute()
    return (path / f"{path.name}{STORE_SUFFIX}").absolute()


def _unwritable(path: Path, exc: OSError) -> StoreError:
    why = exc.strerror or str(exc)
    return StoreError(
        f"Cannot create the project store at {path}: {why}.",
        path=path,
        hint="Choose a folder you can write to (check permissions, free space and that no file has that name).",
    )


def create_store(path: Path, skeleton: Skeleton | None, videos=(), *, track_names=(), overwrite: bool = False,
                 durable: bool = True, dataset=None) -> Path:
    """Create a store at ``path`` and return its folder (see :meth:`ProjectStore.create`)."""
    target = store_target(path)
    tables = {}
    if dataset is not None:
        skeleton = skeleton if skeleton is not None else dataset.skeleton
        videos = list(videos) or list(dataset.videos)
        track_names = list(track_names) or list(dataset.track_names)
        tables = {"labels": dataset.labels, "predictions": dataset.predictions,
                  "suggestions": dataset.suggestions, "negative_frames": dataset.negative_frames}
        for name in POSE_TABLES:
            t = tables[name]
            if len(t) and t.n_nodes != skeleton.n_nodes:
                raise SkeletonMismatchError(
                    f"The dataset's {name} have {t.n_nodes} nodes but the skeleton {skeleton.name!r} has "
                    f"{skeleton.n_nodes}.", hint="Remap the tables onto the skeleton first.")
    if target.exists():
        if not target.is_dir():
            raise StoreError(f"Cannot create the project store at {target}: a file has that name.", path=target,
                             hint="Pick another name or remove the file.")
        if any(target.iterdir()) and not overwrite:
            raise StoreError(
                f"The folder {target} already exists and is not empty.",
                path=target, hint="Open it with ProjectStore.open, pick another name, or pass overwrite=True.",
            )
    skeleton = skeleton if skeleton is not None else Skeleton([], name="skeleton")
    # probe every video before writing anything
    infos = [v if isinstance(v, VideoInfo) else probe_info(v) for v in videos]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    _remove_stale_temporaries(target)
    tmp = target.parent / f".{target.name}.creating-{uuid.uuid4().hex[:8]}"
    try:
        _build(tmp, target.parent, skeleton, infos, [str(t) for t in track_names], durable, tables)
        _move_into_place(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _unwritable(target, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if durable:
        fsync_dir(target.parent)
    return target


def _remove_stale_temporaries(target: Path, max_age_s: float = 3600.0) -> None:
    """Delete hidden build folders of creates of ``target`` killed more than an hour ago."""
    for pattern in (f".{target.name}.creating-*", f".{target.name}.old-*"):
        for p in target.parent.glob(pattern):
            try:
                if time.time() - p.stat().st_mtime > max_age_s:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                continue


def _move_into_place(tmp: Path, target: Path) -> None:
    if target.exists():
        trash = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(trash)
        try:
            tmp.rename(target)
        except BaseException:
            trash.rename(target)
            raise
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(target)


def _build(root: Path, project_dir: Path, skeleton: Skeleton, infos: list[VideoInfo], track_names: list[str],
           durable: bool, values: dict) -> None:
    from ._video_ops import write_embedded

    root.mkdir(parents=False)
    store = DurableLocalStore(root)
    g = zarr.open_group(store=store, mode="w", zarr_format=3)
    g.attrs.update({"format": FORMAT_NAME, "schema_version": commits.SCHEMA_VERSION,
                    "created_with": f"napari-posetrack {__version__}", "created": time.time()})
    for top in commits.GROUP_DIRS:
        g.create_group(top)
    n = 1
    tables = {}
    for name in POSE_TABLES + PAIR_TABLES:
        group = f"tables/{name}-{n:07d}-{uuid.uuid4().hex[:8]}"
        value = values.get(name)
        cols = empty_columns(name, skeleton.n_nodes) if value is None or not len(value) else table_columns(name, value)
        write_columns(g, group, cols)
        tables[name] = {"group": group, "n_rows": int(len(cols["frame_idx"]))}
    entries, embedded = [], []
    for i, info in enumerate(infos):
        group = None
        if info.kind == "embedded" and info.embedded is not None:
            group = f"embedded/video{i}-{n:07d}-{uuid.uuid4().hex[:8]}"
            write_embedded(g, group, info.embedded)
            embedded.append(group)
        entries.append(video_entry(info, project_dir, group))
    meta_group = f"meta/meta-{n:07d}-{uuid.uuid4().hex[:8]}"
    try:
        attrs = json_plain({"skeleton": skeleton.to_dict(), "videos": entries, "track_names": track_names,
                            "attrs": {}}, "the project metadata")
    except ValueError as exc:
        raise PoseTrackError(str(exc)) from None
    mg = g.create_group(meta_group)
    mg.attrs.update(attrs)
    if durable:
        flush_dirs(root)
    commits.write_commit(root, {"commit": n, "time": time.time(), "meta": meta_group, "tables": tables,
                                "embedded": embedded}, durable=durable)
