"""Identity-model predictions into an open project (undoable, for the viewer's edit session).

An identity model's predictions name their animals: ``track_id`` is a class and
``identity_probs`` has one column per class. :func:`name_predictions` puts them in the
project's terms (its tracks, or the classes when it has none yet) and :class:`SetTrackNames`
gives a project without tracks the model's classes as track names, in the same undo step as
the predictions (:class:`~napari_posetrack.core.labeling.commands.CompoundCommand`).
"""

from __future__ import annotations

import numpy as np

from .edits import Command
from .identity import align_class_probs, align_classes
from .posetable import PoseTable

__all__ = ["SetTrackNames", "name_predictions", "identity_rows_text"]


def name_predictions(table: PoseTable, class_names, project_tracks) -> tuple[PoseTable, list]:
    """``(table, track_names)``: track ids and probability columns on the project's tracks (which must include
    every class, else :class:`~napari_posetrack.core.identity.IdentityError`), or on the classes when the
    project has no tracks yet."""
    ids, names = align_classes(table.track_id, class_names, project_tracks)
    probs = table.identity_probs
    if probs.shape[1] != len(class_names):
        probs = np.full((len(table), len(class_names)), np.nan, np.float32)
    return table.with_columns(track_id=ids, identity_probs=align_class_probs(probs, class_names, names)), list(names)


class SetTrackNames(Command):
    """Replace the project's track names (undoable)."""

    def __init__(self, names, text: str = "name the tracks after the identity classes"):
        self.names = [str(n) for n in names]
        self.text = text
        self._old: list | None = None

    def do(self, session) -> None:
        self._old = list(session.dataset.track_names)
        session.dataset.track_names = list(self.names)

    def undo(self, session) -> None:
        session.dataset.track_names = list(self._old or [])


def identity_rows_text(table: PoseTable, rows, track_names) -> list[str]:
    """One line per row: the identity (track name) and its probability, then the other classes, e.g.
    ``"F 0.97 (M 0.03)"``; empty when the rows carry no class probabilities."""
    probs = table.identity_probs
    if probs.shape[1] == 0:
        return []
    names = [str(n) for n in track_names]
    out = []
    for r in np.asarray(rows, np.int64):
        p, t = probs[r], int(table.track_id[r])
        name = names[t] if 0 <= t < len(names) else "unnamed"
        own = f"{p[t]:.2f}" if 0 <= t < len(p) and np.isfinite(p[t]) else "?"
        others = [f"{names[j] if j < len(names) else j} {p[j]:.2f}" for j in np.argsort(-np.nan_to_num(p, nan=-1))
                  if j != t and np.isfinite(p[j])]
        out.append(f"{name} {own}" + (f" ({', '.join(others)})" if others else ""))
    return out
