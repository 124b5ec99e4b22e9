"""Tracking metrics on hand-built cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.errors import PoseTrackError
from napari_posetrack.core.metrics.tracking import tracking_metrics
from napari_posetrack.core.posetable import PoseTable


def _scene(n_frames=20):
    base = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 5.0]])
    pts, frames, tids = [], [], []
    for f in range(n_frames):
        for k in (0, 1):
            pts.append(base + [50 + f, 50 + 200 * k])
            frames.append(f)
            tids.append(k)
    return PoseTable.from_arrays(np.array(pts, np.float32), frame_idx=frames, track_id=tids)


def test_perfect_tracking():
    gt = _scene()
    pred = gt.with_columns(track_id=np.where(gt.track_id == 0, 5, 9))  # names do not matter
    m = tracking_metrics(gt, pred)
    assert m["idf1"] == 1.0 and m["id_switches"] == 0 and m["mota"] == 1.0 and m["fragmentations"] == 0
    assert m["per_video"][0]["track_mapping"] == {0: 5, 1: 9}


def test_one_swap_halfway():
    gt = _scene()
    tid = gt.track_id.copy()
    late = gt.frame_idx >= 10
    tid[late] = 1 - tid[late]
    m = tracking_metrics(gt, gt.with_columns(track_id=tid))
    assert m["id_switches"] == 2  # both ground-truth tracks change predicted id once
    assert m["idf1"] == pytest.approx(0.5)
    assert m["mota"] == pytest.approx(1 - 2 / 40)


def test_gap_counts_fragmentation_and_false_negatives():
    gt = _scene()
    keep = ~((gt.track_id == 0) & (gt.frame_idx >= 5) & (gt.frame_idx < 8))
    m = tracking_metrics(gt, gt.take(keep))
    assert m["fragmentations"] == 1 and m["false_negatives"] == 3 and m["id_switches"] == 0
    assert m["recall"] == pytest.approx(37 / 40) and m["precision"] == 1.0


def test_false_positive_and_untracked_rows():
    gt = _scene()
    far = PoseTable.from_arrays(gt.points[:1] + 500, frame_idx=[3], track_id=[4])
    untracked = PoseTable.from_arrays(gt.points[:1] + 900, frame_idx=[3], track_id=[-1])
    m = tracking_metrics(gt, PoseTable.concat([gt, far, untracked]))
    assert m["false_positives"] == 1  # the untracked row carries no identity: ignored
    assert m["idf1"] == pytest.approx(2 * 40 / 81)


def test_centroid_matching_and_errors():
    gt = _scene()
    moved = gt.with_columns(points=gt.points + 5)
    assert tracking_metrics(gt, moved, match_by="centroid", match_threshold=10)["idf1"] == 1.0
    assert tracking_metrics(gt, moved, match_by="centroid", match_threshold=5)["idf1"] == 0.0
    with pytest.raises(PoseTrackError, match="no tracked instances"):
        tracking_metrics(gt.with_columns(track_id=np.full(len(gt), -1)), gt)
