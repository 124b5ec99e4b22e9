import numpy as np
import pytest

from napari_posetrack.core.errors import PoseTrackError, SkeletonMismatchError
from napari_posetrack.core.posetable import OCCLUDED, PREDICTED, UNLABELED, VISIBLE, PoseTable


def table(n=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 100, (n, k, 2)).astype(np.float32)
    pts[0, 2] = np.nan
    return PoseTable.from_arrays(pts, frame_idx=rng.integers(0, 4, n), track_id=np.arange(n) % 2)


def test_defaults_and_dtypes():
    t = table()
    assert len(t) == 6 and t.n_nodes == 3
    assert t.points.dtype == np.float32 and t.state.dtype == np.uint8 and t.track_id.dtype == np.int32
    assert t.state[0, 2] == UNLABELED and t.state[0, 0] == VISIBLE
    assert np.isnan(t.score).all() and np.isnan(t.instance_score).all()
    assert (t.source == 0).all()


def test_occluded_is_distinct_from_unlabeled():
    pts = np.ones((1, 3, 2), np.float32)
    t = PoseTable.from_arrays(pts, state=[[VISIBLE, OCCLUDED, UNLABELED]])
    assert t.labeled.tolist() == [[True, True, False]]
    assert np.isfinite(t.points[0, 1]).all()


def test_shape_errors_are_clear():
    with pytest.raises(PoseTrackError, match=r"\(n_instances, n_nodes, 2\)"):
        PoseTable.from_arrays(np.zeros((3, 2)))
    with pytest.raises(PoseTrackError, match="state values"):
        PoseTable.from_arrays(np.zeros((1, 2, 2)), state=[[0, 3]])
    with pytest.raises(SkeletonMismatchError):
        PoseTable.concat([PoseTable.empty(2), PoseTable.empty(3)])


def test_concat_take_sort_and_groups():
    t = table()
    both = PoseTable.concat([t, t.with_columns(source=np.full(len(t), PREDICTED))])
    assert len(both) == 12 and both.source.sum() == 6
    s = both.sorted()
    assert np.all(np.diff(s.frame_idx) >= 0)
    seen = []
    for vid, f, rows in both.frame_groups():
        assert (both.frame_idx[rows] == f).all() and (both.video_id[rows] == vid).all()
        seen.append(f)
    assert seen == sorted(set(both.frame_idx.tolist()))
    assert both.take(both.source == 1).equals(t.with_columns(source=np.ones(6)))


def test_equals_treats_nan_as_equal_and_copy_is_deep():
    t = table()
    c = t.copy()
    assert t.equals(c)
    c.points[1, 1, 0] += 1
    assert not t.equals(c)


def test_remap_nodes_moves_and_drops():
    t = table(k=3)
    r = t.remap_nodes([2, -1, 0], 4)
    assert r.n_nodes == 4
    np.testing.assert_array_equal(r.points[:, 2], t.points[:, 0])
    np.testing.assert_array_equal(r.state[:, 0], t.state[:, 2])
    assert (r.state[:, 1] == 0).all() and (r.state[:, 3] == 0).all()


def test_centroids_and_bboxes_ignore_unlabeled():
    pts = np.array([[[0, 0], [10, 20], [np.nan, np.nan]]], np.float32)
    t = PoseTable.from_arrays(pts)
    np.testing.assert_allclose(t.centroids(), [[5, 10]])
    np.testing.assert_allclose(t.bboxes(), [[0, 0, 10, 20]])
    empty = PoseTable.from_arrays(np.full((1, 2, 2), np.nan))
    assert np.isnan(empty.centroids()).all()


def test_dict_round_trip():
    t = table()
    assert PoseTable.from_dict(t.to_dict()).equals(t)
