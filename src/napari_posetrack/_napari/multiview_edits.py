"""Edits of the cameras' 2D labels made in the 3D dock's camera views, and their saving.

:class:`CameraEdits` keeps one :class:`~napari_posetrack.core.session.EditSession` per edited
camera. Its dataset is the one the triangulation just read (``MultiviewSession.load_datasets``),
so the first edit of a camera reads no file. The edits go to the project store beside the
camera's labels file (``x.slp`` -> ``x.posetrack.zarr``, the store the Labeling dock creates for
that file; the ``.slp`` is never written). Creating that store and saving are disk work of up to
a few seconds on a loaded machine, so they run in one background thread, one job at a time in
the order of the edits: a move is applied, drawn and queued for saving at once, and written
moments later. :meth:`CameraEdits.wait` waits for the queue (before triangulating again, on
close); ``saved`` and ``failed`` (Qt signals, delivered in the main thread) report each write.

What is refused before anything changes: a move outside the camera's picture, and a camera
whose folder cannot be written or already holds something at the store's path.
"""

from __future__ import annotations

import copy
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from qtpy.QtCore import QObject, QTimer, Signal

from ..core.errors import PoseTrackError

__all__ = ["CameraEdits"]


def _import_store() -> None:
    """Import the store module (and zarr) in the background, so the first edit does not wait for it."""
    from ..core import store  # noqa: F401


class CameraEdits(QObject):
    """The label edits of one triangulated session, saved in a background thread.

    Parameters
    ----------
    session : MultiviewSession
    datasets : dict
        ``{camera: PoseDataset}`` as the triangulation read them (reused by the first edit).
    start_delay_ms : int
        How long after an edit its write starts. The write shares Python's interpreter lock
        with the main thread, so it waits until the views have been redrawn.
    """

    saved = Signal(str, str)  # camera, message (a new store was created: the message says where)
    failed = Signal(str, str)  # camera, message

    def __init__(self, session, datasets: dict | None = None, start_delay_ms: int = 250):
        super().__init__()
        self.session = session
        self.datasets = dict(datasets or {})
        self.edits: dict = {}  # camera -> EditSession
        self.history: list[tuple] = []  # (camera, c, t, i) of each edit, for undo
        self.loaded_from_disk: list[str] = []  # cameras whose labels an edit had to read again
        self._snapshots: dict = {}  # camera -> the dataset before its first edit (the new store's content)
        self._queued: set[str] = set()  # cameras with a write waiting in the thread's queue
        self._due: set[str] = set()  # cameras whose write starts when the timer fires
        self._lock = threading.Lock()
        self._futures: list[Future] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posetrack-multiview-save")
        self._timer = QTimer(self)  # writes start a moment after the edit, once the views are redrawn
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(start_delay_ms))
        self._timer.timeout.connect(self._submit)
        self._futures.append(self._pool.submit(_import_store))  # zarr's import (~2 s) before the first edit

    # ------------------------------------------------------------------ sessions
    def edit_session(self, cam: str):
        """The editing session of camera ``cam`` (its edits store, or its labels, until the first edit)."""
        if cam not in self.edits:
            from ..core.multiview.label_edits import labels_source
            from ..core.session import EditSession

            src = labels_source(self.session.camera(cam))
            if src is not None and src.is_dir():  # an edits store: open it for writing (it detects other writers)
                from ..core.store import ProjectStore

                try:
                    self.edits[cam] = EditSession.from_store(ProjectStore.open(src, mode="r+"))
                except PoseTrackError as exc:
                    raise PoseTrackError(f"Cannot edit camera {cam!r}: its edits store {src} cannot be opened "
                                         f"({str(exc).split(chr(10))[0]}), so the move was "
                                         "not kept.", path=src,
                                         hint="Move that folder away if it is not this camera's project store, then "
                                         "triangulate again.") from exc
                self.loaded_from_disk.append(cam)
            elif cam in self.datasets:
                self.edits[cam] = EditSession(self.datasets[cam])
            else:
                from ..core.io import load_dataset

                self.edits[cam] = EditSession(load_dataset(src, check_videos="ignore"))
                self.loaded_from_disk.append(cam)
        return self.edits[cam]

    def store_path(self, cam: str) -> Path:
        from ..core.multiview.label_edits import edits_store_path

        return edits_store_path(Path(self.session.camera(cam).labels))

    def _check_writable(self, cam: str) -> None:
        """Refuse the first edit of a camera whose edits store cannot be created (nothing is changed then)."""
        edit = self.edits[cam]
        if edit.store is not None or cam in self._snapshots:
            return
        target = self.store_path(cam)
        if not os.access(target.parent, os.W_OK):
            raise PoseTrackError(f"Cannot save the edits of camera {cam!r}: its folder {target.parent} is not "
                                 "writable, so the move was not kept.",
                                 path=target.parent, hint="Copy the session to a folder you can write to (or point "
                                 "the session file's labels there) and triangulate again.")
        if target.exists():
            raise PoseTrackError(f"Cannot save the edits of camera {cam!r}: {target} already exists but was not "
                                 "read as that camera's labels, so the move was not kept.",
                                 path=target, hint="Triangulate again (the session then reads that store), or move "
                                 "it away.")

    # ------------------------------------------------------------------ edits
    def push(self, cam: str, cmd, key: tuple) -> None:
        """Apply ``cmd`` to camera ``cam``'s labels and queue the save; ``key`` = (c, t, i) for undo."""
        edit = self.edit_session(cam)
        self._check_writable(cam)
        if edit.store is None and cam not in self._snapshots:
            self._snapshots[cam] = copy.deepcopy(edit.dataset)  # the new store starts from the unedited labels
        edit.push(cmd)
        self.history.append((cam, *key))
        self.save_soon(cam)

    def undo(self):
        """Undo the last edit; returns its (camera, c, t, i), or None when there is none."""
        if not self.history:
            return None
        last = self.history.pop()
        self.edits[last[0]].undo()
        self.save_soon(last[0])
        return last

    # ------------------------------------------------------------------ saving (background thread)
    def save_soon(self, cam: str) -> None:
        """Queue a write of camera ``cam``'s edits (one queued write per camera is enough)."""
        with self._lock:
            self._due.add(cam)
        if not self._timer.isActive():  # a run of edits does not postpone the first one's write
            self._timer.start()

    def _submit(self) -> None:
        """Hand the due writes to the background thread."""
        self._timer.stop()
        with self._lock:
            due, self._due = self._due, set()
            self._futures = [f for f in self._futures if not f.done()]
            for cam in sorted(due - self._queued):
                self._queued.add(cam)
                self._futures.append(self._pool.submit(self._write, cam))

    def _write(self, cam: str) -> None:
        from ..core.store import ProjectStore

        with self._lock:
            self._queued.discard(cam)
        edit = self.edits[cam]
        try:
            created = None
            if edit.store is None:
                target = self.store_path(cam)
                edit.store = ProjectStore.create(target, dataset=self._snapshots[cam])
                self._snapshots.pop(cam, None)
                created = target
            if edit.dirty:
                edit.save()
        except (PoseTrackError, OSError, ValueError) as exc:
            self.failed.emit(cam, f"The edits of camera {cam!r} were not saved: {exc}")
            return
        if created is not None:
            labels = Path(self.session.camera(cam).labels)
            self.saved.emit(cam, f"Edits of camera {cam} are saved to a new project store {created} ({labels.name} "
                                 "is not changed; the session reads that store from now on).")
        else:
            self.saved.emit(cam, "")

    def pending(self) -> bool:
        with self._lock:
            return bool(self._due) or any(not f.done() for f in self._futures)

    def wait(self, timeout: float | None = None) -> None:
        """Start the due writes and wait until every write has finished (their signals are delivered by the
        event loop)."""
        self._submit()
        with self._lock:
            futures = list(self._futures)
        for f in futures:
            f.result(timeout)

    def close(self) -> None:
        """Finish the queued writes and stop the thread."""
        self.wait()
        self._pool.shutdown(wait=True)
