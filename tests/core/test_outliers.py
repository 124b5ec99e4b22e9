"""Outlier frames: jumps, low scores, deviation from a smooth trajectory."""

import numpy as np

from napari_posetrack.core.outliers import find_outlier_frames, outlier_measures
from napari_posetrack.core.posetable import PREDICTED, PoseTable


def smooth_tracks(n_frames=40, n_tracks=2, k=3):
    """Two animals walking in straight lines, tracked; scores 0.9."""
    f = np.repeat(np.arange(n_frames), n_tracks)
    t = np.tile(np.arange(n_tracks), n_frames)
    base = np.array([[0, 0], [5, 0], [10, 0]], np.float32)[:k]
    pts = base[None] + np.stack([f * 1.0 + 3, t * 50.0 + 0.5 * f], 1)[:, None, :].astype(np.float32)
    return PoseTable.from_arrays(pts, frame_idx=f, track_id=t, score=np.full((len(f), k), 0.9),
                                 instance_score=0.9, source=PREDICTED)


def test_clean_trajectories_have_no_outliers():
    tab = smooth_tracks()
    assert len(find_outlier_frames(tab, jump=5, min_score=0.5, smooth_dev=3)) == 0


def test_jump_low_score_and_smooth_dev_ranked_worst_first():
    tab = smooth_tracks()
    pts = tab.points.copy()
    sc = tab.score.copy()
    row = lambda f, t: int(np.flatnonzero((tab.frame_idx == f) & (tab.track_id == t))[0])  # noqa: E731
    pts[row(10, 0), 1] += 40  # big jump at frame 10 (and back at 11)
    pts[row(25, 1), 2] += 8  # small glitch at frame 25
    sc[row(33, 0), 0] = 0.1  # low confidence at frame 33
    tab = tab.with_columns(points=pts, score=sc)
    m = outlier_measures(tab)
    assert np.nanmax(m["jump"]) > 39
    jumps = find_outlier_frames(tab, jump=5)
    assert jumps[0].tolist() in ([0, 10], [0, 11]) and {10, 11, 25, 26} <= set(jumps[:, 1].tolist())
    low = find_outlier_frames(tab, min_score=0.5)
    assert low.tolist() == [[0, 33]]
    dev = find_outlier_frames(tab, smooth_dev=3)
    assert dev[0, 1] == 10 and 25 in dev[:, 1]
    both = find_outlier_frames(tab, jump=5, min_score=0.5, smooth_dev=3, n=2)
    assert both.shape == (2, 2) and both[0, 1] == 10


def test_untracked_single_animal_and_auto_thresholds():
    tab = smooth_tracks(n_tracks=1)
    tab = tab.with_columns(track_id=np.full(len(tab), -1))
    pts = tab.points.copy()
    pts[20] += 30
    tab = tab.with_columns(points=pts)
    out = find_outlier_frames(tab)  # no thresholds: automatic
    assert out[0].tolist() in ([0, 20], [0, 21]) and 20 in out[:, 1]
    assert find_outlier_frames(PoseTable.empty(3)).shape == (0, 2)


def test_untracked_multi_animal_pairs_with_nearest():
    tab = smooth_tracks().with_columns(track_id=np.full(80, -1))
    assert len(find_outlier_frames(tab, jump=5)) == 0
    pts = tab.points.copy()
    pts[31] += 20  # frame 15, animal 1
    out = find_outlier_frames(tab.with_columns(points=pts), jump=5)
    assert {15, 16} == set(out[:, 1].tolist())
