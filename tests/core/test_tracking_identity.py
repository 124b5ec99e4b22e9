"""Identity plus tracking: tracklets stitched to named identities, per-frame decisions, disagreement flags."""

import numpy as np
import pytest

from napari_posetrack.core.errors import TrackingError
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.tracking.identity import combine_identity_tracks, stitch_to_identities
from napari_posetrack.core.tracking.suspects import suspect_frames


def _table(frames, tracks):
    pts = np.zeros((len(frames), 2, 2), np.float32)
    pts[:, 1] = 10.0
    pts[:, :, 0] += np.asarray(tracks)[:, None] * 100  # each tracklet in its own place
    return PoseTable.from_arrays(pts, frame_idx=np.asarray(frames), track_id=np.asarray(tracks),
                                 instance_score=np.ones(len(frames)))


def test_tracklets_are_stitched_to_the_class_with_most_evidence():
    # tracklets 0 (frames 0-4) and 1 (frames 0-4) then 2 continues tracklet 0 after a gap (frames 6-9)
    frames = [f for f in range(5) for _ in (0, 1)] + list(range(6, 10))
    tracks = [t for _ in range(5) for t in (0, 1)] + [2] * 4
    probs = np.array([[0.8, 0.2], [0.3, 0.7]] * 5 + [[0.6, 0.4]] * 4)
    t = _table(frames, tracks)
    assert stitch_to_identities(t, probs) == {0: 0, 1: 1, 2: 0}
    res = combine_identity_tracks(t, probs, weight=0.5)
    assert res.track_id.tolist() == [0, 1] * 5 + [0] * 4
    assert not res.disagree.any()


def test_weight_decides_between_tracklet_and_appearance_and_disagreements_are_flagged():
    frames = [f for f in range(6) for _ in (0, 1)]
    tracks = [0, 1] * 6
    probs = np.array([[0.9, 0.1], [0.1, 0.9]] * 6)
    probs[6:8] = [[0.02, 0.98], [0.97, 0.03]]  # frame 3: the appearance says the two are swapped
    t = _table(frames, tracks)
    kept = combine_identity_tracks(t, probs, weight=0.0)
    assert kept.track_id.tolist() == [0, 1] * 6  # the tracklets decide
    assert kept.disagree.tolist() == [False] * 6 + [True, True] + [False] * 4
    swapped = combine_identity_tracks(t, probs, weight=1.0)
    assert swapped.track_id[6:8].tolist() == [1, 0]  # the appearance decides
    assert "disagrees" in kept.messages[0]
    q = suspect_frames(t, identity_disagree=kept.disagree)
    assert (0, 3) in [tuple(f) for f in q.frames]
    assert any("identity model disagrees with track" in r for r in q.reasons), q.reasons  # no probabilities in t


def test_more_tracklets_in_a_frame_than_classes_leaves_one_unnamed():
    t = _table([0, 0, 0], [0, 1, 2])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    res = combine_identity_tracks(t, probs)
    assert sorted(res.track_id.tolist()) == [-1, 0, 1]


def test_bad_probabilities_and_weight():
    t = _table([0, 1], [0, 0])
    with pytest.raises(TrackingError, match=r"shape \(2, n_classes\)"):
        combine_identity_tracks(t, np.ones((3, 2)))
    with pytest.raises(TrackingError, match="between 0 and 1"):
        combine_identity_tracks(t, np.ones((2, 2)) / 2, weight=2.0)


def _crossing(n_frames=24, seed=0):
    """Two animals crossing: A moves right, B left, 2 px apart in y; near the crossing each one's next pose is
    closer to where the other was, so pose matching alone swaps them. Rows of a frame in random order.
    Returns the table (no tracks), which rows are A, and identity probabilities (A looks like class 0)."""
    rng = np.random.default_rng(seed)
    pts, frames, is_a = [], [], []
    for f in range(n_frames):
        xa, xb = 20.0 + 3 * f, 20.0 + 3 * (n_frames - 1) - 3 * f + 1
        pair = [(True, np.array([[xa - 10, 50], [xa, 50], [xa + 10, 50]])),
                (False, np.array([[xb - 10, 52], [xb, 52], [xb + 10, 52]]))]
        for a, p in (pair if rng.random() < 0.5 else pair[::-1]):
            pts.append(p)
            frames.append(f)
            is_a.append(a)
    is_a = np.asarray(is_a)
    p_a = np.clip(rng.normal(0.85, 0.05, len(is_a)), 0.6, 0.99)
    probs = np.where(is_a[:, None], np.stack([p_a, 1 - p_a], 1), np.stack([1 - p_a, p_a], 1))
    table = PoseTable.from_arrays(np.asarray(pts, np.float32), frame_idx=np.asarray(frames),
                                  instance_score=np.ones(len(frames)), identity_probs=probs)
    return table, is_a, probs


def _switches(track_id, is_a):
    ids = track_id[is_a]
    return int((ids[1:] != ids[:-1]).sum())


def test_identity_cost_in_the_online_tracker_fixes_a_swap():
    from napari_posetrack.core.tracking import TrackerConfig, make_tracker

    table, is_a, probs = _crossing()
    out = {}
    for w in (0.0, 0.5):
        tr = make_tracker(TrackerConfig(tracker="simple", max_tracks=2, identity_weight=w))
        ids = np.full(len(table), -1)
        for _, f, rows in table.frame_groups():
            ids[rows] = tr.step(f, table.points[rows], None, probs[rows])[0]
        out[w] = ids
    # the poses alone swap the animals where they cross (the test is built for it) ...
    assert _switches(out[0.0], is_a) >= 1
    # ... the class probabilities as a cost term keep them apart, with no post-step
    assert _switches(out[0.5], is_a) == 0 and len(set(out[0.5][is_a])) == 1
    assert set(out[0.5][is_a]).isdisjoint(set(out[0.5][~is_a]))


def test_track_table_with_identity_names_the_tracks_after_the_classes():
    from napari_posetrack.core.tracking import track_table

    table, is_a, _ = _crossing(seed=1)
    res = track_table(table, tracker="simple", max_tracks=2, identity_weight=0.5, class_names=["F", "M"])
    assert res.track_names == ["F", "M"]
    assert (res.table.track_id[is_a] == 0).all() and (res.table.track_id[~is_a] == 1).all()
    assert res.identity_disagree is not None and not res.identity_disagree.any()
    np.testing.assert_array_equal(res.table.identity_probs, table.identity_probs)  # the probabilities travel
    plain = track_table(table, tracker="simple", max_tracks=2)
    assert plain.identity_disagree is None and plain.track_names == ["track_0", "track_1"]
    with pytest.raises(TrackingError, match="needs identity-model class probabilities"):
        track_table(table.with_columns(identity_probs=np.zeros((len(table), 0))), tracker="simple", identity_weight=0.5)


def test_posetrack_track_identity_weight_on_a_store(tmp_path):
    from napari_posetrack.cli.cmd_track import track
    from napari_posetrack.core.dataset import PoseDataset, VideoInfo
    from napari_posetrack.core.posetable import PREDICTED
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.core.store import ProjectStore

    table, is_a, probs = _crossing(seed=2)
    table = table.with_columns(source=np.full(len(table), PREDICTED))
    sk = Skeleton.from_names(["head", "thorax", "tail"])
    src = tmp_path / "pred.posetrack.zarr"
    ds = PoseDataset(sk, [VideoInfo(path="", n_frames=24, height=100, width=120)], ["F", "M"], predictions=table)
    st = ProjectStore.create(src, sk, ds.videos, track_names=["F", "M"])
    st.save(ds)
    st.close()
    out = tmp_path / "out.posetrack.zarr"
    track(src, out, tracker="simple", max_tracks=2, identity_weight=0.5)
    got = ProjectStore.open(out, "r").load()
    assert got.track_names == ["F", "M"]
    assert (got.predictions.track_id[is_a] == 0).all() and (got.predictions.track_id[~is_a] == 1).all()
    np.testing.assert_allclose(got.predictions.identity_probs, probs.astype(np.float32))
    # weight 0: the poses alone (they swap here); the probabilities no longer name the tracks and are dropped
    out0 = tmp_path / "out0.posetrack.zarr"
    track(src, out0, tracker="simple", max_tracks=2, identity_weight=0.0)
    plain = ProjectStore.open(out0, "r").load().predictions
    assert plain.identity_probs.shape[1] == 0 and _switches(plain.track_id, is_a) >= 1


def test_identity_disagreements_read_the_probability_columns_as_tracks():
    from napari_posetrack.core.tracking.identity import identity_disagreements

    t = _table([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1])
    probs = np.array([[0.95, 0.05], [0.1, 0.9], [0.03, 0.97], [0.96, 0.04], [0.6, 0.4], [0.45, 0.55]])
    t = t.with_columns(identity_probs=probs)
    # frame 1: the appearance confidently says the two are swapped; frame 2: it is not sure
    assert identity_disagreements(t).tolist() == [False, False, True, True, False, False]
    assert not identity_disagreements(t.with_columns(identity_probs=np.zeros((6, 0)))).any()
