"""One :class:`~napari_posetrack.core.session.EditSession` per napari viewer, shared by docks."""

from __future__ import annotations

import weakref

from ..core.session import EditSession

__all__ = ["get_session", "set_session"]

_SESSIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LISTENERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def get_session(viewer) -> EditSession | None:
    """The session of ``viewer``, or None if no project/dataset is open in it."""
    return _SESSIONS.get(viewer)


def set_session(viewer, session: EditSession | None) -> None:
    """Make ``session`` the viewer's session and tell every dock that asked (``on_session``)."""
    if session is None:
        _SESSIONS.pop(viewer, None)
    else:
        _SESSIONS[viewer] = session
    for cb in list(_LISTENERS.get(viewer, [])):
        cb(session)


def on_session(viewer, callback) -> None:
    """Call ``callback(session)`` whenever the viewer's session is set or replaced."""
    _LISTENERS.setdefault(viewer, []).append(callback)
