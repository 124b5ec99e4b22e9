"""Multi-camera geometry: cameras, calibration files, boards, calibration and triangulation.

Synthetic rigs with known cameras (core.multiview.synthetic) give exact answers; one test
reads the real reference calibration.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.multiview import (BoardSpec, Camera, CameraGroup, CalibrationConfig, CalibrationError,
                                             TriangulationConfig, TriangulationError, calibrate_detections,
                                             detect_images, load_board, load_calibration, save_calibration,
                                             triangulate_points)
from napari_posetrack.core.multiview.camera import rodrigues, rodrigues_inverse
from napari_posetrack.core.multiview.synthetic import (board_poses, synthetic_detections, synthetic_rig,
                                                       write_board_images)
from napari_posetrack.core.multiview.triangulate import INCONSISTENT, OK, TOO_FEW_VIEWS

from conftest import shared_file

BOARD = BoardSpec(8, 11, 24.0, 18.75, 4, 1000)


def test_rodrigues_matches_opencv_and_inverts():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    rs = rng.normal(size=(6, 3))
    mats = rodrigues(rs)
    for r, m in zip(rs, mats):
        np.testing.assert_allclose(m, cv2.Rodrigues(r)[0], atol=1e-12)
        np.testing.assert_allclose(rodrigues(rodrigues_inverse(m)), m, atol=1e-10)
    np.testing.assert_allclose(rodrigues(np.zeros(3)), np.eye(3))
    near_pi = np.array([np.pi - 1e-6, 0, 0])
    np.testing.assert_allclose(rodrigues(rodrigues_inverse(rodrigues(near_pi))), rodrigues(near_pi), atol=1e-6)


def test_projection_matches_opencv_and_undistort_inverts_it():
    cv2 = pytest.importorskip("cv2")
    cam = Camera("c", (1280, 1024), [[770, 0, 634], [0, 770, 510], [0, 0, 1]], [-0.33, 0.11, 0.001, -0.002, 0.01],
                 [0.1, -0.2, 0.3], [10, -20, 400])
    pts = np.random.default_rng(0).uniform(-150, 150, (50, 3))
    ours = cam.project(pts)
    ref, _ = cv2.projectPoints(pts, cam.rvec, cam.tvec, cam.matrix, cam.dist)
    np.testing.assert_allclose(ours, ref.reshape(-1, 2), atol=1e-6)
    xc = pts @ cam.rotation.T + cam.tvec
    np.testing.assert_allclose(cam.undistort(ours), xc[:, :2] / xc[:, 2:], atol=1e-7)
    behind = cam.project(np.array([[0, 0, -1000.0]]))
    assert np.isnan(behind).all()


def test_calibration_toml_round_trip(tmp_path):
    group = synthetic_rig(3, dist=(-0.2, 0.05))
    group.metadata = {"reference": "cam0", "error_px": {"cam0": {"median": 0.2, "p95": 0.5}}, "dropped": []}
    path = save_calibration(group, tmp_path / "calibration.toml")
    back = load_calibration(path)
    assert back.names == ["cam0", "cam1", "cam2"]
    for a, b in zip(group.cameras, back.cameras):
        np.testing.assert_allclose(a.matrix, b.matrix)
        np.testing.assert_allclose(a.dist, b.dist)
        np.testing.assert_allclose(a.rvec, b.rvec)
        np.testing.assert_allclose(a.tvec, b.tvec)
    assert back.metadata["error_px"]["cam0"]["median"] == 0.2
    assert CameraGroup.from_dict(group.to_dict()).names == group.names


def test_reads_the_reference_anipose_calibration():
    group = load_calibration(shared_file("multiview", "calibration.toml"))
    assert group.names == ["back", "mid", "side", "top"]
    assert group["back"].size == (1280, 1024)
    assert group["mid"].matrix[0, 0] == pytest.approx(759.1049091821777)


def test_foreign_calibration_with_missing_fields(tmp_path):
    bad = tmp_path / "calibration.toml"
    bad.write_text('[cam_0]\nname = "back"\nsize = [1280, 1024]\nmatrix = [[700, 0, 640], [0, 700, 512], [0, 0, 1]]\n'
                   'rotation = [0, 0, 0]\n')
    with pytest.raises(CalibrationError) as err:
        load_calibration(bad)
    msg = str(err.value)
    assert "[cam_0] (back)" in msg and "'distortions'" in msg and "'translation'" in msg and "What to do" in msg
    (tmp_path / "other.toml").write_text("[camera]\nfx = 3\n")
    with pytest.raises(CalibrationError, match=r"no \[cam_<i>\] tables"):
        load_calibration(tmp_path / "other.toml")
    (tmp_path / "noname.toml").write_text('[cam_0]\nsize = [2, 2]\n')
    with pytest.raises(CalibrationError, match="has no 'name'"):
        load_calibration(tmp_path / "noname.toml")


def test_board_file_and_corner_layout():
    board = load_board(shared_file("multiview", "board.toml"))
    assert board == BOARD and board.n_corners == 70 and board.is_charuco
    cv2 = pytest.importorskip("cv2")
    np.testing.assert_allclose(np.asarray(board._cv_board().getChessboardCorners()), board.object_points)
    checker = load_board(shared_file("multiview", "board_checker.toml"))
    assert not checker.is_charuco
    with pytest.raises(CalibrationError, match="marker_length"):
        BoardSpec(8, 11, 24.0, 30.0)
    assert cv2 is not None


def test_detects_rendered_charuco_corners_where_they_are(tmp_path):
    group = synthetic_rig(2, radius=420, height=300)
    poses = board_poses(BOARD, 2, tilt_deg=15)
    files = write_board_images(tmp_path, BOARD, group, poses)
    truth = synthetic_detections(group, BOARD, poses, noise_px=0, margin=-10_000)
    dets = detect_images(BOARD, files["cam0"])
    assert [d.source for d in dets] == ["cam0-0.png", "cam0-1.png"] and [d.key for d in dets] == [0, 1]
    for d, t in zip(dets, truth["cam0"]):
        assert len(d) >= 30
        assert np.median(np.abs(d.corners - t.corners[d.ids])) < 0.5


def test_calibration_recovers_a_known_rig_and_drops_a_bad_view():
    truth = synthetic_rig(3, dist=(-0.15, 0.03), radius=450, height=330)
    poses = board_poses(BOARD, 12, seed=3)
    dets = synthetic_detections(truth, BOARD, poses, noise_px=0.2, seed=1)
    bad = dets["cam1"][4]
    bad.corners = bad.corners + np.array([25.0, -10.0])  # a detection from another instant
    dets["cam2"][7].ids, dets["cam2"][7].corners = dets["cam2"][7].ids[:3], dets["cam2"][7].corners[:3]
    group, report = calibrate_detections(dets, BOARD, CalibrationConfig())
    for a, b in zip(truth.cameras, group.cameras):
        assert b.matrix[0, 0] == pytest.approx(a.matrix[0, 0], rel=0.01)
        np.testing.assert_allclose(b.tvec, a.tvec, atol=4.0)  # mm, cameras ~560 mm from the board
        np.testing.assert_allclose(rodrigues(b.rvec), rodrigues(a.rvec), atol=5e-3)
    for row in report.per_camera:
        assert row["median_px"] < 0.4 and row["p95_px"] < 0.8
    reasons = {(d["camera"], d["source"]): d["reason"] for d in report.dropped}
    assert len(reasons) == 2, reasons  # the bad view only, not the good views of the same instant
    assert "median reprojection error" in reasons[("cam1", "cam1-4.png")]
    assert "only 3 corners found, at least 8 needed" in reasons[("cam2", "cam2-7.png")]
    assert {r["camera"] for r in report.per_view} == {"cam0", "cam1", "cam2"}
    assert "cam1-4.png" in report.summary()
    assert group.metadata["reference"] == "cam0"


def test_board_not_found_in_enough_images_names_them():
    truth = synthetic_rig(2)
    dets = synthetic_detections(truth, BOARD, board_poses(BOARD, 4), noise_px=0.1)
    for d in dets["cam1"][1:]:
        d.ids, d.corners = d.ids[:0], d.corners[:0]
    with pytest.raises(CalibrationError) as err:
        calibrate_detections(dets, BOARD, CalibrationConfig(min_views=3))
    msg = str(err.value)
    assert "'cam1': the board was found in 1 of 4 images, but at least 3 are needed" in msg
    assert "cam1-1.png, cam1-2.png, cam1-3.png" in msg


def test_camera_that_never_sees_the_board_with_the_others():
    truth = synthetic_rig(3)
    dets = synthetic_detections(truth, BOARD, board_poses(BOARD, 8), noise_px=0.1)
    for d in dets["cam2"]:
        d.key += 100
    with pytest.raises(CalibrationError, match=r"\['cam2'\] never see the board at the same time"):
        calibrate_detections(dets, BOARD)


# ---------------------------------------------------------------------- triangulation
def _scene(n=40, seed=0):
    rng = np.random.default_rng(seed)
    group = synthetic_rig(4, dist=(-0.1, 0.01))
    to0 = np.asarray(group.metadata["world_to_cam0"])
    arc = rng.uniform(-80, 80, (n, 3))
    world = arc @ to0[:3, :3].T + to0[:3, 3]
    return group, world, group.project(world)


def test_dlt_recovers_exact_points_from_any_subset():
    group, world, uv = _scene()
    res = triangulate_points(group, uv)
    np.testing.assert_allclose(res.points3d, world, atol=1e-6)
    assert (res.n_views == 4).all() and (res.status == OK).all() and (res.error_px < 1e-6).all()
    sub = group.subset(["cam1", "cam3"])
    res2 = triangulate_points(sub, uv[[1, 3]], config=TriangulationConfig(refine=False))
    np.testing.assert_allclose(res2.points3d, world, atol=1e-6)


def test_weights_and_ransac_reject_a_wrong_view():
    group, world, uv = _scene()
    noisy = uv.copy()
    noisy[2, :10] += np.array([60.0, -45.0])  # a wrong detection in cam2 for 10 points
    res = triangulate_points(group, noisy)
    np.testing.assert_allclose(res.points3d, world, atol=1e-4)
    assert res.rejected[:10, 2].all() and not res.rejected[10:].any()
    assert (res.n_views[:10] == 3).all() and (res.n_views[10:] == 4).all()
    assert res.view_error_px[:10, 2].min() > 40
    # without RANSAC a low score stops the bad view from dragging the point far
    scores = np.ones(noisy.shape[:2])
    scores[2, :10] = 1e-3
    cfg = TriangulationConfig(ransac=False, refine=False, max_error_px=1e6)
    off = triangulate_points(group, noisy, scores, cfg)
    plain = triangulate_points(group, noisy, None, cfg)
    err_w = np.linalg.norm(off.points3d[:10] - world[:10], axis=1)
    err_p = np.linalg.norm(plain.points3d[:10] - world[:10], axis=1)
    assert (err_w < 0.2 * err_p).all()
    # with the default threshold, a point whose views disagree is rejected, not averaged
    strict = triangulate_points(group, noisy, None, TriangulationConfig(ransac=False))
    assert (strict.status[:10] == INCONSISTENT).all() and np.isnan(strict.points3d[:10]).all()


def test_points_in_fewer_than_two_views_get_a_status_not_a_silent_nan():
    group, world, uv = _scene(n=6)
    uv = uv.copy()
    uv[1:, 0] = np.nan  # point 0 only in cam0
    uv[:, 1] = np.nan  # point 1 nowhere
    uv[1, 2] += [0.0, 150.0]  # point 2: two views that do not meet (others missing)
    uv[[2, 3], 2] = np.nan
    scores = np.ones(uv.shape[:2])
    scores[3, 3] = 0.0  # at or below min_score: ignored
    res = triangulate_points(group, uv, scores, TriangulationConfig(max_error_px=10))
    assert res.status[0] == TOO_FEW_VIEWS and res.available[0].sum() == 1
    assert res.status[1] == TOO_FEW_VIEWS and res.available[1].sum() == 0
    assert res.status[2] == INCONSISTENT
    assert np.isnan(res.points3d[:3]).all() and (res.n_views[:3] == 0).all()
    assert res.status[3] == OK and res.n_views[3] == 3 and not res.available[3, 3]
    np.testing.assert_allclose(res.points3d[3:], world[3:], atol=1e-5)


def test_triangulation_bad_shapes_and_config():
    group, _, uv = _scene(n=3)
    with pytest.raises(TriangulationError, match=r"must be \(cameras=4, N, 2\)"):
        triangulate_points(group, uv[:3])
    with pytest.raises(TriangulationError, match="at least 2"):
        TriangulationConfig(min_views=1)


# ---------------------------------------------------------------------- consistency aids
def test_predict_in_views_and_epipolar_curve():
    from napari_posetrack.core.multiview import epipolar_curve, predict_in_views

    group, world, uv = _scene(n=3)
    got = predict_in_views(group, {"cam0": uv[0, 0], "cam2": uv[2, 0], "cam3": None})
    np.testing.assert_allclose(got["cam1"], uv[1, 0], atol=1e-5)
    np.testing.assert_allclose(got["cam3"], uv[3, 0], atol=1e-5)
    assert got["_error_px"] < 1e-6
    with pytest.raises(TriangulationError, match="needs 2 labelled views"):
        predict_in_views(group, {"cam0": uv[0, 0]})
    curve = epipolar_curve(group, "cam0", uv[0, 1], "cam1")
    assert len(curve) > 10
    # the true point lies on the curve (within the sampling of the depths)
    assert np.min(np.linalg.norm(curve - uv[1, 1], axis=1)) < 15
    dense = epipolar_curve(group, "cam0", uv[0, 1], "cam1", near=500, far=1500, n=2000)
    assert np.min(np.linalg.norm(dense - uv[1, 1], axis=1)) < 0.5


def test_detects_a_plain_checkerboard(tmp_path):
    board = BoardSpec(8, 11, 24.0)  # no markers: a plain checkerboard, all 70 inner corners or none
    group = synthetic_rig(2, radius=420, height=300)
    poses = board_poses(board, 2, tilt_deg=15)
    files = write_board_images(tmp_path, board, group, poses)
    truth = synthetic_detections(group, board, poses, noise_px=0, margin=-10_000)
    for cam in files:
        for d, t in zip(detect_images(board, files[cam]), truth[cam]):
            assert len(d) == 70 and list(d.ids) == list(range(70))
            assert np.abs(d.corners - t.corners).max() < 1.0
