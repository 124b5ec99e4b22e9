"""Pose table <-> movement xarray dataset: lossless both ways, and usable by movement."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.errors import FormatError
from napari_posetrack.core.io.movement_convert import movement_to_dataset, movement_to_table, table_to_movement
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.skeleton import Skeleton


def _dataset(rng, n_frames=20, k=3):
    """Two tracks on every frame, one untracked detection on some frames, some gaps/occlusions."""
    rows = []
    for f in range(n_frames):
        for tid in (0, 1):
            if f == 7 and tid == 1:
                continue  # a gap
            rows.append((f, tid))
        if f % 5 == 0:
            rows.append((f, -1))
            rows.append((f, -1)) if f == 10 else None
    n = len(rows)
    pts = rng.uniform(0, 100, (n, k, 2)).astype(np.float32)
    state = rng.choice([0, 1, 1, 1, 2], size=(n, k)).astype(np.uint8)
    pts[state == 0] = np.nan
    table = PoseTable.from_arrays(
        pts, frame_idx=[r[0] for r in rows], track_id=[r[1] for r in rows], state=state,
        score=rng.uniform(0, 1, (n, k)).astype(np.float32), instance_score=rng.uniform(0, 1, n),
        tracking_score=rng.uniform(0, 1, n), source=1,
    )
    sk = Skeleton.from_names(["nose", "body", "tail"], [("nose", "body"), ("body", "tail")], name="m")
    return PoseDataset(skeleton=sk, videos=[VideoInfo("v.mp4", n_frames + 5, 64, 64, 1, 30.0)],
                       track_names=["alice", "bob"], predictions=table)


def _sort_by_slot(table, n_tracks):
    slot = np.where(table.track_id >= 0, table.track_id, 0).astype(np.int64)
    # untracked rows keep their order within a frame, after the tracks
    untracked = table.track_id < 0
    rank = np.zeros(len(table), np.int64)
    for f in np.unique(table.frame_idx[untracked]):
        idx = np.flatnonzero(untracked & (table.frame_idx == f))
        rank[idx] = np.arange(len(idx))
    slot[untracked] = n_tracks + rank[untracked]
    return table.take(np.lexsort((slot, table.frame_idx)))


def test_table_movement_table_is_lossless():
    ds = _dataset(np.random.default_rng(0))
    mds = table_to_movement(ds)
    assert mds["position"].dims == ("time", "space", "keypoints", "individuals")
    assert list(mds["individuals"].values) == ["alice", "bob", "untracked_0", "untracked_1"]
    assert list(mds["keypoints"].values) == ["nose", "body", "tail"]
    assert mds.sizes["time"] == 25  # the whole video
    assert mds.attrs["time_unit"] == "seconds" and mds.attrs["fps"] == 30.0
    back = movement_to_table(mds)
    assert back.equals(_sort_by_slot(ds.predictions, 2))
    full = movement_to_dataset(mds)
    assert full.skeleton == ds.skeleton and full.track_names == ["alice", "bob"]
    assert full.videos[0].path == "v.mp4" and len(full.labels) == 0


def test_movement_functions_work_on_the_converted_dataset():
    from movement.filtering import filter_by_confidence

    mds = table_to_movement(_dataset(np.random.default_rng(1)))
    filtered = filter_by_confidence(mds["position"], mds["confidence"], threshold=0.5)
    low = (mds["confidence"] < 0.5).values
    pos = filtered.transpose("time", "keypoints", "individuals", "space").values
    assert np.isnan(pos[low]).all()


def test_foreign_movement_dataset_becomes_predictions():
    from movement.io import load_poses

    rng = np.random.default_rng(2)
    position = rng.uniform(0, 50, (6, 2, 4, 2))
    position[3, :, :, 1] = np.nan  # individual 1 absent on frame 3
    conf = rng.uniform(0, 1, (6, 4, 2))
    mds = load_poses.from_numpy(position, conf, individual_names=["a", "b"], keypoint_names=list("wxyz"))
    ds = movement_to_dataset(mds)
    assert ds.track_names == ["a", "b"] and ds.skeleton.node_names == list("wxyz")
    t = ds.predictions
    assert len(t) == 11 and (t.state == 1).all() and (t.source == 1).all()
    row = t.take((t.frame_idx == 2) & (t.track_id == 1))
    np.testing.assert_allclose(row.points[0], position[2, :, :, 1].T.astype(np.float32))
    np.testing.assert_allclose(row.score[0], conf[2, :, 1].astype(np.float32))


def test_duplicate_track_in_a_frame_is_refused():
    ds = _dataset(np.random.default_rng(3))
    t = ds.predictions
    ds.predictions = PoseTable.concat([t, t.take(np.flatnonzero(t.track_id == 0)[:1])])
    with pytest.raises(FormatError, match="same track"):
        table_to_movement(ds)


def test_missing_movement_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "movement", None)
    monkeypatch.setitem(sys.modules, "movement.io", None)
    with pytest.raises(FormatError) as err:
        table_to_movement(_dataset(np.random.default_rng(4)))
    assert "napari-posetrack[analysis]" in err.value.hint
