"""Editing one camera's 2D labels from the camera views, and what an edit changes.

A camera's labels file (``back/back.slp``) is never written: its edits go to the project store
beside it, ``back/back.posetrack.zarr`` (:func:`edits_store_path`), the same store the viewer's
shell creates when that file is opened in the Labeling dock, so both ways of editing meet in one
place. Once that store exists the session reads the camera's 2D poses from it
(:func:`labels_source`).

* :func:`move_label_command`: the undoable command that puts one node of one camera's instance at
  a new pixel (a predicted instance becomes a user label first, as in the Labeling dock);
* :func:`instance_in_view`: that instance's points and scores as :meth:`MultiviewSession.load_views`
  reads them, so the session's :class:`~.session.Views2D` can follow the edit without reloading;
* :func:`update_predictions` and :func:`update_poses`: the leave-one-camera-out predictions and
  the 3D poses of some frames computed again and written into the session-wide results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PoseTrackError
from ..labeling.commands import AcceptPredictions, CompoundCommand, MoveNodes
from .errors import SessionError

__all__ = ["EDITS_SUFFIX", "edits_store_path", "labels_source", "find_instance", "move_label_command",
           "instance_in_view", "update_predictions", "update_poses"]

EDITS_SUFFIX = ".posetrack.zarr"
_LABEL_SUFFIXES = (".pkg.slp", ".slp", ".csv", ".h5", ".nwb", ".json", ".nc")


def edits_store_path(labels) -> Path:
    """The project store that holds the edits of the labels file ``labels`` (``x.slp`` -> ``x.posetrack.zarr``).

    A labels path that already is a store is its own edits store.
    """
    p = Path(labels)
    if p.name.endswith(EDITS_SUFFIX):
        return p
    name = p.name
    for suffix in _LABEL_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + EDITS_SUFFIX)


def labels_source(view) -> Path | None:
    """Where the 2D poses of camera ``view`` are read from: its edits store when there is one, else its labels."""
    if view.labels is None:
        return None
    store = edits_store_path(view.labels)
    return store if store.is_dir() else Path(view.labels)


def find_instance(dataset, frame: int, individual: str | None = None) -> tuple[str, int] | None:
    """``("labels" | "predictions", row)`` of the instance the session reads at camera frame ``frame``.

    The rule of :meth:`~.session.MultiviewSession.load_views`: a user label wins over predictions;
    among predictions the highest instance score. ``individual`` (a track name) picks the animal
    in a tracked session; ``None`` takes any instance of the frame (one animal).
    """
    def rows(table):
        hit = table.frame_idx == int(frame)
        if individual is not None:
            names = list(dataset.track_names)
            want = names.index(individual) if individual in names else -2
            hit &= table.track_id == want
        return np.flatnonzero(hit)

    lab = rows(dataset.labels)
    if len(lab):
        return "labels", int(lab[-1])
    pred = rows(dataset.predictions)
    if len(pred):
        score = np.nan_to_num(dataset.predictions.instance_score[pred], nan=np.inf)
        return "predictions", int(pred[np.argmax(score)])
    return None


def _node_index(dataset, node: str) -> int:
    names = list(dataset.skeleton.node_names)
    if node not in names:
        raise SessionError(f"The camera's skeleton has no node {node!r}; it has {names}.",
                           hint="Every view must be labelled with the same skeleton (same node names).")
    return names.index(node)


def move_label_command(dataset, *, frame: int, node: str, xy, individual: str | None = None, camera: str = "",
                       image_size: tuple[int, int] | None = None):
    """The undoable command that moves ``node`` of the instance at camera frame ``frame`` to ``xy``.

    A predicted instance is accepted as a user label first (one undo step for both). ``xy`` must
    lie inside the camera's image (``image_size`` = (width, height)); otherwise a
    :class:`~napari_posetrack.core.errors.PoseTrackError` says where it is and what to do.
    """
    x, y = (float(v) for v in np.asarray(xy, float).reshape(2))
    where = f"camera {camera!r}, frame {int(frame)}, node {node!r}" if camera else f"frame {int(frame)}, node {node!r}"
    if image_size is not None:
        w, h = image_size
        if not (np.isfinite([x, y]).all() and 0 <= x <= w and 0 <= y <= h):
            raise PoseTrackError(f"{where}: the point was moved to (x={x:.1f}, y={y:.1f}), outside that camera's "
                                 f"image ({w} x {h} px).",
                                 hint="Drag a label within its own camera's picture; it was put back.")
    found = find_instance(dataset, frame, individual)
    if found is None:
        raise PoseTrackError(f"{where}: the camera's labels have no instance at that frame"
                             + (f" for {individual!r}." if individual else "."),
                             hint="Triangulate again: the camera views are older than the labels.")
    which, row = found
    k = _node_index(dataset, node)
    if which == "labels":
        return MoveNodes([row], [k], [[x, y]], text=f"move {node}")
    new_row = len(dataset.labels)
    return CompoundCommand([AcceptPredictions([row]), MoveNodes([new_row], [k], [[x, y]], text=f"move {node}")],
                           text=f"move {node} (prediction accepted as a label)")


def instance_in_view(dataset, frame: int, node_names, individual: str | None = None):
    """(K, 2) points and (K,) scores of the instance at ``frame``, in the session's node order ``node_names``.

    NaN where a node is not labelled (and for user labels' scores), as the session reads them.
    """
    k_n = len(node_names)
    pts, scr = np.full((k_n, 2), np.nan, np.float32), np.full(k_n, np.nan, np.float32)
    found = find_instance(dataset, frame, individual)
    if found is None:
        return pts, scr
    table = getattr(dataset, found[0])
    r = found[1]
    own = list(dataset.skeleton.node_names)
    for k, name in enumerate(node_names):
        if name in own:
            j = own.index(name)
            if table.state[r, j] > 0:
                pts[k] = table.points[r, j]
                scr[k] = table.score[r, j]
    return pts, scr


def update_predictions(pred, views, group, config, t_indices) -> list:
    """Recompute the leave-one-camera-out predictions (``pred``, in place) at frame indices ``t_indices``.

    Returns the epipolar curves of those frames (they replace the old ones in ``pred.curves``).
    """
    import dataclasses

    from .consistency import predict_views

    t_idx = np.unique(np.asarray(t_indices, int))
    sub = dataclasses.replace(views, points=views.points[:, t_idx], scores=views.scores[:, t_idx],
                              frames=np.asarray(views.frames)[t_idx])
    new = predict_views(sub, group, config)
    for name in ("points", "n_sources", "error_px", "status"):
        getattr(pred, name)[:, t_idx] = getattr(new, name)
    for cv in new.curves:
        cv.t = int(t_idx[cv.t])
    pred.curves = [cv for cv in pred.curves if cv.t not in set(t_idx.tolist())] + new.curves
    return new.curves


def update_poses(poses, views, group, config, t_indices) -> None:
    """Triangulate the frames ``t_indices`` of ``views`` again and write them into ``poses`` (in place)."""
    import dataclasses

    from .pipeline import triangulate_views

    t_idx = np.unique(np.asarray(t_indices, int))
    sub = dataclasses.replace(views, points=views.points[:, t_idx], scores=views.scores[:, t_idx],
                              frames=np.asarray(views.frames)[t_idx])
    new = triangulate_views(sub, group, config)
    for name in ("points", "error_px", "n_views", "status", "used", "available", "rejected", "view_error_px"):
        getattr(poses, name)[t_idx] = getattr(new, name)
