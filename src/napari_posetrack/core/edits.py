"""Undoable edits: command objects and an undo stack (headless, no Qt).

Every labeling and proofreading edit is a :class:`Command` with ``do`` and ``undo`` that act
on a :class:`~napari_posetrack.core.dataset.PoseDataset` (or any object the command names).
The napari layers only reflect the state; the stack is the single way to change it.
Concrete commands live next to the feature that uses them (labeling, proofreading).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Command", "UndoStack"]


class Command:
    """Base class of undoable edits. Subclasses implement :meth:`do` and :meth:`undo`."""

    #: short text for menus and logs, e.g. "move node head"
    text: str = "edit"

    def do(self, target) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def undo(self, target) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def merge_with(self, other: Command) -> bool:
        """Absorb ``other`` (a later command of the same kind) and return True, or return False.

        Used to collapse a drag's many small moves into one undo step.
        """
        return False


class UndoStack:
    """Applies commands to ``target`` and keeps them for undo/redo.

    Parameters
    ----------
    target : object
        What the commands edit (usually a PoseDataset or an editing session).
    limit : int
        How many steps to keep.
    """

    def __init__(self, target, limit: int = 1000):
        self.target = target
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._listeners: list[Callable[[str, Command], None]] = []
        #: increases on every change; the autosaver compares it with the last saved value
        self.revision = 0

    def connect(self, callback: Callable[[str, Command], None]) -> None:
        """Call ``callback(action, command)`` after every do/undo/redo (action is that word)."""
        self._listeners.append(callback)

    def _notify(self, action: str, cmd: Command) -> None:
        self.revision += 1
        for cb in list(self._listeners):
            cb(action, cmd)

    def push(self, cmd: Command, *, merge: bool = True) -> None:
        """Do ``cmd`` and record it. If it fails, nothing is recorded and the error propagates."""
        cmd.do(self.target)
        if merge and self._done and self._done[-1].merge_with(cmd):
            pass
        else:
            self._done.append(cmd)
            if len(self._done) > self.limit:
                del self._done[0]
        self._undone.clear()
        self._notify("do", cmd)

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo(self) -> Command | None:
        if not self._done:
            return None
        cmd = self._done.pop()
        cmd.undo(self.target)
        self._undone.append(cmd)
        self._notify("undo", cmd)
        return cmd

    def redo(self) -> Command | None:
        if not self._undone:
            return None
        cmd = self._undone.pop()
        cmd.do(self.target)
        self._done.append(cmd)
        self._notify("redo", cmd)
        return cmd

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()

    def __len__(self) -> int:
        return len(self._done)
