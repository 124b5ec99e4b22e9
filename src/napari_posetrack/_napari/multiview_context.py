"""The viewer's open multi-camera session, as the other docks see it.

The 3D dock :func:`publish`es its session and 3D poses after each triangulation (and after each
edit in the camera views); :func:`withdraw` when it closes. The Proofreading dock asks
:func:`reprojection_signal` for the ``reprojection`` signal of its suspect queue: when the
project it proofreads is one camera of that session (the camera's labels file, or the project
store of its edits), each of its labels gets its distance from where the other cameras put the
node. Docks :func:`connect` a callback to hear when the published poses change.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["publish", "withdraw", "current", "connect", "disconnect", "reprojection_signal"]

_CONTEXT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # viewer -> dict(session, poses, max_error_px)
_LISTENERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # viewer -> {id(owner): (ref, callback)}


def _unwrap(viewer):
    return getattr(viewer, "__wrapped__", viewer)


def publish(viewer, session, poses, max_error_px: float) -> None:
    """Make ``session``'s 3D ``poses`` the viewer's multi-camera context and tell the listeners."""
    _CONTEXT[_unwrap(viewer)] = {"session": session, "poses": poses, "max_error_px": float(max_error_px)}
    _tell(viewer)


def withdraw(viewer) -> None:
    """No multi-camera session is open in ``viewer`` any more."""
    if _CONTEXT.pop(_unwrap(viewer), None) is not None:
        _tell(viewer)


def current(viewer) -> dict | None:
    """``{"session", "poses", "max_error_px"}`` published for ``viewer``, or None."""
    return _CONTEXT.get(_unwrap(viewer))


def connect(viewer, owner, callback: Callable[[], None]) -> None:
    """Call ``callback()`` whenever the viewer's context changes, while ``owner`` lives (and is not closed)."""
    _LISTENERS.setdefault(_unwrap(viewer), {})[id(owner)] = (weakref.ref(owner), callback)


def disconnect(viewer, owner) -> None:
    _LISTENERS.get(_unwrap(viewer), {}).pop(id(owner), None)


def _tell(viewer) -> None:
    listeners = _LISTENERS.get(_unwrap(viewer), {})
    for key, (ref, callback) in list(listeners.items()):
        owner = ref()
        if owner is None or getattr(owner, "_closed", False):
            listeners.pop(key, None)
            continue
        try:
            callback()
        except RuntimeError as exc:  # a widget Qt already deleted
            if "deleted" not in str(exc):
                raise
            listeners.pop(key, None)


def reprojection_signal(viewer, edit_session, source=None, table=None) -> dict:
    """Keyword arguments of ``suspect_frames`` for the ``reprojection`` signal of ``table`` (empty if none).

    ``edit_session`` is the proofread project (its store's path names the camera), ``source`` the
    file it was opened from, ``table`` the pose table that is ranked (rows of that project).
    """
    ctx = current(viewer)
    if ctx is None or edit_session is None or table is None or not len(table):
        return {}
    from ..core.multiview.suspects import camera_of_labels, reprojection_errors_in_own_order

    store = getattr(edit_session, "store", None)
    paths = [p for p in (getattr(store, "path", None), source) if p is not None]
    camera = camera_of_labels(ctx["session"], *[Path(p) for p in paths]) if paths else None
    poses = ctx["poses"]
    if camera is None or camera not in poses.cameras:
        return {}
    ds = edit_session.dataset
    names = list(ds.skeleton.node_names)
    err = reprojection_errors_in_own_order(poses, camera, table, ds.track_names, names)
    if not np.isfinite(err).any():
        return {}
    return {"reprojection_px": err, "max_reprojection_px": ctx["max_error_px"], "node_names": names}
