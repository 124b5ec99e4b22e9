"""Proofreading edits (undoable commands on an :class:`~.session.EditSession`) and the
ranked suspect-frame queue.

Every command keeps references to the tables it replaced (tables are immutable in spirit:
an edit builds a new table, mostly sharing the unchanged columns), so undo is exact and
cheap. Identity edits act on labels and predictions together: a track id means the same
animal in both. Commands refuse to run on a read-only or locked store
(:class:`~.errors.StoreLockedError`).

>>> session.push(SwapTracks(0, 1, start=120))        # doctest: +SKIP
>>> session.push(MergeTracks(keep=0, remove=5))      # doctest: +SKIP
>>> session.undo()                                    # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from .edits import Command
from .errors import StoreLockedError, TrackingError
from .posetable import PoseTable
from .tracking.suspects import DEFAULT_WEIGHTS, SuspectQueue, suspect_frames

__all__ = [
    "SetTracks", "SwapTracks", "AssignTrack", "MergeTracks", "SplitTrack", "DeleteInstances", "DeleteTrack",
    "DeleteLowScore", "SuspectQueue", "suspect_frames", "DEFAULT_WEIGHTS", "check_writable",
]

TABLES = ("labels", "predictions")


def check_writable(session) -> None:
    """Raise :class:`StoreLockedError` if the session's store cannot be written."""
    store = getattr(session, "store", None)
    if store is None:
        return
    if getattr(store, "read_only", False) or getattr(store, "locked", False):
        path = getattr(store, "path", "")
        raise StoreLockedError(
            f"The project {path} is open read-only (or locked by another writer); edits cannot be saved there.",
            path=path,
            hint="Close the other program using it, or reopen the project with write access (mode='r+').",
        )


def _frames_text(frames, limit: int = 10) -> str:
    f = [int(x) for x in frames[:limit]]
    return ", ".join(map(str, f)) + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


class _TableEdit(Command):
    """Base: compute new tables from the session's dataset, keep the old ones for undo."""

    def compute(self, ds) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def do(self, session) -> None:
        check_writable(session)
        ds = session.dataset
        changes = self.compute(ds)
        self._old = {k: getattr(ds, k) for k in changes}
        for k, v in changes.items():
            setattr(ds, k, v)

    def undo(self, session) -> None:
        for k, v in self._old.items():
            setattr(session.dataset, k, v)

    @staticmethod
    def _in_video(t: PoseTable, video_id) -> np.ndarray:
        return np.ones(len(t), bool) if video_id is None else (t.video_id == video_id)

    @staticmethod
    def _check_track(ds, track: int) -> None:
        ids = [getattr(ds, n).track_id for n in TABLES]
        if not any((i == track).any() for i in ids):
            raise TrackingError(f"Track {track} has no instances.", hint="Pick a track shown in the timeline.")


class SetTracks(_TableEdit):
    """Replace the track ids of one table (e.g. after re-tracking) and the track names."""

    def __init__(self, table: str, track_id, track_names):
        self.table, self.track_id, self.track_names = table, np.asarray(track_id, np.int32), list(track_names)
        self.text = f"re-track {table}"

    def compute(self, ds):
        t = getattr(ds, self.table)
        if len(self.track_id) != len(t):
            raise TrackingError(f"Got {len(self.track_id)} track ids for {len(t)} instances.",
                                hint="The instances changed while tracking ran; track again.")
        out = {self.table: t.with_columns(track_id=self.track_id), "track_names": self.track_names}
        other = "labels" if self.table == "predictions" else "predictions"
        ot = getattr(ds, other)
        if len(ot) and (ot.track_id >= len(self.track_names)).any():
            out[other] = ot.with_columns(track_id=np.where(ot.track_id < len(self.track_names), ot.track_id, -1))
        return out


class SwapTracks(_TableEdit):
    """Swap identities ``a`` and ``b`` on frames ``start..stop`` (inclusive; ``stop=None``: to the end)."""

    def __init__(self, a: int, b: int, start: int, stop: int | None = None, video_id: int | None = None):
        self.a, self.b, self.start, self.stop, self.video_id = int(a), int(b), int(start), stop, video_id
        self.text = f"swap tracks {a} and {b} from frame {start}" + ("" if stop is None else f" to {stop}")

    def compute(self, ds):
        if self.a == self.b:
            raise TrackingError("Cannot swap a track with itself.", hint="Select two different tracks.")
        out = {}
        for name in TABLES:
            t = getattr(ds, name)
            sel = self._in_video(t, self.video_id) & (t.frame_idx >= self.start)
            if self.stop is not None:
                sel &= t.frame_idx <= int(self.stop)
            tid = t.track_id.copy()
            tid[sel & (t.track_id == self.a)] = self.b
            tid[sel & (t.track_id == self.b)] = self.a
            out[name] = t.with_columns(track_id=tid)
        return out


class AssignTrack(_TableEdit):
    """Give instance ``row`` of ``table`` (``"labels"``/``"predictions"``) the identity ``track``.

    ``track=None`` creates a new track. If another instance of the same frame already has
    that identity, it is swapped onto the instance's old identity (so one frame never holds
    one identity twice).
    """

    def __init__(self, table: str, row: int, track: int | None):
        self.table, self.row, self.track = table, int(row), track
        self.text = f"assign instance {row} to track {track}"

    def compute(self, ds):
        t = getattr(ds, self.table)
        if not 0 <= self.row < len(t):
            raise TrackingError(f"No instance {self.row} in {self.table} ({len(t)} instances).",
                                hint="Select an instance in the viewer first.")
        out = {}
        track = self.track
        if track is None:
            track = len(ds.track_names)
            out["track_names"] = list(ds.track_names) + [f"track_{track}"]
        old = int(t.track_id[self.row])
        f, v = t.frame_idx[self.row], t.video_id[self.row]
        for name in TABLES:
            tt = getattr(ds, name)
            tid = tt.track_id.copy()
            same = (tt.frame_idx == f) & (tt.video_id == v) & (tid == track)
            tid[same] = old
            if name == self.table:
                tid[self.row] = track
            out[name] = tt.with_columns(track_id=tid)
        return out


class MergeTracks(_TableEdit):
    """Give every instance of track ``remove`` the identity ``keep``.

    Refused (with the frames listed) when both tracks have an instance in the same frame.
    """

    def __init__(self, keep: int, remove: int, video_id: int | None = None):
        self.keep, self.remove, self.video_id = int(keep), int(remove), video_id
        self.text = f"merge track {remove} into {keep}"

    def compute(self, ds):
        if self.keep == self.remove:
            raise TrackingError("Cannot merge a track with itself.", hint="Select two different tracks.")
        self._check_track(ds, self.remove)
        both = ds.instances
        sel = self._in_video(both, self.video_id)
        fk = set(zip(both.video_id[sel & (both.track_id == self.keep)].tolist(),
                     both.frame_idx[sel & (both.track_id == self.keep)].tolist()))
        fr = set(zip(both.video_id[sel & (both.track_id == self.remove)].tolist(),
                     both.frame_idx[sel & (both.track_id == self.remove)].tolist()))
        clash = sorted(f for _, f in fk & fr)
        if clash:
            raise TrackingError(
                f"Tracks {self.keep} and {self.remove} both have an instance in {len(clash)} frames "
                f"({_frames_text(clash)}); merging would give one animal two poses there.",
                hint="Delete or reassign the extra instances in those frames first, or split a track.",
            )
        from .identity_commands import merge_identity_columns

        out = {}
        for name in TABLES:
            t = getattr(ds, name)
            tid = t.track_id.copy()
            tid[self._in_video(t, self.video_id) & (tid == self.remove)] = self.keep
            # identity-model probabilities: the two tracks' columns become one animal's
            out[name] = merge_identity_columns(t.with_columns(track_id=tid), self.keep, self.remove,
                                               rows=self._in_video(t, self.video_id))
        return out


class SplitTrack(_TableEdit):
    """Give the instances of ``track`` from frame ``at`` on a new identity."""

    def __init__(self, track: int, at: int, video_id: int | None = None):
        self.track, self.at, self.video_id = int(track), int(at), video_id
        self.text = f"split track {track} at frame {at}"

    def compute(self, ds):
        self._check_track(ds, self.track)
        new = max(len(ds.track_names), max(int(getattr(ds, n).track_id.max(initial=-1)) for n in TABLES) + 1)
        self.new_track = new
        names = list(ds.track_names) + [f"track_{i}" for i in range(len(ds.track_names), new + 1)]
        out = {"track_names": names}
        for name in TABLES:
            t = getattr(ds, name)
            tid = t.track_id.copy()
            tid[self._in_video(t, self.video_id) & (tid == self.track) & (t.frame_idx >= self.at)] = new
            out[name] = t.with_columns(track_id=tid)
        return out


class DeleteInstances(_TableEdit):
    """Delete rows ``rows`` of ``table``."""

    def __init__(self, table: str, rows):
        self.table, self.rows = table, np.atleast_1d(np.asarray(rows, np.int64))
        self.text = f"delete {len(self.rows)} instance(s)"

    def compute(self, ds):
        t = getattr(ds, self.table)
        if len(self.rows) and (self.rows.min() < 0 or self.rows.max() >= len(t)):
            raise TrackingError(f"Instance rows {self.rows.tolist()} out of range ({len(t)} in {self.table}).",
                                hint="Refresh the selection.")
        keep = np.ones(len(t), bool)
        keep[self.rows] = False
        return {self.table: t.take(keep)}


class DeleteTrack(_TableEdit):
    """Delete every instance of ``track`` (in ``tables``; predictions only by default)."""

    def __init__(self, track: int, video_id: int | None = None, tables=("predictions",)):
        self.track, self.video_id, self.tables = int(track), video_id, tuple(tables)
        self.text = f"delete track {track}"

    def compute(self, ds):
        self._check_track(ds, self.track)
        out = {}
        for name in self.tables:
            t = getattr(ds, name)
            out[name] = t.take(~(self._in_video(t, self.video_id) & (t.track_id == self.track)))
        return out


class DeleteLowScore(_TableEdit):
    """Delete predicted instances scoring below ``min_score`` on frames ``start..stop`` (inclusive)."""

    def __init__(self, min_score: float, start: int = 0, stop: int | None = None, video_id: int | None = None):
        self.min_score, self.start, self.stop, self.video_id = float(min_score), int(start), stop, video_id
        self.text = f"delete instances scoring below {min_score:g}"

    def compute(self, ds):
        t = ds.predictions
        sel = self._in_video(t, self.video_id) & (t.frame_idx >= self.start)
        if self.stop is not None:
            sel &= t.frame_idx <= int(self.stop)
        sel &= np.isfinite(t.instance_score) & (t.instance_score < self.min_score)
        self.n_deleted = int(sel.sum())
        return {"predictions": t.take(~sel)}
