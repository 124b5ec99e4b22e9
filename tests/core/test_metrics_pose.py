"""Pose metrics: OKS, Hungarian matching, mAP/mAR, PCK, per-node errors, visibility; plots."""

import numpy as np
import pytest

from napari_posetrack.core.metrics.pose import match_instances, oks_matrix, pose_metrics
from napari_posetrack.core.posetable import PoseTable


def _gt(n_frames=4, n_inst=2, k=3, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(20, 200, (n_frames * n_inst, k, 2)).astype(np.float32)
    return PoseTable.from_arrays(pts, frame_idx=np.repeat(np.arange(n_frames), n_inst))


def test_perfect_prediction():
    gt = _gt()
    m = pose_metrics(gt, gt.with_columns(source=np.ones(len(gt), np.uint8)), node_names=["a", "b", "c"])
    assert m["oks_map"] == pytest.approx(1.0) and m["oks_mar"] == pytest.approx(1.0)
    assert m["pck"][1] == 1.0 and m["error"]["mean"] == 0.0
    assert m["visibility"] == {"precision": 1.0, "recall": 1.0}
    assert set(m["per_node"]) == {"a", "b", "c"} and m["n_matched"] == len(gt)


def test_shift_gives_expected_pck_and_error():
    gt = _gt()
    pred = gt.with_columns(points=gt.points + np.array([3.0, 4.0], np.float32))  # 5 px away (float32)
    m = pose_metrics(gt, pred)
    assert m["pck"][4] == 0.0 and m["pck"][6] == 1.0
    assert m["error"]["mean"] == pytest.approx(5.0, abs=1e-4)
    assert m["per_node"]["node0"]["p95"] == pytest.approx(5.0, abs=1e-4)
    assert 0 < m["oks_mean"] < 1


def test_hungarian_matches_regardless_of_order():
    gt = np.array([[[0, 0], [10, 10]], [[100, 100], [110, 110]]], float)
    pred = gt[::-1] + 0.5
    pairs, oks, mat = match_instances(gt, pred)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]
    assert mat.shape == (2, 2) and np.allclose(oks, np.exp(-1.0))  # d^2=0.5, area=100, sigma=0.025


def test_missing_and_extra_instances_lower_map_and_mar():
    gt = _gt(n_frames=4, n_inst=2)
    keep = np.arange(len(gt)) % 2 == 0  # half the animals found
    pred = gt.take(keep)
    m = pose_metrics(gt, pred)
    assert m["oks_mar"] == pytest.approx(0.5) and m["oks_map"] == pytest.approx(0.5, abs=0.02)
    extra = PoseTable.concat([gt, gt.with_columns(points=gt.points + 500,
                                                  instance_score=np.zeros(len(gt), np.float32))])
    m2 = pose_metrics(gt, extra.with_columns(instance_score=np.r_[np.ones(len(gt)), np.zeros(len(gt))].astype(
        np.float32)))
    assert m2["oks_map"] == pytest.approx(1.0)  # false positives ranked last do not lower AP
    assert m2["n_pred_instances"] == 2 * len(gt)


def test_visibility_precision_recall_and_oks_sigma():
    gt = _gt(n_frames=2, n_inst=1)
    state = gt.state.copy()
    state[:, 2] = 0  # GT says node 2 not visible
    gt2 = gt.with_columns(state=state)
    pred = gt.copy()  # predicts node 2 anyway -> one false positive visibility per instance
    m = pose_metrics(gt2, pred)
    assert m["visibility"]["recall"] == 1.0 and m["visibility"]["precision"] == pytest.approx(2 / 3)
    o1 = oks_matrix(gt.points[:1], gt.points[:1] + 2.0, sigmas=0.025)
    o2 = oks_matrix(gt.points[:1], gt.points[:1] + 2.0, sigmas=0.1)
    assert o1[0, 0] < o2[0, 0] < 1


def test_plots_write_png(tmp_path):
    from napari_posetrack.core.metrics.plots import plot_error_distributions, plot_history, plot_validation_grid

    gt = _gt()
    m = pose_metrics(gt, gt.with_columns(points=gt.points + 1.0))
    plot_error_distributions(m, tmp_path / "err.png")
    img = np.zeros((64, 64), np.uint8)
    plot_validation_grid([img, img], [gt.points[:2], gt.points[2:4]], [gt.points[:2] + 1, gt.points[2:4]],
                         tmp_path / "grid.png", edges=[(0, 1)])
    plot_history([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2}, {"epoch": 2, "train_loss": 0.5,
                                                                     "val_loss": 0.6}], tmp_path / "h.png")
    for name in ("err.png", "grid.png", "h.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
