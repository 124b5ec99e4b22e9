"""Track edits keep the identity-model probability columns on their tracks: merge, rename (and rename into
another track's name), undo; the suspect queue names the class the identity model says."""

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.errors import TrackingError
from napari_posetrack.core.identity_commands import RenameTrack, merge_identity_columns
from napari_posetrack.core.posetable import PREDICTED, PoseTable
from napari_posetrack.core.proofread import MergeTracks
from napari_posetrack.core.session import EditSession
from napari_posetrack.core.skeleton import Skeleton
from napari_posetrack.core.tracking.identity import identity_disagreements
from napari_posetrack.core.tracking.suspects import suspect_frames


def _session(track_names=("F", "M", "track_2"), frames=(0, 0, 1, 1, 2, 3), tracks=(0, 1, 0, 1, 0, 2)):
    """Predictions of an identity model with columns F, M, track_2 (one per track), and one label of M."""
    sk = Skeleton.from_names(["a", "b"], [("a", "b")])
    n = len(frames)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(track_names)), n).astype(np.float32)
    preds = PoseTable.from_arrays(rng.uniform(0, 50, (n, 2, 2)), frame_idx=np.asarray(frames),
                                  track_id=np.asarray(tracks), source=PREDICTED, identity_probs=probs)
    labels = PoseTable.from_arrays(rng.uniform(0, 50, (1, 2, 2)), frame_idx=[9], track_id=[1])
    ds = PoseDataset(sk, [VideoInfo("v.mp4", 20, 64, 64, 1)], list(track_names), labels, preds)
    return EditSession(ds)


def _prob_of_own_track(table):
    return table.identity_probs[np.arange(len(table)), table.track_id]


def test_merge_adds_the_removed_tracks_column_into_the_kept_one():
    s = _session()
    before = s.dataset.predictions.identity_probs.copy()
    s.push(MergeTracks(keep=0, remove=2))  # track_2 (frame 3) is F after all
    p = s.dataset.predictions
    assert p.track_id.tolist() == [0, 1, 0, 1, 0, 0]
    np.testing.assert_allclose(p.identity_probs[:, 0], before[:, 0] + before[:, 2], atol=1e-6)
    np.testing.assert_allclose(p.identity_probs[:, 2], 0.0)
    np.testing.assert_allclose(p.identity_probs[:, 1], before[:, 1])
    np.testing.assert_allclose(p.identity_probs.sum(1), 1.0, atol=1e-5)  # still a probability per row
    assert s.dataset.track_names == ["F", "M", "track_2"]
    s.undo()
    np.testing.assert_array_equal(s.dataset.predictions.identity_probs, before)
    assert s.dataset.predictions.track_id.tolist() == [0, 1, 0, 1, 0, 2]


def test_merge_columns_of_a_narrower_table_and_rows_without_probabilities():
    t = PoseTable.from_arrays(np.zeros((3, 1, 2)), track_id=[0, 1, 1],
                              identity_probs=[[0.7, 0.3], [np.nan, np.nan], [0.2, 0.8]])
    m = merge_identity_columns(t, keep=2, remove=1)  # keep has no column yet: it is added
    assert m.identity_probs.shape == (3, 3)
    np.testing.assert_allclose(m.identity_probs[[0, 2]], [[0.7, 0.0, 0.3], [0.2, 0.0, 0.8]])
    assert np.isnan(m.identity_probs[1]).all()  # nothing known stays unknown
    assert merge_identity_columns(t, keep=0, remove=5) is t  # no column for the removed track: unchanged
    only = merge_identity_columns(t, keep=0, remove=1, rows=np.array([True, False, False]))
    np.testing.assert_allclose(only.identity_probs[2], [0.2, 0.8])


def test_rename_to_a_new_name_keeps_the_columns():
    s = _session()
    before = s.dataset.predictions.identity_probs.copy()
    s.push(RenameTrack(1, "male"))
    assert s.dataset.track_names == ["F", "male", "track_2"]
    np.testing.assert_array_equal(s.dataset.predictions.identity_probs, before)
    s.undo()
    assert s.dataset.track_names == ["F", "M", "track_2"]


def test_rename_into_another_tracks_name_merges_and_drops_the_track_and_its_column():
    s = _session(track_names=("F", "track_1", "M"), frames=(0, 0, 1, 1, 2, 3), tracks=(0, 2, 0, 2, 1, 1))
    pred0, lab0 = s.dataset.predictions, s.dataset.labels
    before = pred0.identity_probs.copy()
    cmd = RenameTrack(1, "M")  # track_1 (frames 2-3) is M; M is track 2
    s.push(cmd)
    p = s.dataset.predictions
    assert s.dataset.track_names == ["F", "M"] and cmd.merged_into == 1
    assert p.track_id.tolist() == [0, 1, 0, 1, 1, 1]
    assert p.identity_probs.shape == (6, 2)
    np.testing.assert_allclose(p.identity_probs[:, 0], before[:, 0])
    np.testing.assert_allclose(p.identity_probs[:, 1], before[:, 1] + before[:, 2], atol=1e-6)
    # the first frame's M (old track 2) keeps what the model said for M, plus the little it gave track_1
    np.testing.assert_allclose(_prob_of_own_track(p)[1], before[1, 2] + before[1, 1], atol=1e-6)
    np.testing.assert_allclose(p.identity_probs.sum(1), 1.0, atol=1e-5)
    assert s.dataset.labels.track_id.tolist() == [1]  # the label of track_1 is M's now
    s.undo()
    assert s.dataset.predictions is pred0 and s.dataset.labels is lab0
    assert s.dataset.track_names == ["F", "track_1", "M"]


def test_rename_refuses_to_merge_tracks_that_share_a_frame_and_bad_names():
    s = _session()
    with pytest.raises(TrackingError, match=r"both have an instance in 2 frame\(s\) \(0, 1\)"):
        s.push(RenameTrack(1, "F"))
    assert s.dataset.track_names == ["F", "M", "track_2"]
    with pytest.raises(TrackingError, match="no track 7"):
        s.push(RenameTrack(7, "X"))
    with pytest.raises(TrackingError, match="cannot be empty"):
        s.push(RenameTrack(0, "  "))


def test_identity_suspects_name_the_class_the_model_says():
    frames = [0, 0, 1, 1]
    probs = np.array([[0.95, 0.05], [0.05, 0.95], [0.03, 0.97], [0.96, 0.04]], np.float32)  # frame 1 swapped
    t = PoseTable.from_arrays(np.random.default_rng(0).uniform(0, 50, (4, 2, 2)), frame_idx=frames,
                              track_id=[0, 1, 0, 1], identity_probs=probs, instance_score=np.ones(4))
    dis = identity_disagreements(t)
    assert dis.tolist() == [False, False, True, True]
    q = suspect_frames(t, identity_disagree=dis, track_names=["F", "M"])
    reasons = [r for f, r in zip(q.frames.tolist(), q.reasons) if f[1] == 1]
    assert reasons and "identity model says 'M' (0.97), track 'F'" in reasons[0], q.reasons
    plain = suspect_frames(t, identity_disagree=dis)
    assert any("identity model says class 1 (0.97), track 0" in r for r in plain.reasons), plain.reasons
