"""The viewer's shell: one editable session per napari viewer, shared by every dock.

:class:`ViewerShell` (one per viewer, from :func:`shell_for`) owns

* the viewer's :class:`~napari_posetrack.core.session.EditSession` and opening anything into it
  (a project store, ``.slp``/``.pkg.slp``, a DeepLabCut project/folder/CSV/H5, any format of
  :data:`napari_posetrack.core.io.FORMATS`);
* where the session saves: its store, or for a session opened from a file a new
  ``<name>.posetrack.zarr`` next to the source (announced when the file is opened);
* autosave (one :class:`~napari_posetrack._napari.autosave.Autosaver`);
* saving on close: a hook on the main window's close saves (autosave on) or asks
  Save / Discard / Cancel (autosave off or no store yet) before the window goes;
* listener lifetimes: docks :meth:`~ViewerShell.connect` callbacks under an owner and
  :meth:`~ViewerShell.disconnect` them when they close; callbacks into deleted Qt objects are
  dropped instead of raising;
* one error policy, :meth:`~ViewerShell.guard`.

Docks are views on the shell (see :mod:`napari_posetrack._napari.dock`).
"""

from __future__ import annotations

import logging
import os
import types
import uuid
import weakref
from pathlib import Path
from collections.abc import Callable

from ..core.errors import PoseTrackError, StoreError
from ..core.session import EditSession
from .notify import notify as _notify
# re-exported: the answers of ViewerShell.ask_unsaved, and the files side of the shell
from .session_files import CANCEL, DISCARD, PREFERRED_PATTERNS, SAVE, prefer_our_reader, store_target_for  # noqa: F401

__all__ = ["ViewerShell", "shell_for", "shell_by_token", "get_session", "set_session", "on_session",
           "store_target_for"]

log = logging.getLogger(__name__)

_SHELLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TOKENS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class _Listener:
    __slots__ = ("owner", "session", "change", "status")

    def __init__(self, owner, session, change, status):
        self.owner, self.session, self.change, self.status = owner, session, change, status


class ViewerShell:
    """The one session, autosave, save-on-close and error policy of a napari viewer.

    Attributes that tests (or scripts) may replace: ``notify(message, level)``,
    ``ask_unsaved(text) -> "save" | "discard" | "cancel"`` (the close prompt) and
    ``ask_save_path(suggested) -> path or None`` (where to create a store when the
    announced one cannot be written).
    """

    def __init__(self, viewer):
        self._viewer = weakref.ref(viewer)
        self.session: EditSession | None = None
        self.source: Path | None = None  # the file a store-less session was opened from
        self.save_target: Path | None = None  # where a store-less session will be saved
        self.token = uuid.uuid4().hex
        _TOKENS[self.token] = self
        self.notify = _notify
        self.ask_unsaved = self._ask_unsaved_dialog
        self.ask_save_path = self._ask_save_path_dialog
        self._listeners: dict[int, _Listener] = {}
        self._wired: weakref.WeakSet = weakref.WeakSet()
        self._autosave = True
        self.autosave_delay_ms = 1500
        self.autosaver = None
        self._closed = False
        self._hooked = False
        self._hook_main_window()

    # ------------------------------------------------------------------ viewer
    @property
    def viewer(self):
        return self._viewer()

    def _main_window(self):
        v = self.viewer
        try:
            return v.window._qt_window if v is not None else None
        except (AttributeError, RuntimeError):
            return None

    def _hook_main_window(self) -> None:
        """Run :meth:`close_requested` when the main window is about to close (all ways: X,
        Ctrl+W/Q, File > Close, ``viewer.close()``), before napari tears anything down."""
        win = self._main_window()
        if win is None or self._hooked:
            return
        from qtpy.QtCore import QEvent, QObject

        shell = weakref.ref(self)  # nothing here may keep the window (or the viewer) alive

        class _CloseFilter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
                sh = shell()
                if sh is not None and event.type() == QEvent.Type.Close and obj is self.parent():
                    if not sh.close_requested():
                        event.ignore()
                        return True
                return False

        filt = _CloseFilter(win)  # parented: it goes with the window
        win.installEventFilter(filt)
        win.destroyed.connect(lambda *_: shell() and shell().shutdown())
        self._hooked = True

    # ------------------------------------------------------------------ listeners
    def connect(self, owner, *, session: Callable | None = None, change: Callable | None = None,
                status: Callable | None = None) -> None:
        """Register ``owner``'s callbacks: ``session(session)`` when the session is replaced,
        ``change(action, command)`` after every edit/undo/save/reload of it, ``status(text)`` for
        save status lines. :meth:`disconnect` (or the owner's Qt object being destroyed) ends it."""
        key = id(owner)
        if isinstance(owner, (types.FunctionType, types.MethodType)):
            ref = lambda o=owner: o  # noqa: E731 - a bare callback: keep it alive
        else:
            ref = weakref.ref(owner)
        self._listeners[key] = _Listener(ref, session, change, status)
        destroyed = getattr(owner, "destroyed", None)
        if destroyed is not None:
            try:
                destroyed.connect(lambda *_, k=key: self._listeners.pop(k, None))
            except (TypeError, RuntimeError):
                pass

    def disconnect(self, owner) -> None:
        """Forget every callback of ``owner``."""
        self._listeners.pop(id(owner), None)

    @property
    def n_listeners(self) -> int:
        return len(self._listeners)

    def _emit(self, kind: str, *args) -> None:
        for key, lst in list(self._listeners.items()):
            cb = getattr(lst, kind)
            if cb is None:
                continue
            if lst.owner() is None:
                self._listeners.pop(key, None)
                continue
            try:
                cb(*args)
            except RuntimeError as exc:
                if "deleted" not in str(exc):
                    raise
                self._listeners.pop(key, None)  # a widget that Qt already deleted: forget it

    def _status(self, text: str) -> None:
        self._emit("status", text)

    # ------------------------------------------------------------------ errors
    def guard(self, fn, *args, notify: Callable | None = None):
        """Run a UI action; errors become notifications (never exceptions into napari).

        The one error policy of the plugin: a :class:`PoseTrackError` shows its message (what
        was expected, what was found, what to do); an ``OSError`` shows its type and message;
        anything else is logged with its traceback and shown as an unexpected error. Returns
        ``fn``'s result, or None after an error.
        """
        say = notify or self.notify
        try:
            return fn(*args)
        except PoseTrackError as exc:
            say(str(exc), "error")
        except OSError as exc:
            say(f"{type(exc).__name__}: {exc}", "error")
        except Exception as exc:  # noqa: BLE001 - the GUI must survive any bug
            log.exception("napari-posetrack: unexpected error in %s", getattr(fn, "__name__", fn))
            say(f"Unexpected error ({type(exc).__name__}: {exc}). Your data is unchanged; please report this.",
                "error")
        return None

    # ------------------------------------------------------------------ session
    def set_session(self, session: EditSession | None, *, source=None, save_target=None) -> None:
        """Make ``session`` the viewer's session (the old one is saved first) and tell every dock."""
        if session is self.session:
            return
        old = self.session
        if old is not None and self.autosaver is not None and self._autosave:
            self.autosaver.save_now()
        if self.autosaver is not None:
            self.autosaver.stop()
            self.autosaver = None
        self.session = session
        self.source = Path(source) if source is not None else None
        self.save_target = Path(save_target) if save_target is not None else None
        if session is not None:
            from .autosave import Autosaver

            if session not in self._wired:  # one listener per session, however often it is set
                self._wired.add(session)
                ref = weakref.ref(session)  # the listener must not keep a replaced session alive
                session.on_change(lambda action, cmd: self._changed(ref(), action, cmd))
            self.autosaver = Autosaver(session, delay_ms=self.autosave_delay_ms, save=self._autosave_save,
                                       can_save=self._can_autosave, on_status=self._status,
                                       on_error=lambda t: self.notify(t, "error"))
            self.autosaver.enabled = self._autosave
        self._emit("session", session)

    def _changed(self, session, action, cmd) -> None:
        if session is self.session:
            self._emit("change", action, cmd)

    @property
    def autosave(self) -> bool:
        return self._autosave

    @autosave.setter
    def autosave(self, on: bool) -> None:
        self._autosave = bool(on)
        if self.autosaver is not None:
            self.autosaver.enabled = self._autosave
            if on and self.session is not None and self.session.dirty:
                self.autosaver.schedule()

    @property
    def where(self) -> str:
        """Where the session saves, in words (shown by the docks)."""
        s = self.session
        if s is None:
            return "No project open."
        if s.store is not None:
            ro = " (read-only)" if getattr(s.store, "read_only", False) else ""
            return f"Project: {s.store.path}{ro}"
        if self.save_target is not None:
            return (f"Opened {self.source.name if self.source else 'in memory'}; edits are saved to a new "
                    f"project store {self.save_target}")
        return "In memory: Save asks where to create a project store."

    def _can_autosave(self) -> bool:
        s = self.session
        return s is not None and (s.store is not None or self.save_target is not None)

    def _autosave_save(self) -> bool:
        return self.save(ask=False)

    # ------------------------------------------------------------------ opening
    def open(self, path, *, mode: str = "r+", show: bool = True) -> EditSession:
        """Open a project store or any importable poses file as the viewer's session.

        A file (``.slp``, DeepLabCut project/CSV/H5, ...) opens in memory; its edits are saved
        to a new ``<name>.posetrack.zarr`` beside it (announced now; the file is not changed).
        ``show`` opens the Labeling dock so that the poses appear as editable layers with the
        video or images behind.
        """
        from ..core.io.store_format import is_store
        from .reader import poses_source

        p = Path(path)
        if p.is_dir() and not is_store(p):
            stores = [c for c in p.iterdir() if c.name.endswith(".posetrack.zarr") and is_store(c)]
            if len(stores) == 1:
                p = stores[0]
            else:
                p = poses_source(p) or p  # a DeepLabCut labeled-data/<video> folder: its CollectedData file
        if not self.close_requested():  # unsaved edits: saved, or the user chose
            self.notify("Nothing opened: the open poses have unsaved edits.", "info")
            return self.session
        if is_store(p):
            session = EditSession.from_store(self._open_store(p, mode))
            self.set_session(session)
        else:
            from ..core.io import load_dataset
            from ..core.io.videos import check_video_paths

            ds = load_dataset(p, check_videos="ignore")
            self._warn_videos(ds, p, check_video_paths)
            target = store_target_for(p)
            if not os.access(target.parent, os.W_OK):
                target = None
            self.set_session(EditSession(ds), source=p, save_target=target)
            if target is not None:
                self.notify(f"Opened {p.name}. Your edits will be saved to a new project store {target} "
                            "(the original file is not changed).", "info")
            else:
                self.notify(f"Opened {p.name}. Its folder is not writable: Save will ask where to create the "
                            "project store.", "warning")
        if show:
            self.show_labeling()
        return self.session

    def _open_store(self, path, mode):
        from ..core.errors import StoreLockedError
        from ..core.store import ProjectStore

        try:
            return ProjectStore.open(path, mode=mode)
        except StoreLockedError as exc:
            if mode == "r":
                raise
            self.notify(f"{exc}\nOpened read-only instead.", "warning")
            return ProjectStore.open(path, mode="r")

    def _warn_videos(self, ds, path, check_video_paths) -> None:
        try:
            check_video_paths(ds, path, raise_error=True)
        except PoseTrackError as exc:
            self.notify(f"{exc}\nThe poses stay editable over a black stand-in.", "warning")

    def labeling_dock(self):
        """The viewer's open Labeling dock (it draws the session, predictions included), or None."""
        from .labeling_dock import LabelingDock

        for lst in list(self._listeners.values()):
            owner = lst.owner()
            if isinstance(owner, LabelingDock) and not owner._closed:
                return owner
        return None

    def show_labeling(self):
        """The viewer's Labeling dock (opened if needed): it draws the session as editable layers."""
        from .labeling_dock import LabelingDock

        v = self.viewer
        if v is None:
            return None
        found = self.labeling_dock()
        if found is not None:
            return found
        try:
            _, widget = v.window.add_plugin_dock_widget("napari-posetrack", "Labeling")
            return widget
        except Exception:  # noqa: BLE001 - plugin not registered (a script): add it directly
            dock = LabelingDock(v)
            v.window.add_dock_widget(dock, name="Labeling")
            return dock

    # ------------------------------------------------------------------ saving
    def save(self, ask: bool = True) -> bool:
        """Save the session: to its store, or (store-less) create the announced project store.

        ``ask``: when the announced store cannot be made, ask where (``ask_save_path``).
        Returns True when everything is on disk.
        """
        s = self.session
        if s is None:
            return True
        if s.store is None and not s.dirty and not ask:
            return True  # nothing to save: a store is made on the first edit (or an explicit Save)
        if s.store is None:
            target = self.save_target
            if target is None:
                if not ask:
                    return False
                answer = self.ask_save_path(str(store_target_for(self.source)) if self.source else "")
                if not answer:
                    return False
                target = Path(answer)
            self._create_store(target)
        if getattr(s.store, "read_only", False):
            raise StoreError(f"The project {s.store.path} is open read-only, so the edits were not saved.",
                             path=s.store.path, hint="Close the other program that has it open, then reopen it.")
        if s.dirty:
            s.save()
        self._status("saved")
        return True

    def _create_store(self, target: Path) -> None:
        from ..core.store import ProjectStore

        s = self.session
        store = ProjectStore.create(target, dataset=s.dataset)
        s.store = store
        self.save_target = None
        s.save()  # marks the session clean (and writes the same content again: cheap)
        self.notify(f"Created the project store {store.path}", "info")
        self._emit("session", s)  # docks show where it saves now

    # ------------------------------------------------------------------ closing
    def unsaved(self) -> bool:
        s = self.session
        return s is not None and s.dirty

    def close_requested(self) -> bool:
        """The main window wants to close: save or ask; False keeps the window open."""
        if self._closed or not self.unsaved():
            return True
        s = self.session
        try:
            if self._autosave and self._can_autosave() and not getattr(s.store, "read_only", False):
                if self.save(ask=False):
                    return True
            answer = self.ask_unsaved(self._unsaved_text())
            if answer == CANCEL:
                return False
            if answer == SAVE:
                return bool(self.save(ask=True)) or self.ask_unsaved(
                    "Saving did not complete. Close anyway and lose the unsaved edits?") == DISCARD
            return True
        except PoseTrackError as exc:
            answer = self.ask_unsaved(f"Saving failed: {exc}\n\nClose anyway and lose the unsaved edits?")
            return answer == DISCARD

    def _unsaved_text(self) -> str:
        s = self.session
        where = s.store.path if s.store is not None else (self.save_target or "a new project store")
        return f"The poses have unsaved edits. Save them to {where} before closing?"

    def _ask_unsaved_dialog(self, text: str) -> str:
        return self.unsaved_dialog(text)

    def unsaved_dialog(self, text: str) -> str:
        """Ask Save / Discard / Cancel in a modal message box; returns "save", "discard" or "cancel"."""
        from .session_files import ask_unsaved_box

        return ask_unsaved_box(self._main_window(), text)

    def _ask_save_path_dialog(self, suggested: str):
        from .session_files import ask_store_path

        return ask_store_path(self._main_window(), suggested)

    def shutdown(self) -> None:
        """The window is gone: stop autosave (no timer may touch deleted widgets) and listeners."""
        if self._closed:
            return
        self._closed = True
        if self.autosaver is not None:
            self.autosaver.stop()
        self._listeners.clear()


def _unwrap(viewer):
    """The viewer itself: napari hands plugin widgets a ``PublicOnlyProxy`` of it."""
    return getattr(viewer, "__wrapped__", viewer)


def shell_for(viewer) -> ViewerShell:
    """The :class:`ViewerShell` of ``viewer`` (created on first use)."""
    viewer = _unwrap(viewer)
    shell = _SHELLS.get(viewer)
    if shell is None:
        prefer_our_reader()
        shell = _SHELLS[viewer] = ViewerShell(viewer)
    elif not shell._hooked:
        shell._hook_main_window()
    return shell


def shell_by_token(token) -> ViewerShell | None:
    """The live shell whose layers carry ``metadata["posetrack_session"] == token``."""
    return _TOKENS.get(str(token)) if token else None


def open_shells():
    """Every live shell (the writer looks for a session open on a store it is asked to write)."""
    return list(_SHELLS.values())


# ---------------------------------------------------------------------- short forms
def get_session(viewer) -> EditSession | None:
    """The session of ``viewer``, or None if nothing is open in it."""
    shell = _SHELLS.get(_unwrap(viewer))
    return shell.session if shell is not None else None


def set_session(viewer, session: EditSession | None) -> None:
    """Make ``session`` the viewer's session (see :meth:`ViewerShell.set_session`)."""
    shell_for(viewer).set_session(session)


def on_session(viewer, callback, owner=None) -> None:
    """Call ``callback(session)`` whenever the viewer's session is replaced (until ``owner`` goes)."""
    shell_for(viewer).connect(owner if owner is not None else callback, session=callback)
