"""Multi-view consistency: predicted points and epipolar curves per camera, reprojection suspects."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset
from napari_posetrack.core.io import load_dataset, save_dataset
from napari_posetrack.core.multiview import (Views2D, load_calibration, load_session, predict_views,
                                             reprojection_outlier_frames, reprojection_suspects, suspect_queues,
                                             triangulate_session)
from napari_posetrack.core.multiview.consistency import EPIPOLAR_ONLY, NOT_SEEN, PREDICTED
from napari_posetrack.core.multiview.errors import SessionError
from napari_posetrack.core.multiview.suspects import reprojection_errors_for, write_suspects_csv
from napari_posetrack.core.multiview.synthetic import synthetic_rig, walking_points, write_synthetic_session
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.tracking.suspects import suspect_frames

from conftest import shared_file


def _polyline_distance(curve: np.ndarray, xy: np.ndarray) -> float:
    a, b = curve[:-1], curve[1:]
    ab, ap = b - a, xy - a
    u = np.clip((ap * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
    return float(np.linalg.norm(a + u[:, None] * ab - xy, axis=1).min())


def _synthetic_views(n_frames=4, n_nodes=3, n_cams=3):
    group = synthetic_rig(n_cams, dist=(-0.1, 0.0))
    to0 = np.asarray(group.metadata["world_to_cam0"])
    world = walking_points(n_frames, n_nodes) @ to0[:3, :3].T + to0[:3, 3]
    uv = np.stack([c.project(world) for c in group.cameras])[:, :, None]  # (C, T, 1, K, 2)
    views = Views2D(uv.copy(), np.full(uv.shape[:-1], np.nan), np.arange(n_frames), group.names, ["animal"],
                    [f"n{k}" for k in range(n_nodes)], [(0, 1), (1, 2)])
    return group, views, uv


def test_predicted_points_come_from_the_other_views_only():
    group, views, uv = _synthetic_views(n_cams=4)
    views.points[1, 2, 0, 1] += (40.0, -25.0)  # one wrong label in cam1
    pred = predict_views(views, group)
    assert pred.points.shape == uv.shape and (pred.status == PREDICTED).all()
    # every camera's prediction is its true projection: a wrong label among 3 others is out-voted
    # (RANSAC), and a camera's own wrong label does not pull its own prediction
    np.testing.assert_allclose(pred.points, uv, atol=1e-3)
    assert pred.error_px[1, 2, 0, 1] == pytest.approx(np.hypot(40, 25), abs=1e-3)
    wrong = np.zeros(pred.n_sources.shape, bool)
    wrong[[0, 2, 3], 2, 0, 1] = True  # the wrong cam1 label was left out of these predictions
    assert (pred.n_sources[wrong] == 2).all() and (pred.n_sources[~wrong] == 3).all()
    assert "predicted in cam1 from 3 other views" in pred.reason("cam1", 2, 0, 1)
    assert "the cam1 label is 47.2 px from it" in pred.reason("cam1", 2, 0, 1)
    pred.error_px[1, 2, 0, 1] = 0
    assert np.nanmax(pred.error_px) < 1e-3


def test_a_point_labelled_in_one_view_gets_epipolar_curves_in_the_others():
    group, views, uv = _synthetic_views()
    views.points[1:, 0, 0, 2] = np.nan  # frame 0, node n2: labelled in cam0 only
    views.points[:, 1, 0, 0] = np.nan  # frame 1, node n0: labelled nowhere
    pred = predict_views(views, group, curve_points=400)
    curves = [c for c in pred.curves if (c.t, c.k) == (0, 2)]
    assert sorted(c.camera for c in curves) == ["cam1", "cam2"] and all(c.source == "cam0" for c in curves)
    assert len(pred.curves) == 2  # nothing else is single-view
    for c in curves:
        ci = group.names.index(c.camera)
        assert len(c.pixels) > 20 and _polyline_distance(c.pixels, uv[ci, 0, 0, 2]) < 0.5
        assert pred.status[ci, 0, 0, 2] == EPIPOLAR_ONLY and np.isnan(pred.points[ci, 0, 0, 2]).all()
    # cam0 still gets nothing for it from the others: it is the only view that saw the node
    assert pred.status[0, 0, 0, 2] == NOT_SEEN
    assert pred.reason("cam2", 0, 0, 2) == ("frame 0, animal, node n2: labelled in one other view only (cam0), so "
                                            "cam2 gets its epipolar line, not a point; label it in a second view to "
                                            "place it")
    assert pred.reason("cam0", 1, 0, 0) == ("frame 1, animal, node n0: labelled in no other view, so nothing can be "
                                            "predicted in cam0")
    # a camera without a label but with two labelled others gets a point (the labelling aid)
    views.points[2, 3, 0, 0] = np.nan
    pred = predict_views(views, group, epipolar=False)
    assert pred.status[2, 3, 0, 0] == PREDICTED and np.isnan(pred.error_px[2, 3, 0, 0])
    np.testing.assert_allclose(pred.points[2, 3, 0, 0], uv[2, 3, 0, 0], atol=1e-3)
    assert "not labelled in cam2" in pred.reason("cam2", 3, 0, 0) and pred.curves == []


@pytest.fixture(scope="module")
def real_mid_top():
    root = shared_file("multiview", "calibration.toml").parent
    views = load_session(root).select(["mid", "top"]).load_views()
    first = slice(0, 30)  # 30 of the 120 frames keep the test quick
    views = Views2D(views.points[:, first], views.scores[:, first], views.frames[first], views.cameras,
                    views.individuals, views.node_names, views.edges)
    return views, load_calibration(root / "calibration.toml")


def test_real_labels_lie_on_the_epipolar_curves_of_the_reference_calibration(real_mid_top):
    """mid and top of the reference calibration (its side camera is wrong, these two are fine)."""
    views, group = real_mid_top
    pred = predict_views(views, group, curve_points=64)
    assert (pred.status == EPIPOLAR_ONLY).mean() > 0.9  # two cameras: each has one other view
    labels = [(c, views.points[views.cameras.index(c.camera), c.t, c.i, c.k]) for c in pred.curves]
    d = [_polyline_distance(c.pixels, xy) for c, xy in labels if len(c.pixels) > 1 and np.isfinite(xy).all()]
    assert len(d) > 500
    # measured 1.1-1.2 px median, 4.1-4.4 px p90 over the first frames
    assert np.median(d) < 2.5 and np.percentile(d, 90) < 8.0
    # a node moved 60 px across the curve in top falls far off it
    c = next(c for c in pred.curves if c.camera == "top" and c.t == 5 and c.k == 1)
    lab = views.points[views.cameras.index("top"), 5, 0, 1]
    direction = np.diff(c.pixels[[0, -1]], axis=0)[0]
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    assert _polyline_distance(c.pixels, lab + 60 * normal) > 50


# ---------------------------------------------------------------------- reprojection suspects
@pytest.fixture()
def wrong_label_session(tmp_path):
    group = synthetic_rig(3)
    folder = write_synthetic_session(tmp_path / "sess", group, walking_points(6, 4),
                                     node_names=["nose", "neck", "hip", "tail"], edges=[(0, 1), (1, 2), (2, 3)],
                                     noise_px=0.3)
    path = folder / "cam2" / "cam2.slp"
    ds = load_dataset(path, check_videos="ignore")
    p = ds.labels.points.copy()
    row = int(np.flatnonzero(ds.labels.frame_idx == 4)[0])
    p[row, 2] += (35.0, 20.0)  # cam2, frame 4, hip: on the wrong spot
    save_dataset(PoseDataset(ds.skeleton, ds.videos, labels=ds.labels.with_columns(points=p)), path, overwrite=True)
    return folder


def test_reprojection_outliers_feed_the_suspect_and_outlier_queues(wrong_label_session, tmp_path):
    session = load_session(wrong_label_session)
    poses = triangulate_session(session)
    rows = reprojection_suspects(poses, 10.0)
    assert len(rows) == 1
    r = rows[0]
    assert (r["camera"], r["frame"], r["individual"], r["node"], r["rejected"]) == ("cam2", 4, "animal", "hip", True)
    assert 35 < r["error_px"] < 45
    assert reprojection_suspects(poses, 100.0) == []
    with pytest.raises(SessionError, match="must be positive"):
        reprojection_suspects(poses, 0)
    out = write_suspects_csv(rows, tmp_path / "suspects.csv")
    assert out.read_text().splitlines()[1].startswith("cam2,4,animal,hip,")

    queues = suspect_queues(session, poses, max_error_px=10.0)
    assert set(queues) == {"cam0", "cam1", "cam2"}
    top = queues["cam2"]
    assert tuple(top.frames[0]) == (0, 4) and top.reasons[0].startswith("hip ")
    assert "px from the other views" in top.reasons[0]
    assert not any("px from the other views" in why for why in queues["cam0"].reasons)
    frames = reprojection_outlier_frames(poses, 10.0)
    assert frames["cam2"].tolist() == [[0, 4]] and frames["cam0"].shape == (0, 2)


def test_errors_follow_the_camera_offset_and_the_node_order(wrong_label_session):
    session = load_session(wrong_label_session)
    poses = triangulate_session(session)
    poses.offsets = {"cam2": 3}  # session frame t = cam2 frame t + 3
    ds = load_dataset(wrong_label_session / "cam2" / "cam2.slp", check_videos="ignore")
    shifted = ds.labels.with_columns(frame_idx=ds.labels.frame_idx + 3)  # cam2's own frame numbers
    err = reprojection_errors_for(poses, "cam2", shifted)
    rows7 = np.flatnonzero(shifted.frame_idx == 7)
    assert err[rows7[0], 2] > 30 and (err[rows7[0], [0, 1, 3]] < 2).all()  # cam2's frame 7 is session frame 4
    assert np.isnan(reprojection_errors_for(poses, "cam2", ds.labels)[ds.labels.frame_idx < 3]).all()
    assert reprojection_suspects(poses, 10.0)[0]["frame"] == 7
    with pytest.raises(SessionError, match="no camera 'cam9'"):
        reprojection_errors_for(poses, "cam9", ds.labels)
    with pytest.raises(SessionError, match="its table has 2 nodes, the 3D poses 4"):
        reprojection_errors_for(poses, "cam2", PoseTable.from_arrays(np.zeros((1, 2, 2), np.float32)))


def test_suspect_frames_reprojection_signal_alone():
    pts = np.zeros((3, 2, 2), np.float32)
    table = PoseTable.from_arrays(pts, frame_idx=np.array([0, 1, 2]))
    err = np.array([[1.0, np.nan], [25.0, 2.0], [5.0, 80.0]])
    weights = {k: 0.0 for k in ("swap", "crossing", "jump", "start_end", "count", "low_score", "identity")}
    q = suspect_frames(table, weights=weights, reprojection_px=err, max_reprojection_px=20.0, node_names=["a", "b"],
                       nms_window=0)
    assert q.frames[:, 1].tolist() == [2, 1]
    assert q.reasons == ["b 80.0 px from the other views", "a 25.0 px from the other views"]
    assert q.scores[0] == pytest.approx(2.0 * 1.0) and q.scores[1] == pytest.approx(2.0 * 25 / 60)


def test_view_weights_down_weight_a_camera_with_noisy_labels():
    from napari_posetrack.core.multiview import triangulate_views
    from napari_posetrack.core.multiview.consistency import view_weights, weight_views

    group, views, uv = _synthetic_views(n_frames=20, n_nodes=3, n_cams=4)
    rng = np.random.default_rng(0)
    noise = np.array([0.5, 0.5, 6.0, 0.5])  # cam2's labels are sloppy
    views.points[:] = uv + rng.normal(0, 1, uv.shape) * noise[:, None, None, None, None]
    w = view_weights(views, group)
    assert set(w) == {"cam0", "cam1", "cam2", "cam3"} and max(w.values()) == 1.0
    assert w["cam2"] < 0.2 * min(w[c] for c in ("cam0", "cam1", "cam3"))
    weighted = weight_views(views, w)
    assert np.allclose(weighted.scores[2], w["cam2"]) and np.isnan(views.scores).all()  # the input is untouched
    to0 = np.asarray(group.metadata["world_to_cam0"])
    truth = walking_points(20, 3) @ to0[:3, :3].T + to0[:3, 3]
    plain = triangulate_views(views, group)
    better = triangulate_views(weighted, group)
    e_plain = np.linalg.norm(plain.points[:, 0] - truth, axis=-1)
    e_better = np.linalg.norm(better.points[:, 0] - truth, axis=-1)
    assert np.median(e_better) < 0.8 * np.median(e_plain)
