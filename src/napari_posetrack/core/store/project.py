"""The project store: one zarr v3 folder that is the source of truth of a project.

See ``docs/store.md`` for the layout on disk and the atomicity design. In short: every save
writes new groups, then moves a tiny commit pointer (``HEAD.json``) with an atomic rename;
appends write rows past the committed count, then move the pointer. Readers only ever follow
the pointer, so a killed writer leaves the previous state.
"""

from __future__ import annotations

import os
import threading
import time
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..dataset import PoseDataset, VideoInfo
from ..errors import SkeletonMismatchError, StoreError, StoreLockedError
from ..posetable import PoseTable
from ..skeleton import Skeleton
from . import _commits as commits
from ._codec import (PAIR_TABLES, POSE_TABLES, columns_table, digest, entry_video, json_plain, new_name,
                     skeleton_from_entry, table_columns)
from ._lock import WriterLock
from ._paths import find_store, is_store_dir
from ._streaming import PredictionsMixin
from ._video_ops import VideosMixin
from ._zarrio import flush_dirs, open_root, read_columns, write_columns

__all__ = ["ProjectStore"]

META_KEYS = ("skeleton", "videos", "track_names")


class ProjectStore(VideosMixin, PredictionsMixin):
    """A napari-posetrack project store (``NAME.posetrack.zarr``).

    Use :meth:`create` or :meth:`open`; do not call the constructor directly.

    Attributes
    ----------
    path : Path
        The ``*.posetrack.zarr`` folder.
    project_dir : Path
        The folder holding it; stored video paths are relative to it.
    read_only : bool
        True when opened with ``mode="r"`` or when the folder is not writable.
    """

    def __init__(self, path: Path, *, read_only: bool, lock_timeout: float = 10.0, durable: bool = True):
        self.path = Path(path)
        self.project_dir = self.path.parent
        self.read_only = bool(read_only)
        self.durable = durable
        self._lock = WriterLock(self.path, timeout=lock_timeout)
        self._mutex = threading.RLock()
        self._root = open_root(self.path, read_only=self.read_only)
        self._cache: dict = {}
        self._seen: dict[str, tuple] = {}  # component -> (on-disk token, digest handed out)
        self._pred_keys: tuple | None = None
        commits.read_head(self.path)  # fail early, with a clear message, on a damaged store

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path, mode: str = "r+", *, lock_timeout: float = 10.0, durable: bool = True) -> ProjectStore:
        """Open a store (the ``*.posetrack.zarr`` folder or a project folder holding one).

        Parameters
        ----------
        mode : {"r+", "r"}
            ``"r"`` opens read-only: every write raises :class:`StoreLockedError`.
        lock_timeout : float
            Seconds a write waits for another process's write to finish.
        durable : bool
            fsync files before each commit (survives power loss, not only a killed process).

        Raises
        ------
        StoreError, StoreVersionError
        """
        if mode not in ("r", "r+"):
            raise StoreError(f"Unknown store mode {mode!r}; expected 'r' or 'r+'.", path=path,
                             hint="Use mode='r' to read, mode='r+' to read and write.")
        store_path = find_store(path)
        try:
            attrs = json.loads((store_path / "zarr.json").read_text()).get("attributes", {})
        except (OSError, ValueError) as exc:
            raise StoreError(f"The root metadata {store_path / 'zarr.json'} is corrupt ({exc}).", path=store_path,
                             hint="Restore the project folder from a backup.") from None
        if not is_store_dir(store_path):
            raise StoreError(f"{store_path} is not a napari-posetrack store.", path=store_path)
        commits.check_version(attrs.get("schema_version", 1), store_path)
        read_only = mode == "r" or not os.access(store_path, os.W_OK)
        return cls(store_path, read_only=read_only, lock_timeout=lock_timeout, durable=durable)

    @classmethod
    def create(cls, path, skeleton: Skeleton | None = None, videos=(), *, track_names=(), overwrite: bool = False,
               dataset: PoseDataset | None = None, durable: bool = True) -> ProjectStore:
        """Create a store and return it opened for writing.

        Parameters
        ----------
        path : str or Path
            ``NAME.posetrack.zarr`` (any ``*.zarr``), or a project folder: then the store is
            ``FOLDER/FOLDER_NAME.posetrack.zarr``.
        skeleton : Skeleton, optional
            Empty (no nodes) when not given.
        videos : list of str, Path or VideoInfo
            Video files or image folders (probed for shape and fps) or ready VideoInfo.
        overwrite : bool
            Replace an existing non-empty folder.
        dataset : PoseDataset, optional
            Initial content (labels, predictions, suggestions, tracks; its skeleton and videos
            unless given), written in the same single commit as the store itself.

        Raises
        ------
        StoreError
            If the path exists and ``overwrite`` is False, or cannot be written.
        VideoError
            If a video cannot be read (nothing is written then).
        """
        from ._create import create_store

        store_path = create_store(Path(path), skeleton, videos, track_names=track_names, overwrite=overwrite,
                                  durable=durable, dataset=dataset)
        return cls(store_path, read_only=False, durable=durable)

    @staticmethod
    def recover(path) -> int:
        """Roll a store with a damaged ``HEAD.json`` back to its newest intact commit."""
        from ._paths import find_store as _find

        p = _find(path)
        with WriterLock(p):
            return commits.recover(p)

    def close(self) -> None:
        self._cache.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"ProjectStore({str(self.path)!r}, read_only={self.read_only})"

    # ------------------------------------------------------------------ reading
    def head(self) -> dict:
        """The current commit document (see docs/store.md)."""
        return commits.read_head(self.path)

    @property
    def commit(self) -> int:
        return int(self.head()["commit"])

    def _meta(self, head: dict) -> dict:
        key = ("meta", head["meta"])
        if key not in self._cache:
            try:
                attrs = dict(self._root[head["meta"]].attrs)
            except Exception as exc:  # noqa: BLE001 - zarr raises many kinds on damaged metadata
                raise StoreError(
                    f"The metadata group {self.path / head['meta']} is corrupt ({exc}).",
                    path=self.path, hint=self._older_hint(),
                ) from None
            self._cache = {k: v for k, v in self._cache.items() if k[0] != "meta"}
            self._cache[key] = attrs
        return self._cache[key]

    def _older_hint(self) -> str:
        older = commits.list_commits(self.path)
        if len(older) > 1:
            return (f"{len(older)} older commits exist; roll back with ProjectStore.recover({str(self.path)!r}) "
                    "after moving HEAD.json aside.")
        return "Restore the project folder from a backup."

    def _read_table(self, head: dict, name: str, columns=None) -> dict:
        ref = head["tables"][name]
        key = ("table", name, ref["group"], int(ref["n_rows"]), tuple(columns or ()))
        if key not in self._cache:
            try:
                cols = read_columns(self._root, ref["group"], int(ref["n_rows"]), columns)
            except Exception as exc:  # noqa: BLE001
                raise StoreError(
                    f"The {name} table {self.path / ref['group']} is corrupt or incomplete ({exc}).",
                    path=self.path, hint=self._older_hint(),
                ) from None
            self._cache = {k: v for k, v in self._cache.items() if not (k[0] == "table" and k[1] == name)}
            self._cache[key] = cols
        return self._cache[key]

    def _get(self, comp: str, head: dict | None = None):
        """Read a component of commit ``head`` (default: current) and remember what we handed out."""
        with self._mutex:
            head = head if head is not None else self.head()
            meta = self._meta(head)
            token = self._token(head, meta, comp)
            if comp in POSE_TABLES or comp in PAIR_TABLES:
                value = columns_table(comp, self._read_table(head, comp)).copy()
            elif comp == "skeleton":
                value = skeleton_from_entry(meta.get("skeleton"))
            elif comp == "videos":
                value = self._videos(meta)
            elif comp == "track_names":
                value = list(meta.get("track_names", []))
            else:
                raise KeyError(comp)
            self._seen[comp] = (token, digest(comp, value))
            return value

    def _token(self, head: dict, meta: dict, comp: str):
        if comp in head["tables"]:
            ref = head["tables"][comp]
            return (ref["group"], int(ref["n_rows"]))
        return json.dumps(meta.get(comp), sort_keys=True)

    def _videos(self, meta: dict, *, load_embedded: bool = False) -> list[VideoInfo]:
        out = []
        for entry in meta.get("videos", []):
            info = entry_video(entry, self.project_dir)
            if entry.get("kind") == "embedded" and entry.get("embedded"):
                g = self._root[entry["embedded"]]
                images = g["images"]
                info.embedded = {"frame_idx": np.asarray(g["frame_idx"][:]),
                                 "images": np.asarray(images[:]) if load_embedded else images}
            out.append(info)
        return out

    @property
    def skeleton(self) -> Skeleton:
        return self._get("skeleton")

    @property
    def videos(self) -> list[VideoInfo]:
        """Videos with absolute paths; embedded frames are lazy zarr arrays here."""
        return self._get("videos")

    @property
    def track_names(self) -> list[str]:
        return self._get("track_names")

    @property
    def labels(self) -> PoseTable:
        return self._get("labels")

    @property
    def predictions(self) -> PoseTable:
        return self._get("predictions")

    @property
    def suggestions(self) -> np.ndarray:
        """(M, 2) int64 ``(video_id, frame_idx)``."""
        return self._get("suggestions")

    @property
    def negative_frames(self) -> np.ndarray:
        """(M, 2) int64 ``(video_id, frame_idx)``."""
        return self._get("negative_frames")

    def get_attr(self, key: str, default=None):
        """A value set with :meth:`set_attrs` (plain JSON), or ``default``."""
        return self._meta(self.head()).get("attrs", {}).get(key, default)

    @property
    def attrs(self) -> dict:
        return dict(self._meta(self.head()).get("attrs", {}))

    def load(self) -> PoseDataset:
        """Everything as a :class:`PoseDataset` (embedded frames read into memory)."""
        with self._mutex:
            head = self.head()  # one commit for every component: never a mix of two saves
            ds = PoseDataset(
                skeleton=self._get("skeleton", head),
                videos=self._get("videos", head),
                track_names=self._get("track_names", head),
                labels=self._get("labels", head),
                predictions=self._get("predictions", head),
                suggestions=self._get("suggestions", head),
                negative_frames=self._get("negative_frames", head),
            )
            for v in ds.videos:
                if v.embedded is not None:
                    v.embedded = {"frame_idx": v.embedded["frame_idx"], "images": np.asarray(v.embedded["images"][:])}
            return ds

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _writing(self):
        if self.read_only:
            raise StoreLockedError(
                f"The project store {self.path} is open read-only; it cannot be changed.",
                path=self.path,
                hint="Open it with ProjectStore.open(path, mode='r+') from a folder you can write to.",
            )
        with self._mutex, self._lock:
            try:
                yield self.head()
            except OSError as exc:  # disk full, permissions, ...: nothing was committed
                raise StoreError(
                    f"Writing to the project store {self.path} failed ({exc.strerror or exc}); "
                    "the last saved state is intact.",
                    path=self.path, hint="Check free disk space and permissions, then save again.",
                ) from exc

    def save(self, dataset: PoseDataset | None = None, *, labels=None, predictions=None, suggestions=None,
             negative_frames=None, track_names=None, skeleton=None, videos=None, attrs=None) -> int:
        """Save a dataset, or some components, atomically; return the commit number.

        Components the caller did not change since it read them from this store object are
        kept as they are on disk (so predictions appended meanwhile are not lost). A component
        changed here *and* on disk by someone else raises :class:`StoreError` (conflict).
        """
        values = {}
        if dataset is not None:
            values.update(skeleton=dataset.skeleton, videos=dataset.videos, track_names=dataset.track_names,
                          labels=dataset.labels, predictions=dataset.predictions,
                          suggestions=dataset.suggestions, negative_frames=dataset.negative_frames)
        for k, v in dict(labels=labels, predictions=predictions, suggestions=suggestions,
                         negative_frames=negative_frames, track_names=track_names, skeleton=skeleton,
                         videos=videos).items():
            if v is not None:
                values[k] = v
        with self._writing() as head:
            meta = self._meta(head)
            changes = {}
            for comp, value in values.items():
                if comp == "track_names":
                    value = [str(t) for t in value]
                dig = digest(comp, value)
                seen = self._seen.get(comp)
                if seen is not None:
                    if dig == seen[1]:
                        continue
                    if self._token(head, meta, comp) != seen[0]:
                        raise StoreError(
                            f"Cannot save {comp}: another writer changed them in {self.path.name} since they "
                            "were read here, and they were also changed here.",
                            path=self.path, hint="Reload the project (store.load()), re-apply the edits, save again.",
                        )
                changes[comp] = value
            if attrs:
                changes["attrs"] = dict(meta.get("attrs", {}), **attrs)
            if not changes:
                return int(head["commit"])
            return self._commit_changes(head, changes)

    def set_attrs(self, **values) -> int:
        """Store small plain-JSON values (settings, provenance) atomically."""
        with self._writing() as head:
            meta = self._meta(head)
            return self._commit_changes(head, {"attrs": dict(meta.get("attrs", {}), **values)})

    def _commit_changes(self, head: dict, changes: dict) -> int:
        """Write new groups for ``changes`` and commit them (under the writer lock)."""
        meta = self._meta(head)
        n = int(head["commit"]) + 1
        skel = changes.get("skeleton") or skeleton_from_entry(meta.get("skeleton"))
        k = skel.n_nodes
        for name in POSE_TABLES:
            if name in changes and changes[name].n_nodes != k and len(changes[name]):
                raise SkeletonMismatchError(
                    f"The {name} have {changes[name].n_nodes} nodes but the skeleton {skel.name!r} has {k}.",
                    hint="Remap the table onto the skeleton (PoseTable.remap_nodes) before saving.",
                )
            if name not in changes and "skeleton" in changes and head["tables"][name]["n_rows"] and \
                    skel.n_nodes != skeleton_from_entry(meta.get("skeleton")).n_nodes:
                raise SkeletonMismatchError(
                    f"The new skeleton has {k} nodes but the stored {name} have "
                    f"{skeleton_from_entry(meta.get('skeleton')).n_nodes}.",
                    hint=f"Save the {name} remapped onto the new skeleton in the same save.",
                )
        new = {"commit": n, "time": time.time(), "pid": os.getpid(), "meta": head["meta"],
               "tables": {t: dict(r) for t, r in head["tables"].items()}, "embedded": list(head.get("embedded", []))}
        old_k = skeleton_from_entry(meta.get("skeleton")).n_nodes
        if "skeleton" in changes and k != old_k:  # empty tables get arrays of the new width
            changes = {**{t: PoseTable.empty(k) for t in POSE_TABLES if t not in changes}, **changes}
        if "predictions" in changes and "predicted_frames" not in changes:
            changes = dict(changes, predicted_frames=np.zeros((0, 2), np.int64))  # fresh resume record
        for name in POSE_TABLES + PAIR_TABLES:
            if name in changes:
                value = changes[name]
                if name in POSE_TABLES and not len(value):
                    value = PoseTable.empty(k)
                group = f"tables/{new_name(name, n)}"
                cols = table_columns(name, value)
                write_columns(self._root, group, cols)
                new["tables"][name] = {"group": group, "n_rows": int(len(cols["frame_idx"]))}
        if any(c in changes for c in META_KEYS + ("attrs",)):
            attrs = {key: meta.get(key) for key in META_KEYS + ("attrs",)}
            if "skeleton" in changes:
                attrs["skeleton"] = skel.to_dict()
            if "track_names" in changes:
                attrs["track_names"] = list(changes["track_names"])
            if "attrs" in changes:
                attrs["attrs"] = changes["attrs"]
            if "videos" in changes:
                attrs["videos"], new["embedded"] = self._write_videos(changes["videos"], meta, n)
            try:
                attrs = json_plain(attrs, "the project metadata")
            except ValueError as exc:
                raise StoreError(str(exc), path=self.path,
                                 hint="Store only numbers, strings, lists and dicts.") from None
            group = f"meta/{new_name('meta', n)}"
            g = self._root.create_group(group, overwrite=True)
            g.attrs.update(attrs)
            new["meta"] = group
        self._finish_commit(new, gc=True)
        self._remember(new, changes)
        return n

    def _finish_commit(self, new: dict, *, gc: bool) -> None:
        if self.durable:
            flush_dirs(self.path)
        commits.write_commit(self.path, new, durable=self.durable)
        commits.collect_garbage(self.path, new, groups=gc)

    def _remember(self, new: dict, changes: dict) -> None:
        meta = self._meta(new)
        for comp, value in changes.items():
            if comp != "attrs":
                self._seen[comp] = (self._token(new, meta, comp), digest(comp, value))

