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
    assert any("identity model disagrees" in r for r in q.reasons)


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
