"""Autosave: write the session within ~2 s of an edit (Qt timer, main thread)."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QObject, QTimer

from ..core.errors import PoseTrackError

__all__ = ["Autosaver"]


class Autosaver(QObject):
    """Saves ``session`` ``delay_ms`` after the first unsaved edit (edits meanwhile do not postpone it).

    Parameters
    ----------
    session : EditSession
    delay_ms : int
        At most this long between an edit and its save.
    save : callable() -> bool, optional
        How to save (the viewer shell creates the project store of a session opened from a
        file); default ``session.save``.
    can_save : callable() -> bool, optional
        Whether there is somewhere to save to; default: the session has a store.
    on_status : callable(str), optional
        Told "saved", "saving failed: ..." and so on (the docks show it).
    on_error : callable(str), optional
        Told a failure once per state (a notification).
    """

    def __init__(self, session, delay_ms: int = 1500, on_status: Callable[[str], None] | None = None,
                 on_error: Callable[[str], None] | None = None, save: Callable[[], bool] | None = None,
                 can_save: Callable[[], bool] | None = None):
        super().__init__()
        self.session = session
        self.enabled = True
        self.on_status = on_status or (lambda s: None)
        self.on_error = on_error or (lambda s: None)
        self._save = save or session.save
        self._can_save = can_save or (lambda: session.store is not None)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(int(delay_ms))
        self.timer.timeout.connect(self.save_now)
        self._failed_revision = None
        self._stopped = False
        session.on_change(self._changed)

    def _changed(self, action, cmd) -> None:
        if self._stopped or action in ("save", "reload"):
            return
        self.on_status("unsaved changes")
        if self.enabled:
            self.schedule()

    def schedule(self) -> None:
        """Save within ``delay_ms`` (no-op when a save is already due or there is nowhere to save)."""
        if not self._stopped and self._can_save() and not self.timer.isActive():
            self.timer.start()

    def save_now(self) -> bool:
        """Save if there are unsaved edits; errors are reported, never raised. Returns success."""
        s = self.session
        if self._stopped or not s.dirty or not self._can_save():
            return not s.dirty
        if getattr(s.store, "read_only", False):
            self._report("the project is open read-only; changes are not saved")
            return False
        try:
            ok = self._save()
        except (PoseTrackError, OSError) as exc:
            self._report(f"saving failed: {exc}")
            return False
        if ok:
            self._failed_revision = None
            self.on_status("saved")
        return bool(ok)

    def _report(self, text: str) -> None:
        self.on_status(text)
        if self._failed_revision != self.session.stack.revision:  # one message per state, not per retry
            self._failed_revision = self.session.stack.revision
            self.on_error(text)

    def stop(self) -> None:
        self._stopped = True
        try:
            self.timer.stop()
        except RuntimeError:  # Qt already deleted the timer (the window went first, e.g. at interpreter exit)
            pass
