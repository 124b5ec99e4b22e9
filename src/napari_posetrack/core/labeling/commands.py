"""Undoable labeling edits (headless).

Each command is a :class:`~napari_posetrack.core.edits.Command` whose ``do``/``undo`` receive
an :class:`~napari_posetrack.core.session.EditSession` and change ``session.dataset``. Rows of
``dataset.labels`` / ``dataset.predictions`` are addressed by position; the undo stack is
last-in first-out, so every command finds the table exactly as it left it.

A command validates everything in ``do`` *before* it changes anything, so a refused edit
leaves the dataset untouched (the undo stack records nothing when ``do`` raises).
"""

from __future__ import annotations

import numpy as np

from ..edits import Command
from ..errors import PoseTrackError
from ..posetable import COLUMNS, OCCLUDED, UNLABELED, USER, VISIBLE, PoseTable

__all__ = [
    "LabelingError",
    "AddInstances",
    "MoveNodes",
    "SetNodeState",
    "DeleteInstances",
    "SetTrack",
    "AcceptPredictions",
    "CompoundCommand",
    "SetSuggestions",
    "insert_rows",
    "drop_rows",
]


class LabelingError(PoseTrackError):
    """A labeling edit was refused (no skeleton, outside the image, unknown row...)."""


# ---------------------------------------------------------------------- table helpers
def drop_rows(table: PoseTable, rows) -> PoseTable:
    """``table`` without the rows at positions ``rows``."""
    keep = np.ones(len(table), bool)
    keep[np.asarray(rows, np.int64)] = False
    return table.take(keep)


def insert_rows(table: PoseTable, rows, sub: PoseTable) -> PoseTable:
    """Insert ``sub`` so that its rows end at positions ``rows`` (sorted) of the result."""
    rows = np.asarray(rows, np.int64)
    n = len(table) + len(sub)
    at = np.zeros(n, bool)
    at[rows] = True
    out = {}
    for c in COLUMNS:
        a, b = getattr(table, c), getattr(sub, c)
        col = np.empty((n,) + a.shape[1:], a.dtype)
        col[~at] = a
        col[at] = b
        out[c] = col
    return PoseTable(**out)


def _table(session, which: str) -> PoseTable:
    """The dataset's table ``which``, made writable in place if it came read-only from a store."""
    table = getattr(session.dataset, which)
    if not (table.points.flags.writeable and table.state.flags.writeable and table.track_id.flags.writeable):
        table = table.copy()
        setattr(session.dataset, which, table)
    return table


def _check_rows(table: PoseTable, rows, what: str) -> np.ndarray:
    rows = np.atleast_1d(np.asarray(rows, np.int64))
    what = {"labels": "labeled", "predictions": "predicted"}.get(what, what)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(table)):
        raise LabelingError(
            f"No {what} instance at row {int(rows.max())}: the table has {len(table)} rows.",
            hint="The view is out of date; change frame and try again.",
        )
    return rows


def check_skeleton(dataset) -> None:
    """Raise :class:`LabelingError` if the dataset has no skeleton nodes to label."""
    if dataset.skeleton is None or dataset.skeleton.n_nodes == 0:
        raise LabelingError(
            "This project has no skeleton nodes yet, so there is nothing to label.",
            hint="Add nodes in the Skeleton dock (or import a skeleton) first.",
        )


def check_inside(dataset, video_id: int, xy: np.ndarray, state: np.ndarray | None = None) -> None:
    """Raise :class:`LabelingError` if a labeled point lies outside its video's image."""
    if not (0 <= video_id < len(dataset.videos)):
        raise LabelingError(
            f"Video {video_id} does not exist; the project has {len(dataset.videos)} video(s).",
            hint="Open or add the video first.",
        )
    v = dataset.videos[video_id]
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    lab = np.ones(len(xy), bool) if state is None else np.asarray(state).reshape(-1) != UNLABELED
    if not (v.width and v.height) or not lab.any():
        return
    p = xy[lab]
    bad = ~np.isfinite(p).all(1) | (p[:, 0] < 0) | (p[:, 1] < 0) | (p[:, 0] > v.width) | (p[:, 1] > v.height)
    if bad.any():
        x, y = p[np.flatnonzero(bad)[0]]
        raise LabelingError(
            f"Point (x={x:.1f}, y={y:.1f}) is outside the image of video {video_id} "
            f"({v.width} x {v.height} pixels).",
            hint="Click inside the frame.",
        )


# ---------------------------------------------------------------------- commands
class AddInstances(Command):
    """Append instances (a pose table of user labels) to ``dataset.labels``.

    Parameters
    ----------
    rows : PoseTable
        The new instances (any ``source`` is stored as user).
    text : str
        Undo text.
    """

    def __init__(self, rows: PoseTable, text: str = "add instance"):
        self.rows = rows.with_columns(source=np.full(len(rows), USER, np.uint8))
        self.text = text
        self.positions: np.ndarray | None = None

    def do(self, session) -> None:
        ds = session.dataset
        check_skeleton(ds)
        if self.rows.n_nodes != ds.skeleton.n_nodes:
            raise LabelingError(
                f"New instance has {self.rows.n_nodes} nodes but skeleton {ds.skeleton.name!r} has "
                f"{ds.skeleton.n_nodes}.",
                hint="Rebuild the template after editing the skeleton.",
            )
        for i in range(len(self.rows)):
            check_inside(ds, int(self.rows.video_id[i]), self.rows.points[i], self.rows.state[i])
        n = len(ds.labels)
        ds.labels = PoseTable.concat([ds.labels, self.rows])
        self.positions = np.arange(n, n + len(self.rows))

    def undo(self, session) -> None:
        session.dataset.labels = drop_rows(session.dataset.labels, self.positions)


class MoveNodes(Command):
    """Set the (x, y) of some nodes of user instances; unlabeled nodes become visible.

    Parameters
    ----------
    rows, nodes : array-like of int (M,)
        Instance rows in ``dataset.labels`` and node indices.
    xy : array-like (M, 2)
        New pixel positions (x, y).
    """

    def __init__(self, rows, nodes, xy, text: str = "move node"):
        self.rows = np.atleast_1d(np.asarray(rows, np.int64))
        self.nodes = np.atleast_1d(np.asarray(nodes, np.int64))
        self.xy = np.asarray(xy, np.float32).reshape(-1, 2)
        self.text = text
        self.old_xy = self.old_state = None

    def do(self, session) -> None:
        ds = session.dataset
        lab = _table(session, "labels")
        rows = _check_rows(lab, self.rows, "labeled")
        for r, xy in zip(rows, self.xy):
            check_inside(ds, int(lab.video_id[r]), xy)
        self.old_xy = lab.points[rows, self.nodes].copy()
        self.old_state = lab.state[rows, self.nodes].copy()
        lab.points[rows, self.nodes] = self.xy
        st = self.old_state.copy()
        st[st == UNLABELED] = VISIBLE
        lab.state[rows, self.nodes] = st

    def undo(self, session) -> None:
        lab = session.dataset.labels
        lab.points[self.rows, self.nodes] = self.old_xy
        lab.state[self.rows, self.nodes] = self.old_state


class SetNodeState(Command):
    """Set the state of nodes: visible, occluded, or unlabeled (deletes the point).

    ``state=None`` toggles visible <-> occluded for each node (unlabeled nodes are skipped).
    """

    def __init__(self, rows, nodes, state: int | None, text: str | None = None):
        self.rows = np.atleast_1d(np.asarray(rows, np.int64))
        self.nodes = np.atleast_1d(np.asarray(nodes, np.int64))
        self.state = state
        self.text = text or {None: "toggle occluded", UNLABELED: "delete node", VISIBLE: "set visible",
                             OCCLUDED: "set occluded"}[state]
        self.old_xy = self.old_state = None

    def do(self, session) -> None:
        lab = _table(session, "labels")
        rows = _check_rows(lab, self.rows, "labeled")
        if self.nodes.size and (self.nodes.min() < 0 or self.nodes.max() >= lab.n_nodes):
            raise LabelingError(f"Node {int(self.nodes.max())} does not exist ({lab.n_nodes} nodes).")
        old = lab.state[rows, self.nodes].copy()
        if self.state is None:
            new = np.where(old == VISIBLE, OCCLUDED, np.where(old == OCCLUDED, VISIBLE, old))
        else:
            if self.state != UNLABELED and (old == UNLABELED).any():
                raise LabelingError(
                    "Cannot mark a node that has no position as visible or occluded.",
                    hint="Place the node first (click on the image).",
                )
            new = np.full_like(old, self.state)
        self.old_state = old
        self.old_xy = lab.points[rows, self.nodes].copy()
        lab.state[rows, self.nodes] = new
        if self.state == UNLABELED:
            lab.points[rows, self.nodes] = np.nan

    def undo(self, session) -> None:
        lab = session.dataset.labels
        lab.points[self.rows, self.nodes] = self.old_xy
        lab.state[self.rows, self.nodes] = self.old_state


class DeleteInstances(Command):
    """Remove whole instances from ``labels`` (or ``predictions`` with ``which="predictions"``)."""

    def __init__(self, rows, which: str = "labels", text: str = "delete instance"):
        self.rows = np.unique(np.atleast_1d(np.asarray(rows, np.int64)))
        self.which = which
        self.text = text
        self.removed: PoseTable | None = None

    def do(self, session) -> None:
        table = _table(session, self.which)
        rows = _check_rows(table, self.rows, self.which)
        self.removed = table.take(rows)
        setattr(session.dataset, self.which, drop_rows(table, rows))

    def undo(self, session) -> None:
        table = _table(session, self.which)
        setattr(session.dataset, self.which, insert_rows(table, self.rows, self.removed))


class SetTrack(Command):
    """Give instances a track; an instance in the same frame that had it gets the old track (swap).

    ``track_id`` may equal ``len(track_names)`` or more: the names list grows with
    ``"track_<i>"`` names (or ``track_name`` for the new one).
    """

    def __init__(self, rows, track_id: int, which: str = "labels", track_name: str | None = None,
                 text: str = "set track"):
        self.rows = np.atleast_1d(np.asarray(rows, np.int64))
        self.track_id = int(track_id)
        self.which = which
        self.track_name = track_name
        self.text = text
        self.old_names = None
        self.changed: np.ndarray | None = None
        self.old_ids: np.ndarray | None = None

    def do(self, session) -> None:
        ds = session.dataset
        table = _table(session, self.which)
        rows = _check_rows(table, self.rows, self.which)
        if self.track_id < -1:
            raise LabelingError(f"Track id {self.track_id} is invalid.", hint="Use -1 (none) or 0, 1, ...")
        self.old_names = list(ds.track_names)
        names = list(ds.track_names)
        while self.track_id >= len(names):
            names.append(self.track_name if len(names) == self.track_id and self.track_name
                         else f"track_{len(names)}")
        ids = table.track_id.copy()
        changed = set(rows.tolist())
        if self.track_id >= 0:
            for r in rows:
                same = np.flatnonzero((table.frame_idx == table.frame_idx[r]) & (table.video_id == table.video_id[r])
                                      & (ids == self.track_id))
                for o in same:
                    if o not in changed:
                        ids[o] = table.track_id[r]
                        changed.add(int(o))
        ids[rows] = self.track_id
        self.changed = np.array(sorted(changed), np.int64)
        self.old_ids = table.track_id[self.changed].copy()
        table.track_id[self.changed] = ids[self.changed]
        ds.track_names = names

    def undo(self, session) -> None:
        table = _table(session, self.which)
        table.track_id[self.changed] = self.old_ids
        session.dataset.track_names = self.old_names


class AcceptPredictions(Command):
    """Turn predicted instances into user labels (removed from predictions, appended to labels).

    Scores are kept in the ``score`` column only as provenance is dropped: user labels have NaN
    scores. Predicted nodes keep their state (visible where predicted, unlabeled elsewhere).
    """

    def __init__(self, rows, text: str = "accept prediction"):
        self.rows = np.unique(np.atleast_1d(np.asarray(rows, np.int64)))
        self.text = text
        self.removed: PoseTable | None = None
        self.positions: np.ndarray | None = None

    def do(self, session) -> None:
        ds = session.dataset
        rows = _check_rows(ds.predictions, self.rows, "predicted")
        check_skeleton(ds)
        self.removed = ds.predictions.take(rows)
        new = self.removed.with_columns(
            source=np.full(len(rows), USER, np.uint8),
            score=np.full(self.removed.score.shape, np.nan, np.float32),
            instance_score=np.full(len(rows), np.nan, np.float32),
        )
        n = len(ds.labels)
        ds.labels = PoseTable.concat([ds.labels, new])
        ds.predictions = drop_rows(ds.predictions, rows)
        self.positions = np.arange(n, n + len(rows))

    def undo(self, session) -> None:
        ds = session.dataset
        ds.labels = drop_rows(ds.labels, self.positions)
        ds.predictions = insert_rows(ds.predictions, self.rows, self.removed)


class CompoundCommand(Command):
    """Several commands done in order and undone in reverse, as one undo step."""

    def __init__(self, commands: list[Command], text: str | None = None):
        self.commands = list(commands)
        self.text = text or (self.commands[0].text if self.commands else "edit")

    def do(self, session) -> None:
        done = []
        try:
            for c in self.commands:
                c.do(session)
                done.append(c)
        except Exception:
            for c in reversed(done):
                c.undo(session)
            raise

    def undo(self, session) -> None:
        for c in reversed(self.commands):
            c.undo(session)


class SetSuggestions(Command):
    """Replace the suggested frames ``(M, 2) [video_id, frame_idx]``."""

    def __init__(self, suggestions, text: str = "set suggestions"):
        self.new = np.asarray(suggestions, np.int64).reshape(-1, 2)
        self.text = text
        self.old = None

    def do(self, session) -> None:
        ds = session.dataset
        nv = len(ds.videos)
        if len(self.new) and (self.new[:, 0].min() < 0 or self.new[:, 0].max() >= nv):
            raise LabelingError(
                f"Suggestions name video {int(self.new[:, 0].max())}, but the project has {nv} video(s).")
        self.old = ds.suggestions
        ds.suggestions = self.new.copy()

    def undo(self, session) -> None:
        session.dataset.suggestions = self.old
