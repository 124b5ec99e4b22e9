"""Editing a camera's 2D labels of a multi-camera session: the command, the edits store, what follows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_posetrack.core.errors import PoseTrackError
from napari_posetrack.core.io import load_dataset, save_dataset
from napari_posetrack.core.multiview import TriangulationConfig, load_session, predict_views, triangulate_views
from napari_posetrack.core.multiview.label_edits import (edits_store_path, find_instance, instance_in_view,
                                                         labels_source, move_label_command, update_poses,
                                                         update_predictions)
from napari_posetrack.core.multiview.synthetic import synthetic_rig, walking_points, write_synthetic_session
from napari_posetrack.core.session import EditSession


@pytest.fixture
def session_folder(tmp_path):
    group = synthetic_rig(3, size=(320, 240), focal=300.0, radius=420, height=300)
    folder = write_synthetic_session(tmp_path / "sess", group, walking_points(4, 3), node_names=["a", "b", "c"],
                                     edges=[(0, 1), (1, 2)], noise_px=0.1)
    return folder, group


def test_edits_store_path(tmp_path):
    back = tmp_path / "back"
    assert edits_store_path(back / "back_proofread.slp") == back / "back_proofread.posetrack.zarr"
    assert edits_store_path(tmp_path / "x.pkg.slp").name == "x.posetrack.zarr"
    assert edits_store_path(tmp_path / "x.posetrack.zarr") == tmp_path / "x.posetrack.zarr"


def test_move_a_user_label_then_undo(session_folder):
    folder, _ = session_folder
    ds = load_dataset(folder / "cam1" / "cam1.slp", check_videos="ignore")
    edit = EditSession(ds)
    cmd = move_label_command(ds, frame=2, node="b", xy=(100.0, 50.0), camera="cam1", image_size=(320, 240))
    before = ds.labels.points[2, 1].copy()
    edit.push(cmd)
    np.testing.assert_allclose(edit.dataset.labels.points[2, 1], (100.0, 50.0))
    pts, scr = instance_in_view(edit.dataset, 2, ["c", "b", "a"])  # any node order, by name
    np.testing.assert_allclose(pts[1], (100.0, 50.0))
    np.testing.assert_allclose(pts[0], edit.dataset.labels.points[2, 2])
    edit.undo()
    np.testing.assert_allclose(edit.dataset.labels.points[2, 1], before)


def test_move_refuses_a_point_outside_the_camera_image_and_a_missing_frame(session_folder):
    folder, _ = session_folder
    ds = load_dataset(folder / "cam0" / "cam0.slp", check_videos="ignore")
    with pytest.raises(PoseTrackError) as err:
        move_label_command(ds, frame=1, node="a", xy=(-12.0, 30.0), camera="cam0", image_size=(320, 240))
    msg = str(err.value)
    assert "camera 'cam0', frame 1, node 'a'" in msg and "outside that camera's image (320 x 240 px)" in msg
    assert "put back" in msg
    with pytest.raises(PoseTrackError, match="no instance at that frame"):
        move_label_command(ds, frame=40, node="a", xy=(10.0, 10.0), image_size=(320, 240))
    with pytest.raises(PoseTrackError, match="no node 'tail'"):
        move_label_command(ds, frame=1, node="tail", xy=(10.0, 10.0))


def test_moving_a_prediction_accepts_the_best_one_as_a_label(session_folder):
    folder, _ = session_folder
    ds = load_dataset(folder / "cam0" / "cam0.slp", check_videos="ignore")
    lab = ds.labels
    n = len(lab)
    # the camera's poses as scored predictions, and a worse second candidate at frame 1
    second = lab.take(np.flatnonzero(lab.frame_idx == 1)).with_columns(
        points=lab.points[lab.frame_idx == 1] + 40, instance_score=np.array([0.2], np.float32),
        source=np.ones(1, np.uint8))
    preds = lab.with_columns(instance_score=np.full(n, 0.9, np.float32),
                             score=np.full(lab.score.shape, 0.8, np.float32), source=np.ones(n, np.uint8))
    from napari_posetrack.core.posetable import PoseTable

    ds = dataclasses.replace(ds, labels=lab.take(np.zeros(0, np.int64)), predictions=PoseTable.concat([preds, second]))
    assert find_instance(ds, 1) == ("predictions", 1)
    edit = EditSession(ds)
    edit.push(move_label_command(ds, frame=1, node="c", xy=(60.0, 70.0), image_size=(320, 240)))
    d = edit.dataset
    assert len(d.labels) == 1 and len(d.predictions) == n  # accepted: out of predictions, into labels
    assert find_instance(d, 1) == ("labels", 0)
    np.testing.assert_allclose(d.labels.points[0, 2], (60.0, 70.0))
    np.testing.assert_allclose(d.labels.points[0, 0], preds.points[1, 0])  # the other nodes as predicted
    pts, scr = instance_in_view(d, 1, ["a", "b", "c"])
    assert np.isnan(scr).all()  # a user label: no score (counts as 1 in the triangulation)
    edit.undo()
    assert len(edit.dataset.labels) == 0 and len(edit.dataset.predictions) == n + 1


def test_session_reads_the_edits_store_and_updates_follow_one_frame(session_folder):
    from napari_posetrack.core.store import ProjectStore

    folder, group = session_folder
    session = load_session(folder)
    cfg = TriangulationConfig()
    views = session.load_views()
    pred = predict_views(views, group, cfg)
    poses = triangulate_views(views, group, cfg)
    cam1 = session.camera("cam1")
    assert labels_source(cam1) == cam1.labels  # no edits yet: the .slp

    ds = load_dataset(cam1.labels, check_videos="ignore")
    edit = EditSession(ds, ProjectStore.create(edits_store_path(cam1.labels), dataset=ds))
    moved = views.points[1, 2, 0, 1] + (35.0, -20.0)
    edit.push(move_label_command(ds, frame=2, node="b", xy=moved, camera="cam1", image_size=(320, 240)))
    edit.save()
    assert labels_source(cam1) == folder / "cam1" / "cam1.posetrack.zarr"
    again = load_session(folder).load_views()
    np.testing.assert_allclose(again.points[1, 2, 0, 1], moved, atol=1e-4)  # read from the store
    np.testing.assert_allclose(load_dataset(cam1.labels, check_videos="ignore").labels.points[2, 1],
                               views.points[1, 2, 0, 1])  # the .slp is not changed

    # the same edit applied to the in-memory views, then only frame 2 computed again
    views.points[1, 2, 0], views.scores[1, 2, 0] = instance_in_view(edit.dataset, 2, views.node_names)
    update_predictions(pred, views, group, cfg, [2])
    update_poses(poses, views, group, cfg, [2])
    full_pred, full_poses = predict_views(views, group, cfg), triangulate_views(views, group, cfg)
    np.testing.assert_allclose(pred.points, full_pred.points, equal_nan=True)
    np.testing.assert_allclose(pred.error_px, full_pred.error_px, equal_nan=True)
    np.testing.assert_allclose(poses.points, full_poses.points, equal_nan=True)
    np.testing.assert_allclose(poses.view_error_px, full_poses.view_error_px, equal_nan=True)
    assert float(np.nanmax(pred.error_px[1, 2, 0, 1])) > 20  # the moved label is now far from the other views


def test_nodes_in_another_order_are_matched_by_name(session_folder):
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.skeleton import Skeleton

    folder, _ = session_folder
    path = folder / "cam2" / "cam2.slp"
    ds = load_dataset(path, check_videos="ignore")
    order = [1, 2, 0]  # b, c, a: not its own inverse
    skel = Skeleton.from_names([ds.skeleton.node_names[j] for j in order], [("b", "c"), ("a", "b")])
    lab = ds.labels.with_columns(points=ds.labels.points[:, order], state=ds.labels.state[:, order],
                                 score=ds.labels.score[:, order])
    before = load_session(folder).load_views()
    save_dataset(PoseDataset(skel, ds.videos, labels=lab), path, overwrite=True)
    after = load_session(folder).load_views()
    np.testing.assert_allclose(after.points, before.points, equal_nan=True)


def test_camera_of_labels_and_errors_in_the_tables_own_node_order(session_folder):
    from napari_posetrack.core.multiview.suspects import (camera_of_labels, reprojection_errors_for,
                                                          reprojection_errors_in_own_order)

    folder, group = session_folder
    session = load_session(folder)
    poses = triangulate_views(session.load_views(), group, TriangulationConfig())
    cam1 = session.camera("cam1")
    assert camera_of_labels(session, cam1.labels) == "cam1"
    assert camera_of_labels(session, edits_store_path(cam1.labels)) == "cam1"  # its edits store
    assert camera_of_labels(session, folder / "elsewhere.slp") is None
    ds = load_dataset(cam1.labels, check_videos="ignore")
    own = reprojection_errors_for(poses, "cam1", ds.labels)
    assert np.isfinite(own).all()
    order = ["c", "a", "b"]
    table = ds.labels.remap_nodes([order.index(n) for n in ds.skeleton.node_names], 3)
    err = reprojection_errors_in_own_order(poses, "cam1", table, (), order)
    np.testing.assert_allclose(err, own[:, [2, 0, 1]])
