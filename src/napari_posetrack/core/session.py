"""An editing session: a dataset, its store, and the undo stack that changes it.

Docks (labeling, proofreading, inference) share one :class:`EditSession` per viewer. Every
edit is a :class:`~napari_posetrack.core.edits.Command` pushed through :meth:`push`; the
command's ``do``/``undo`` receive the session and change ``session.dataset``. Listeners are
told after every change so that layers can refresh; :meth:`save` writes the dataset to the
store atomically.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .dataset import PoseDataset
from .edits import Command, UndoStack

__all__ = ["EditSession"]


class EditSession:
    """Dataset + store + undo stack.

    Parameters
    ----------
    dataset : PoseDataset
    store : ProjectStore, optional
        Where :meth:`save` writes. ``None`` for an in-memory session.
    """

    def __init__(self, dataset: PoseDataset, store=None):
        self.dataset = dataset
        self.store = store
        self.stack = UndoStack(self)
        self._saved_revision = 0
        self._lock = threading.RLock()
        self._listeners: list[Callable[[str, Command | None], None]] = []
        self.stack.connect(self._changed)
        self.last_save_time: float | None = None

    @classmethod
    def from_store(cls, store) -> EditSession:
        return cls(store.load(), store)

    # ------------------------------------------------------------------ changes
    def on_change(self, callback: Callable[[str, Command | None], None]) -> None:
        """Call ``callback(action, command)`` after each do/undo/redo/save/reload."""
        self._listeners.append(callback)

    def _changed(self, action: str, cmd: Command | None) -> None:
        for cb in list(self._listeners):
            cb(action, cmd)

    def push(self, cmd: Command) -> None:
        with self._lock:
            self.stack.push(cmd)

    def undo(self):
        with self._lock:
            return self.stack.undo()

    def redo(self):
        with self._lock:
            return self.stack.redo()

    def replace_dataset(self, dataset: PoseDataset, *, clear_history: bool = True) -> None:
        """Swap in another dataset (e.g. after opening a project); history is cleared."""
        with self._lock:
            self.dataset = dataset
            if clear_history:
                self.stack.clear()
            self._saved_revision = self.stack.revision
        self._changed("reload", None)

    # ------------------------------------------------------------------ saving
    @property
    def dirty(self) -> bool:
        return self.stack.revision != self._saved_revision

    def save(self) -> bool:
        """Write the dataset to the store (atomic). Returns False if there is no store."""
        if self.store is None:
            return False
        with self._lock:
            rev = self.stack.revision
            self.store.save(self.dataset)
            self._saved_revision = rev
            self.last_save_time = time.time()
        self._changed("save", None)
        return True
