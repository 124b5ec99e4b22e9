"""Proofreading commands (undoable) and the ranked suspect-frame queue."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset
from napari_posetrack.core.errors import StoreLockedError, TrackingError
from napari_posetrack.core.posetable import PREDICTED, PoseTable
from napari_posetrack.core.proofread import (AssignTrack, DeleteInstances, DeleteLowScore, DeleteTrack, MergeTracks,
                                             SplitTrack, SwapTracks, suspect_frames)
from napari_posetrack.core.session import EditSession
from napari_posetrack.core.skeleton import Skeleton


def _session(n_frames=30, swap_at=None):
    base = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 5.0]])
    pts, frames, tids, sc = [], [], [], []
    for f in range(n_frames):
        for k in (0, 1):
            pts.append(base + [50 + 2 * f, 50 + 60 * k])
            frames.append(f)
            t = k if swap_at is None or f < swap_at else 1 - k
            tids.append(t)
            sc.append(0.9 if not (k == 1 and f == 7) else 0.1)
    pred = PoseTable.from_arrays(np.array(pts, np.float32), frame_idx=frames, track_id=tids,
                                 instance_score=sc, source=PREDICTED)
    ds = PoseDataset(Skeleton.from_names(["a", "b", "c"]), track_names=["F", "M"], predictions=pred)
    return EditSession(ds)


def _ids(s, frame):
    p = s.dataset.predictions
    return p.track_id[p.frame_idx == frame].tolist()


def test_swap_from_t_and_within_range_undo_redo():
    s = _session()
    s.push(SwapTracks(0, 1, start=10))
    assert _ids(s, 9) == [0, 1] and _ids(s, 10) == [1, 0] and _ids(s, 29) == [1, 0]
    s.undo()
    assert _ids(s, 10) == [0, 1]
    s.redo()
    assert _ids(s, 10) == [1, 0]
    s.push(SwapTracks(0, 1, start=12, stop=13))
    assert _ids(s, 12) == [0, 1] and _ids(s, 14) == [1, 0]


def test_split_merge_assign_and_delete():
    s = _session()
    s.push(SplitTrack(1, at=15))
    new = s.stack._done[-1].new_track
    assert new == 2 and len(s.dataset.track_names) == 3 and _ids(s, 15) == [0, 2]
    s.push(MergeTracks(keep=1, remove=2))
    assert _ids(s, 15) == [0, 1]
    with pytest.raises(TrackingError, match="both have an instance in 30 frames"):
        s.push(MergeTracks(keep=0, remove=1))
    row = int(np.flatnonzero((s.dataset.predictions.frame_idx == 3) & (s.dataset.predictions.track_id == 0))[0])
    s.push(AssignTrack("predictions", row, 1))
    assert _ids(s, 3) == [1, 0]  # the other instance takes the old identity
    n = len(s.dataset.predictions)
    s.push(DeleteInstances("predictions", [0, 1]))
    assert len(s.dataset.predictions) == n - 2
    s.push(DeleteLowScore(0.5, start=0, stop=10))
    assert len(s.dataset.predictions) == n - 3
    s.push(DeleteTrack(0))
    assert (s.dataset.predictions.track_id == 0).sum() == 0
    for _ in range(6):
        s.undo()
    assert len(s.dataset.predictions) == n and _ids(s, 15) == [0, 1] and len(s.dataset.track_names) == 2


def test_edit_on_read_only_store_is_refused():
    class ReadOnly:
        read_only = True
        path = "/data/project.posetrack.zarr"

    s = _session()
    s.store = ReadOnly()
    with pytest.raises(StoreLockedError, match="read-only"):
        s.push(SwapTracks(0, 1, start=3))
    assert _ids(s, 3) == [0, 1] and not s.stack.can_undo


def test_suspect_queue_ranks_an_identity_switch_first():
    s = _session(swap_at=17)
    q = suspect_frames(s.dataset.predictions)
    assert tuple(q.frames[0]) == (0, 17)
    assert "swap" in q.reasons[0] and set(q.tracks[0]) == {0, 1}
    # low score and count changes are in the same ranking
    assert any("score 0.10" in r for r in q.reasons)
    # a swap fixes it: the swap signal disappears
    s.push(SwapTracks(0, 1, start=17))
    q2 = suspect_frames(s.dataset.predictions)
    assert not any("swap" in r for r in q2.reasons)
