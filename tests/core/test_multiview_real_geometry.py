"""The real 4-camera session: is the calibration right where the mouse is? (skips without ../shared/data).

The held-out-view goal (labels of one camera within 5 px of the other three cameras' 3D point)
is not met on this session; docs/multiview.md traces it to the labels. These tests keep the
evidence for the geometry honest: a calibration from half of the board images reprojects the
*other* half's board corners (triangulated from three cameras) within 1 px into the fourth
camera; the mouse lies where the board was; and its sharp landmarks (the right ear) agree
across the cameras where its body-surface nodes do not.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

pytest.importorskip("cv2")

from napari_posetrack.core.multiview import (calibrate_detections, detect_session, load_board,  # noqa: E402
                                             load_session, triangulate_points, triangulate_views)

from conftest import shared_file  # noqa: E402


@pytest.fixture(scope="module")
def real():
    root = shared_file("multiview", "board.toml").parent
    session = load_session(root)
    board = load_board(root / "board.toml")
    dets = detect_session(session, board)
    fit = {c: [d for d in ds if d.key % 2 == 0] for c, ds in dets.items()}
    group, _ = calibrate_detections(fit, board)
    return session, board, dets, group


def _corners(dets, board, keys):
    cams = list(dets)
    out = np.full((len(cams), len(keys), board.n_corners, 2), np.nan)
    for ci, c in enumerate(cams):
        for d in dets[c]:
            if d.key in keys:
                out[ci, keys.index(d.key), d.ids] = d.corners
    return out.reshape(len(cams), -1, 2)


def test_board_views_left_out_of_the_calibration_reproject_within_a_pixel_into_every_held_out_camera(real):
    _, board, dets, group = real
    cams = list(dets)
    held_keys = sorted({d.key for c in cams for d in dets[c] if d.key % 2})
    assert len(held_keys) >= 8
    corners = _corners(dets, board, held_keys)
    for ci, cam in enumerate(cams):
        keep = [j for j in range(len(cams)) if j != ci]
        res = triangulate_points(group.subset([cams[j] for j in keep]), corners[keep])
        err = np.linalg.norm(group[cam].project(res.points3d) - corners[ci], axis=-1)
        err = err[np.isfinite(err)]
        assert len(err) > 300, cam
        assert np.median(err) < 1.0 and np.percentile(err, 90) < 2.0, (cam, np.median(err))


def test_the_mouse_is_where_the_board_was_and_its_ears_agree_across_cameras(real):
    import cv2

    session, _, dets, group = real
    views = session.load_views()
    for ci, cam in enumerate(views.cameras):
        hull = cv2.convexHull(np.concatenate([d.corners for d in dets[cam]]).astype(np.float32))
        lab = views.points[ci][np.isfinite(views.points[ci]).all(-1)]
        assert all(cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in lab), cam
    ear, tail = views.node_names.index("Ear_R"), views.node_names.index("Tail_1")
    for ci, cam in enumerate(views.cameras):
        keep = [c for j, c in enumerate(views.cameras) if j != ci]
        others = dataclasses.replace(views, points=np.delete(views.points, ci, 0),
                                     scores=np.delete(views.scores, ci, 0), cameras=keep)
        proj = group[cam].project(triangulate_views(others, group).points)
        err = np.linalg.norm(proj - views.points[ci], axis=-1)[:, 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert np.nanmedian(err[:, ear]) < 5.0, cam  # a sharp landmark: the geometry holds for the mouse
            if cam in ("back", "mid"):  # where the tail labels are counted differently (docs/multiview.md)
                assert np.nanmedian(err[:, tail]) > 20.0, cam
