"""Labeling commands: do/undo/redo leave exactly the previous state; bad edits change nothing."""

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.labeling import (
    AcceptPredictions, AddInstances, DeleteInstances, LabelingError, MoveNodes, SetNodeState, SetTrack,
    copy_frame_command, labeling_progress, mean_pose, new_instance, next_unlabeled_suggestion,
)
from napari_posetrack.core.posetable import OCCLUDED, UNLABELED, VISIBLE, PoseTable
from napari_posetrack.core.session import EditSession
from napari_posetrack.core.skeleton import Skeleton


def make_session(n_labels=3, k=3):
    sk = Skeleton.from_names(["head", "thorax", "tail"][:k], [("head", "thorax"), ("thorax", "tail")][: k - 1])
    rng = np.random.default_rng(0)
    pts = rng.uniform(20, 80, (n_labels, k, 2)).astype(np.float32)
    labels = PoseTable.from_arrays(pts, frame_idx=np.arange(n_labels) * 2)
    preds = PoseTable.from_arrays(pts[:1] + 1, frame_idx=[5], source=1, score=np.full((1, k), 0.9))
    ds = PoseDataset(sk, [VideoInfo("v.mp4", 100, 100, 120, 1)], [], labels, preds,
                     suggestions=[[0, 1], [0, 2], [0, 7]])
    return EditSession(ds)


def snapshot(s):
    d = s.dataset
    return (d.labels.copy(), d.predictions.copy(), list(d.track_names), d.skeleton.copy())


def same(s, snap):
    lab, pred, names, sk = snap
    d = s.dataset
    return d.labels.equals(lab) and d.predictions.equals(pred) and d.track_names == names and d.skeleton == sk


@pytest.mark.parametrize("make_cmd", [
    lambda s: new_instance(s.dataset, 0, 10, (50, 50)),
    lambda s: new_instance(s.dataset, 0, 10, (50, 50), template="nearest"),
    lambda s: new_instance(s.dataset, 0, 11, (30, 40), only_node=1),
    lambda s: MoveNodes([0, 1], [2, 0], [[10, 11], [12, 13]]),
    lambda s: SetNodeState([1], [1], OCCLUDED),
    lambda s: SetNodeState([1, 2], [0, 0], None),
    lambda s: SetNodeState([0], [2], UNLABELED),
    lambda s: DeleteInstances([0, 2]),
    lambda s: SetTrack([1], 3),
    lambda s: AcceptPredictions([0]),
    lambda s: copy_frame_command(s.dataset, 0, 9),
])
def test_do_undo_redo_roundtrip(make_cmd):
    s = make_session()
    before = snapshot(s)
    s.push(make_cmd(s))
    after = snapshot(s)
    assert not same(s, before)
    s.undo()
    assert same(s, before)
    s.redo()
    assert same(s, after)
    assert s.dirty


def test_add_instance_template_centred_and_inside():
    s = make_session()
    s.push(new_instance(s.dataset, 0, 10, (60, 40)))
    row = s.dataset.labels.for_frame(10)
    assert len(row) == 1 and (row.state == VISIBLE).all()
    c = row.points[0].mean(0)
    assert np.allclose(c, (60, 40), atol=1e-3)
    # a template near the border is clamped into the image
    s.push(new_instance(s.dataset, 0, 12, (1, 1)))
    p = s.dataset.labels.for_frame(12).points[0]
    assert (p >= 0).all() and (p[:, 0] <= 119).all() and (p[:, 1] <= 99).all()


def test_nearest_template_copies_previous_shape():
    s = make_session()
    s.push(new_instance(s.dataset, 0, 5, (50, 50), template="nearest"))
    prev = s.dataset.labels.for_frame(4).points[0]
    new = s.dataset.labels.for_frame(5).points[0]
    assert np.allclose(new - new.mean(0), prev - prev.mean(0), atol=1e-3)


def test_mean_pose_unlabeled_nodes_get_positions():
    t = PoseTable.from_arrays(np.array([[[0, 0], [10, 0], [np.nan, np.nan]]], np.float32))
    m = mean_pose(t, 3)
    assert np.isfinite(m).all() and np.allclose(m[:2], [[-5, 0], [5, 0]])


def test_set_track_swaps_within_frame():
    s = make_session()
    s.push(copy_frame_command(s.dataset, 0, 9))  # frame 4 -> 9
    s.push(AddInstances(s.dataset.labels.for_frame(9)))  # two instances in frame 9
    rows = np.flatnonzero(s.dataset.labels.frame_idx == 9)
    s.push(SetTrack([rows[0]], 0))
    s.push(SetTrack([rows[1]], 1))
    s.push(SetTrack([rows[1]], 0))
    assert s.dataset.labels.track_id[rows].tolist() == [1, 0]  # swapped
    assert s.dataset.track_names == ["track_0", "track_1"]
    s.undo()
    assert s.dataset.labels.track_id[rows].tolist() == [0, 1]


def test_bad_edits_change_nothing():
    s = make_session()
    s.dataset.labels.state[0, 0] = UNLABELED  # an unlabeled node, as a loaded file may have
    before = snapshot(s)
    with pytest.raises(LabelingError, match="outside the image"):
        s.push(new_instance(s.dataset, 0, 3, (500, 10)))
    with pytest.raises(LabelingError, match="outside the image"):
        s.push(MoveNodes([0, 1], [0, 0], [[5, 5], [-3, 5]]))
    with pytest.raises(LabelingError, match="No labeled instance"):
        s.push(DeleteInstances([7]))
    with pytest.raises(LabelingError, match="no position"):
        s.push(SetNodeState([1, 0], [0, 0], OCCLUDED))
    assert same(s, before) and not s.dirty and len(s.stack) == 0


def test_labeling_before_skeleton_exists():
    ds = PoseDataset(Skeleton([]), [VideoInfo("v.mp4", 10, 50, 50, 1)])
    s = EditSession(ds)
    with pytest.raises(LabelingError, match="no skeleton nodes"):
        s.push(new_instance(ds, 0, 0, (5, 5)))
    assert len(ds.labels) == 0


def test_copy_without_previous_frame_is_refused():
    s = make_session()
    with pytest.raises(LabelingError, match="No labeled frame before"):
        copy_frame_command(s.dataset, 0, 0)


def test_navigation_and_progress():
    s = make_session()  # labeled frames 0, 2, 4; suggestions 1, 2, 7
    assert next_unlabeled_suggestion(s.dataset, 0, 0) == 1
    assert next_unlabeled_suggestion(s.dataset, 0, 1) == 7
    assert next_unlabeled_suggestion(s.dataset, 0, 7) == 1  # wraps
    s.push(SetNodeState([0], [1], UNLABELED))
    p = labeling_progress(s.dataset)[0]
    assert p["n_labeled_frames"] == 3 and p["n_suggested"] == 3 and p["n_suggested_labeled"] == 1
    assert p["keypoints_labeled_pct"] == pytest.approx(100 * 8 / 9)


def test_readonly_arrays_are_copied_not_failed():
    s = make_session()
    for c in ("points", "state", "track_id"):
        getattr(s.dataset.labels, c).flags.writeable = False
    s.push(MoveNodes([0], [0], [[1, 2]]))
    assert s.dataset.labels.points[0, 0].tolist() == [1, 2]
