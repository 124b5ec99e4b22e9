"""Filters reduce the error of noisy synthetic trajectories; thresholds, gaps and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.errors import ConfigError
from napari_posetrack.core.filters import FilterReport, filter_table, kalman_smooth
from napari_posetrack.core.posetable import PREDICTED, UNLABELED, VISIBLE, PoseTable


def _clean_and_noisy(n_frames=200, n_tracks=2, n_nodes=3, noise=3.0, seed=0, outliers=True):
    """Smooth circular trajectories (clean) and a noisy copy with some outliers, as pose tables."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)
    rows_clean, rows_noisy, frame_idx, track_id = [], [], [], []
    for tr in range(n_tracks):
        cx, cy = 200 + 150 * tr, 200
        ang = 0.03 * t + tr
        base = np.stack([cx + 80 * np.cos(ang), cy + 60 * np.sin(ang)], 1)  # (T, 2)
        nodes = base[:, None, :] + np.arange(n_nodes)[None, :, None] * np.array([10.0, 5.0])
        noisy = nodes + rng.normal(0, noise, nodes.shape)
        if outliers:
            spikes = rng.choice(n_frames, n_frames // 20, replace=False)
            noisy[spikes, 0] += rng.normal(0, 40, (len(spikes), 2))
        rows_clean.append(nodes)
        rows_noisy.append(noisy)
        frame_idx.append(t)
        track_id.append(np.full(n_frames, tr))
    clean = np.concatenate(rows_clean).astype(np.float32)
    noisy = np.concatenate(rows_noisy).astype(np.float32)
    kw = dict(frame_idx=np.concatenate(frame_idx), track_id=np.concatenate(track_id), source=PREDICTED,
              score=np.full(clean.shape[:2], 0.9, np.float32))
    return PoseTable.from_arrays(clean, **kw), PoseTable.from_arrays(noisy, **kw)


def _rmse(a: PoseTable, b: PoseTable) -> float:
    a, b = a.sorted(), b.sorted()
    order_a = np.lexsort((a.track_id, a.frame_idx))
    order_b = np.lexsort((b.track_id, b.frame_idx))
    d = a.points[order_a] - b.points[order_b]
    return float(np.sqrt(np.nanmean(np.sum(d**2, -1))))


@pytest.mark.parametrize("method,window", [("median", 7), ("savgol", 11), ("kalman", 0)])
def test_each_method_reduces_error(method, window):
    clean, noisy = _clean_and_noisy()
    before = _rmse(clean, noisy)
    report = FilterReport()
    out = filter_table(noisy, method=method, window=window or 5, report=report)
    after = _rmse(clean, out)
    assert len(out) == len(noisy)
    assert report.n_smoothed_tracks == 2
    assert after < 0.75 * before, (method, before, after)
    # other columns untouched
    assert np.array_equal(np.sort(out.track_id), np.sort(noisy.track_id))
    assert np.allclose(out.score, noisy.score)


def test_kalman_smoother_on_constant_velocity_beats_raw():
    rng = np.random.default_rng(1)
    truth = np.stack([np.arange(100) * 1.5, 50 + np.arange(100) * -0.5], 1)
    obs = truth + rng.normal(0, 2.0, truth.shape)
    obs[40:45] = np.nan  # missing stretch: the smoother predicts through it
    sm = kalman_smooth(obs, process_noise=0.05, measurement_noise=2.0)
    err_raw = np.nanmean(np.abs(obs - truth))
    err_sm = np.mean(np.abs(sm - truth))
    assert np.isfinite(sm).all()
    assert err_sm < 0.5 * err_raw


def test_threshold_by_score_and_interpolate_gaps():
    clean, noisy = _clean_and_noisy(n_frames=60, n_tracks=1, noise=0.0, outliers=False)
    score = noisy.score.copy()
    score[10, 1] = 0.1  # one low-score node
    score[30:33, :] = 0.05  # three frames where every node is low (the row disappears)
    noisy = noisy.with_columns(score=score)
    # and a real gap: frames 45..46 have no instance at all
    noisy = noisy.take(~np.isin(noisy.frame_idx, [45, 46]))
    report = FilterReport()
    out = filter_table(noisy, method=None, min_score=0.5, max_gap=3, report=report)
    assert report.n_thresholded == 1 + 3 * 3
    assert report.n_new_rows == 2  # 45..46 refilled as new rows (30..32 kept their rows)
    assert report.n_interpolated == 1 + 3 * 3 + 2 * 3
    assert len(out) == 60
    assert (out.state == VISIBLE).all()
    # linear motion is locally almost linear: interpolated points near the clean ones
    assert _rmse(clean, out) < 1.0
    # without interpolation the dropped node stays dropped and the empty rows go
    out2 = filter_table(noisy, method=None, min_score=0.5)
    assert out2.state[out2.frame_idx == 10][0, 1] == UNLABELED
    assert len(out2) == len(noisy) - 3


def test_gap_longer_than_max_gap_stays_missing():
    _, noisy = _clean_and_noisy(n_frames=50, n_tracks=1, outliers=False)
    noisy = noisy.take(~((noisy.frame_idx >= 20) & (noisy.frame_idx < 30)))
    out = filter_table(noisy, method="median", window=5, max_gap=4)
    assert set(range(20, 30)).isdisjoint(out.frame_idx.tolist())
    assert np.isfinite(out.points).all()


def test_user_labels_untracked_single_animal_is_smoothed():
    clean, noisy = _clean_and_noisy(n_tracks=1)
    noisy = noisy.with_columns(track_id=np.full(len(noisy), -1), score=np.full(noisy.score.shape, np.nan))
    out = filter_table(noisy, method="savgol", window=9, min_score=0.5)
    assert _rmse(clean.with_columns(track_id=np.full(len(clean), -1)), out) < _rmse(
        clean.with_columns(track_id=np.full(len(clean), -1)), noisy)


def test_window_longer_than_track_is_refused():
    _, noisy = _clean_and_noisy(n_frames=6, n_tracks=2)
    with pytest.raises(ConfigError, match="longer than every track"):
        filter_table(noisy, method="median", window=9)


def test_short_tracks_are_reported_and_left_alone():
    _, long = _clean_and_noisy(n_frames=40, n_tracks=1)
    _, short = _clean_and_noisy(n_frames=4, n_tracks=1, seed=3)
    short = short.with_columns(track_id=np.full(len(short), 5))
    both = PoseTable.concat([long, short])
    report = FilterReport()
    out = filter_table(both, method="savgol", window=9, report=report)
    assert report.short_tracks == [(0, 5, 4)]
    assert np.allclose(out.points[out.track_id == 5], short.points)


def test_bad_method_and_window():
    _, noisy = _clean_and_noisy(n_frames=20, n_tracks=1)
    with pytest.raises(ConfigError, match="median, savgol, kalman"):
        filter_table(noisy, method="gaussian")
    with pytest.raises(ConfigError, match="too short"):
        filter_table(noisy, method="savgol", window=2)
