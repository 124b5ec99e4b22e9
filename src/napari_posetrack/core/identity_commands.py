"""Identity-model predictions into an open project (undoable, for the viewer's edit session).

An identity model's predictions name their animals: ``track_id`` is a class and
``identity_probs`` has one column per class. :func:`name_predictions` puts them in the
project's terms (its tracks, or the classes when it has none yet) and :class:`SetTrackNames`
gives a project without tracks the model's classes as track names, in the same undo step as
the predictions (:class:`~napari_posetrack.core.labeling.commands.CompoundCommand`).

Column ``j`` of ``identity_probs`` is the probability that an instance is the animal of track
``j``, so track edits that join two tracks must join their columns: :func:`merge_identity_columns`
(used by :class:`~napari_posetrack.core.proofread.MergeTracks`) adds the removed track's column into
the kept one, and :class:`RenameTrack` renames a track, or, given the name of another track,
merges it into that track and drops it from the track list, columns included.
"""

from __future__ import annotations

import numpy as np

from .edits import Command
from .errors import TrackingError
from .identity import align_class_probs, align_classes
from .posetable import PoseTable

__all__ = ["SetTrackNames", "RenameTrack", "merge_identity_columns", "drop_identity_column", "name_predictions",
           "identity_rows_text"]

TABLES = ("labels", "predictions")


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


def merge_identity_columns(table: PoseTable, keep: int, remove: int, rows=None) -> PoseTable:
    """``table`` with the ``identity_probs`` column of track ``remove`` added into that of track ``keep``.

    Once two tracks are one animal, the probability of being that animal is the sum of the two
    (the classes exclude each other); the ``remove`` column becomes 0 where the sum is known, as no
    instance is a separate animal ``remove`` any more. Rows that know neither probability stay NaN;
    a table without a ``remove`` column is returned unchanged. ``rows`` (bool (N,)) limits the change
    to those rows (a merge within one video).
    """
    probs = table.identity_probs
    keep, remove = int(keep), int(remove)
    if keep == remove or remove < 0 or keep < 0 or probs.shape[1] <= remove:
        return table
    if probs.shape[1] <= keep:  # a narrower table: the kept track's column is unknown (NaN) so far
        probs = np.pad(probs, ((0, 0), (0, keep + 1 - probs.shape[1])), constant_values=np.nan)
    else:
        probs = probs.copy()
    sel = np.ones(len(table), bool) if rows is None else np.asarray(rows, bool)
    a, b = probs[sel, keep], probs[sel, remove]
    known = np.isfinite(a) | np.isfinite(b)
    probs[sel, keep] = np.where(known, np.nan_to_num(a) + np.nan_to_num(b), np.nan)
    probs[sel, remove] = np.where(known, 0.0, np.nan)
    return table.with_columns(identity_probs=probs)


def drop_identity_column(table: PoseTable, track: int) -> PoseTable:
    """``table`` without track ``track``: its ``identity_probs`` column removed and the track ids above it moved
    down by one (rows of ``track`` itself become unnamed, -1)."""
    track = int(track)
    tid = table.track_id.copy()
    tid[tid == track] = -1
    tid[tid > track] -= 1
    probs = table.identity_probs
    if probs.shape[1] > track:
        probs = np.delete(probs, track, axis=1)
    return table.with_columns(track_id=tid, identity_probs=probs)


class RenameTrack(Command):
    """Rename track ``track`` to ``name``; the name of another track merges the two (undoable).

    A new name changes only the track list (the track's ``identity_probs`` column follows it). The
    name of another track ``k`` says the two are one animal: every instance of ``track`` (labels and
    predictions) goes to ``k``, their probability columns are added (:func:`merge_identity_columns`),
    and ``track`` leaves the track list with its column, the tracks after it moving up by one. Refused,
    with the frames, when both tracks have an instance in one frame.
    """

    def __init__(self, track: int, name: str):
        self.track, self.name = int(track), str(name).strip()
        self.text = f"rename track {track} to {self.name!r}"
        self._old: dict | None = None
        self.merged_into: int | None = None

    def do(self, session) -> None:
        from .proofread import check_writable

        check_writable(session)
        ds = session.dataset
        names = [str(n) for n in ds.track_names]
        if not 0 <= self.track < len(names):
            raise TrackingError(f"There is no track {self.track} to rename (the project has {len(names)} tracks: "
                                f"{names}).", hint="Pick a track from the list.")
        if not self.name:
            raise TrackingError("A track name cannot be empty.", hint="Type the animal's name, e.g. 'F'.")
        others = [j for j, n in enumerate(names) if n == self.name and j != self.track]
        changes: dict = {}
        if not others:
            names[self.track] = self.name
            changes["track_names"] = names
        else:
            keep = others[0]
            tables = {n: getattr(ds, n) for n in TABLES}
            clash = _clash_frames(tables.values(), keep, self.track)
            if clash:
                shown = ", ".join(map(str, clash[:10])) + (f" and {len(clash) - 10} more" if len(clash) > 10 else "")
                raise TrackingError(
                    f"Track {self.track} ({names[self.track]!r}) cannot take the name {self.name!r}: track {keep} "
                    f"has that name, and both have an instance in {len(clash)} frame(s) ({shown}); one animal "
                    "would have two poses there.",
                    hint="Reassign or delete the extra instances in those frames first, or choose another name.")
            for n, t in tables.items():
                tid = t.track_id.copy()
                tid[tid == self.track] = keep
                changes[n] = drop_identity_column(merge_identity_columns(t.with_columns(track_id=tid), keep,
                                                                         self.track), self.track)
            del names[self.track]
            changes["track_names"] = names
            self.merged_into = keep - (keep > self.track)
        self._old = {k: getattr(ds, k) for k in changes}
        for k, v in changes.items():
            setattr(ds, k, v)

    def undo(self, session) -> None:
        for k, v in (self._old or {}).items():
            setattr(session.dataset, k, v)


def _clash_frames(tables, a: int, b: int) -> list:
    """Frames (sorted) where tracks ``a`` and ``b`` both have an instance, over ``tables``."""
    seen_a, seen_b = set(), set()
    for t in tables:
        seen_a |= set(zip(t.video_id[t.track_id == a].tolist(), t.frame_idx[t.track_id == a].tolist()))
        seen_b |= set(zip(t.video_id[t.track_id == b].tolist(), t.frame_idx[t.track_id == b].tolist()))
    return sorted(f for _, f in seen_a & seen_b)
