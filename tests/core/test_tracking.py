"""Trackers on real fly clips (identities removed, re-tracked) and synthetic edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.errors import ConfigError, TrackingError
from napari_posetrack.core.metrics.tracking import tracking_metrics
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.progress import CancelToken, Cancelled, ProgressEvent
from napari_posetrack.core.tracking import (COSTS, TRACKERS, cull_short_tracks, iter_track, oks, stitch_tracklets,
                                            track_table)
from napari_posetrack.core.tracking.flow import pyramidal_lk

from conftest import shared_file


def _load(*parts):
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    return labels_to_dataset(sio.load_slp(str(shared_file(*parts))))


def _strip(t: PoseTable) -> PoseTable:
    return t.with_columns(track_id=np.full(len(t), -1))


@pytest.mark.parametrize("tracker", ["simple", "kalman"])
@pytest.mark.parametrize("clip,n", [("two_flies.slp", 2), ("three_flies.slp", 3)])
def test_retrack_ground_truth_flies(clip, n, tracker):
    gt = _load("flies", clip).labels
    res = track_table(_strip(gt), tracker=tracker, max_tracks=n)
    m = tracking_metrics(gt, res.table)
    assert res.n_tracks == n
    assert m["idf1"] >= 0.99
    assert m["id_switches"] == 0
    assert m["mota"] >= 0.99


def test_retrack_with_stitching_three_flies():
    gt = _load("flies", "three_flies.slp").labels
    res = track_table(_strip(gt), tracker="simple", max_tracks=3, stitch=True)
    m = tracking_metrics(gt, res.table)
    assert res.n_tracks == 3 and m["idf1"] >= 0.99 and m["id_switches"] == 0


@pytest.mark.parametrize("tracker", ["simple", "kalman"])
def test_noisy_detections_keep_identities(tracker):
    gt = _load("flies", "two_flies.slp").labels
    noisy = _load("flies", "two_flies_noisy_detections.slp").labels
    res = track_table(_strip(noisy), tracker=tracker, max_tracks=2)
    m = tracking_metrics(gt, res.table)
    assert res.n_tracks == 2
    assert m["id_switches"] == 0
    assert m["idf1"] >= 0.99
    # the frames with a third detection are reported, by frame number
    assert res.over_capacity[:, 1].tolist() == [0, 1, 2]
    assert "frames 0, 1, 2" in res.warnings[0]
    assert (res.table.track_id == -1).sum() == 3


def test_centered_pair_27_fragments_become_2_tracks():
    ds = _load("proofreading", "centered_pair_predictions.slp")
    pred = ds.predictions
    assert len(np.unique(pred.track_id)) == 27
    res = track_table(_strip(pred), tracker="simple", max_tracks=2)
    assert res.n_tracks == 2
    # the two long original tracks (0 and 1) cover every frame: our identities agree with them
    m = tracking_metrics(pred.take(pred.track_id <= 1), res.table)
    assert m["id_switches"] == 0 and m["idf1"] > 0.99


def test_flow_tracker_on_real_video():
    import sleap_io as sio

    gt = _load("flies", "two_flies.slp").labels
    gt = gt.take(gt.frame_idx < 30)
    video = sio.load_video(str(shared_file("flies", "two_flies.mp4")))
    res = track_table(_strip(gt), tracker="flow", max_tracks=2, frame_source=lambda vid: video)
    m = tracking_metrics(gt, res.table)
    assert res.n_tracks == 2 and m["id_switches"] == 0 and m["idf1"] >= 0.99


def test_pyramidal_lk_recovers_a_shift():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    img = ndimage.gaussian_filter(rng.random((160, 160)) * 255, 3).astype(np.float32)
    moved = ndimage.shift(img, (4.0, -6.0), order=1, mode="nearest")  # (dy, dx)
    pts = np.array([[60.0, 70.0], [90.0, 80.0], [np.nan, np.nan]])
    new, ok = pyramidal_lk(img, moved, pts, window=21, levels=3)
    assert ok[:2].all() and not ok[2]
    np.testing.assert_allclose(new[:2] - pts[:2], [[-6.0, 4.0]] * 2, atol=0.3)


def _two_walkers(n_frames=60, gap=(20, 35)):
    """Two synthetic 3-node animals walking in parallel; animal 1 unseen during ``gap``."""
    rows, tids = [], []
    base = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    frames = []
    for f in range(n_frames):
        for k in (0, 1):
            if k == 1 and gap[0] <= f < gap[1]:
                continue
            rows.append(base + [100 + 2 * f, 100 + 150 * k])
            tids.append(k)
            frames.append(f)
    t = PoseTable.from_arrays(np.array(rows, np.float32), frame_idx=frames)
    return t, np.array(tids)


@pytest.mark.parametrize("tracker", ["simple", "kalman"])
def test_track_reuse_two_animals_never_become_more_tracks(tracker):
    t, truth = _two_walkers()
    free = track_table(t, tracker=tracker, max_gap=3, window=3)
    assert free.n_tracks == 3  # without a cap, the animal that came back got a new track
    res = track_table(t, tracker=tracker, max_tracks=2, max_gap=3, window=3)
    assert res.n_tracks == 2
    gt = t.with_columns(track_id=truth)
    assert tracking_metrics(gt, res.table)["id_switches"] == 0


def test_stitch_fragments_into_identities():
    t, truth = _two_walkers()
    frag = truth.copy()
    frag[(truth == 0) & (t.frame_idx >= 30)] = 2  # break animal 0 in two tracklets
    frag[(truth == 1) & (t.frame_idx >= 35)] = 3
    out = stitch_tracklets(t.with_columns(track_id=frag), n_identities=2)
    gt = t.with_columns(track_id=truth)
    m = tracking_metrics(gt, out)
    assert len(np.unique(out.track_id)) == 2 and m["id_switches"] == 0 and m["idf1"] == 1.0


def test_cull_short_tracks():
    t, truth = _two_walkers(n_frames=10, gap=(0, 0))
    tid = truth.copy()
    tid[-1] = 7
    out, n = cull_short_tracks(t.with_columns(track_id=tid), 3)
    assert n == 1 and (out.track_id == 7).sum() == 0 and (out.track_id == -1).sum() == 1


def test_costs_registry_and_values():
    assert {"oks", "centroid", "iou"} <= set(COSTS) and {"simple", "flow", "kalman"} <= set(TRACKERS)
    a = np.array([[[0, 0], [10, 0], [10, 10], [0, 10]]], np.float32)
    assert oks(a, a)[0, 0] == pytest.approx(1.0)
    partial = a.copy()
    partial[0, 2:] = np.nan
    assert oks(partial, a)[0, 0] == pytest.approx(0.5)  # a half pose is not a perfect match
    assert COSTS["centroid"](a, a + 3)[0, 0] == pytest.approx(np.hypot(3, 3), rel=1e-5)
    assert COSTS["iou"](a, a)[0, 0] == pytest.approx(0.0)
    assert COSTS["iou"](a, a + 100)[0, 0] == pytest.approx(1.0)


def test_generator_yields_progress_and_honours_cancel():
    t, _ = _two_walkers(n_frames=50)
    gen = iter_track(t, tracker="simple", report_every=10)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert all(isinstance(e, ProgressEvent) for e in events) and events[-1].step == 50
    assert result.n_tracks >= 2
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(Cancelled):
        list(iter_track(t, tracker="simple", cancel=tok))


def test_bad_input_messages():
    with pytest.raises(TrackingError, match="no instances to track"):
        track_table(PoseTable.empty(3))
    t, _ = _two_walkers(n_frames=10, gap=(0, 0))
    with pytest.raises(TrackingError, match="max_tracks=1 is smaller than the number of instances"):
        track_table(t, max_tracks=1)
    with pytest.raises(TrackingError, match="needs the video frames"):
        track_table(t, tracker="flow")
    with pytest.raises(ConfigError, match="Unknown tracker"):
        track_table(t, tracker="nope")
    with pytest.raises(ConfigError, match="max_tracks must be at least 1"):
        track_table(t, max_tracks=0)


def test_frames_missing_from_the_video_are_reported():
    t, _ = _two_walkers(n_frames=10, gap=(0, 0))
    frames = np.zeros((5, 8, 8, 1), np.uint8)  # the "video" has only 5 frames
    with pytest.raises(TrackingError, match="frame 5 of video 0, which has only 5 frames"):
        track_table(t, tracker="flow", frame_source=lambda vid: frames)


def test_stitch_the_27_original_fragments_into_2_identities():
    pred = _load("proofreading", "centered_pair_predictions.slp").predictions
    out = stitch_tracklets(pred, n_identities=2)
    ids = np.unique(out.track_id[out.track_id >= 0])
    assert ids.tolist() == [0, 1]
    m = tracking_metrics(pred.take(pred.track_id <= 1), out)
    assert m["id_switches"] == 0 and m["idf1"] == 1.0
    # the 25 short fragments overlap both full tracks: duplicates, left untracked
    assert (out.track_id == -1).sum() == (pred.track_id > 1).sum()


def test_centered_pair_retrack_then_stitch():
    pred = _load("proofreading", "centered_pair_predictions.slp").predictions
    res = track_table(_strip(pred), tracker="kalman", max_tracks=2, stitch=True)
    m = tracking_metrics(pred.take(pred.track_id <= 1), res.table)
    assert res.n_tracks == 2 and m["id_switches"] == 0 and m["idf1"] > 0.99


def test_stitch_tolerates_a_short_overlap():
    t, truth = _two_walkers(gap=(0, 0))
    frag = truth.copy()
    frag[(truth == 0) & (t.frame_idx >= 30)] = 2
    # tracklet 0 also grabbed a stray detection at frame 30 (overlapping tracklet 2 by one frame)
    stray = PoseTable.from_arrays(t.points[(truth == 0) & (t.frame_idx == 30)] + 3, frame_idx=[30], track_id=[0])
    table = PoseTable.concat([t.with_columns(track_id=frag), stray])
    out = stitch_tracklets(table, n_identities=2)
    assert len(np.unique(out.track_id[out.track_id >= 0])) == 2
    # one frame, one identity: the overlapping instance of the shorter tracklet was untracked
    f30 = out.track_id[out.frame_idx == 30]
    assert sorted(f30[f30 >= 0].tolist()) == [0, 1] and (f30 == -1).sum() == 1
