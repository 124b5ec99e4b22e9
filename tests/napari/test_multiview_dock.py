"""The 3D dock: calibrate a rendered rig, triangulate its session, 3D layers in the viewer."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

pytest.importorskip("cv2")

from napari_posetrack.core.multiview import BoardSpec, load_calibration  # noqa: E402
from napari_posetrack.core.multiview.synthetic import (board_poses, synthetic_rig, walking_points,  # noqa: E402
                                                       write_board_images, write_synthetic_session)

BOARD_TOML = ("board_x = 8\nboard_y = 11\nsquare_length = 24.0\nmarker_length = 18.75\nmarker_bits = 4\n"
              "dict_size = 1000\n")


def test_multiview_dock_calibrates_triangulates_and_shows_3d(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.multiview_dock import LAYER_NAMES, MultiviewDock

    board = BoardSpec(8, 11, 24.0, 18.75, 4, 1000)
    group = synthetic_rig(3, radius=420, height=300)
    folder = write_synthetic_session(tmp_path / "sess", group, walking_points(6, 4), node_names=["a", "b", "c", "d"],
                                     edges=[(0, 1), (1, 2), (2, 3)], noise_px=0.2, write_calibration=False)
    write_board_images(folder, board, group, board_poses(board, 8, tilt_deg=25, seed=2))
    (folder / "board.toml").write_text(BOARD_TOML)

    viewer = make_napari_viewer(show=True)
    dock = MultiviewDock(viewer)
    viewer.window.add_dock_widget(dock, name="3D")
    errors = []
    dock.notify = lambda text, level="info": errors.append((level, text))
    # no session yet: a clear message, nothing else happens
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert errors and "No session chosen" in errors[-1][1]
    dock.ask_open_path = lambda title: str(folder)
    qtbot.mouseClick(dock.browse_button, Qt.MouseButton.LeftButton)
    assert dock.session_edit.text() == str(folder)
    out = tmp_path / "calibration.toml"
    dock.ask_save_path = lambda title, filt: str(out)
    qtbot.mouseClick(dock.calibrate_button, Qt.MouseButton.LeftButton)
    assert not dock.triangulate_button.isEnabled()  # busy while the worker runs
    qtbot.waitUntil(lambda: dock.group is not None and dock.calibrate_button.isEnabled(), timeout=120_000)
    assert out.exists() and load_calibration(out).names == ["cam0", "cam1", "cam2"]
    assert "Calibrated 3 cameras" in dock.status_label.text() and "median px" in dock.details.toPlainText()
    assert dock.calibration_edit.text() == str(out)

    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert dock.poses is not None and viewer.dims.ndisplay == 3
    assert tuple(viewer.dims.axis_labels) == ("frame", "x", "y", "z")
    assert "24 points in 3D from 3 cameras" in dock.status_label.text()
    pts = viewer.layers[LAYER_NAMES[0]]
    assert pts.data.shape == (24, 4) and list(pts.features["node"][:4]) == ["a", "b", "c", "d"]
    assert len(viewer.layers[LAYER_NAMES[1]].data) == 6 * 3
    assert viewer.layers[LAYER_NAMES[2]].data.shape == (24, 5)
    # the points sit where the rig says (calibrated world = cam0 frame)
    np.testing.assert_allclose(np.sort(pts.data[:, 0]), np.repeat(np.arange(6), 4))
    # triangulating again replaces the layers instead of stacking them
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert [n for n in viewer.layers if n.name in LAYER_NAMES].__len__() == 3
    dock.shutdown()
    assert not any(name in viewer.layers for name in LAYER_NAMES)


def _one_view_only(folder, cams, node, frame):
    """Remove ``node`` at ``frame`` from the labels of ``cams``."""
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.io import load_dataset, save_dataset

    for cam in cams:
        path = folder / cam / f"{cam}.slp"
        ds = load_dataset(path, check_videos="ignore")
        p, st = ds.labels.points.copy(), ds.labels.state.copy()
        row = int(np.flatnonzero(ds.labels.frame_idx == frame)[0])
        p[row, node], st[row, node] = np.nan, 0
        save_dataset(PoseDataset(ds.skeleton, ds.videos, labels=ds.labels.with_columns(points=p, state=st)), path,
                     overwrite=True)


def _move_label(folder, cam, node, frame, shift):
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.io import load_dataset, save_dataset

    path = folder / cam / f"{cam}.slp"
    ds = load_dataset(path, check_videos="ignore")
    p = ds.labels.points.copy()
    p[int(np.flatnonzero(ds.labels.frame_idx == frame)[0]), node] += shift
    save_dataset(PoseDataset(ds.skeleton, ds.videos, labels=ds.labels.with_columns(points=p)), path, overwrite=True)


def test_camera_views_side_by_side_with_reprojections_epipolar_lines_and_suspects(make_napari_viewer, qtbot,
                                                                                   tmp_path):
    from napari_posetrack._napari.multiview_dock import LAYER_NAMES, VIEW_LAYER_NAMES, MultiviewDock
    from napari_posetrack.core.multiview.synthetic import synthetic_rig, walking_points, write_synthetic_session

    group = synthetic_rig(4, size=(320, 240), focal=300.0, radius=420, height=300)
    folder = write_synthetic_session(tmp_path / "sess", group, walking_points(5, 3), node_names=["a", "b", "c"],
                                     edges=[(0, 1), (1, 2)], noise_px=0.1)
    _one_view_only(folder, ["cam1", "cam2", "cam3"], node=2, frame=1)  # c at frame 1: cam0 only
    _one_view_only(folder, ["cam3"], node=0, frame=3)  # a at frame 3: not labelled in cam3 yet
    _move_label(folder, "cam2", node=1, frame=2, shift=(30.0, 25.0))  # b at frame 2: wrong in cam2

    viewer = make_napari_viewer(show=True)
    dock = MultiviewDock(viewer)
    viewer.window.add_dock_widget(dock, name="3D")
    errors = []
    dock.notify = lambda text, level="info": errors.append((level, text))
    qtbot.keyClicks(dock.session_edit, str(folder))
    # bad input first: a calibration without cam3, then one from another tool lacking fields
    from napari_posetrack.core.multiview import save_calibration

    save_calibration(group.subset(["cam0", "cam1", "cam2"]), tmp_path / "three.toml")
    qtbot.keyClicks(dock.calibration_edit, str(tmp_path / "three.toml"))
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert "Camera(s) ['cam3'] have no calibration" in errors[-1][1] and len(viewer.layers) == 0
    (tmp_path / "foreign.toml").write_text('[cam_0]\nname = "cam0"\nsize = [320, 240]\n')
    dock.calibration_edit.clear()
    qtbot.keyClicks(dock.calibration_edit, str(tmp_path / "foreign.toml"))
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert "lacks the field(s) ['matrix', 'distortions', 'rotation', 'translation']" in errors[-1][1]
    assert len(viewer.layers) == 0 and dock.suspect_list.count() == 0
    dock.calibration_edit.clear()  # the session's own calibration.toml
    errors.clear()
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert not errors, errors
    assert all(name in viewer.layers for name in LAYER_NAMES) and viewer.dims.ndisplay == 3
    # the wrong label is the one reprojection suspect; choosing it goes to its frame
    assert dock.suspect_list.count() == 1
    assert dock.suspect_list.item(0).text().startswith("cam2  frame 2  b  ")
    assert "(left out)" in dock.suspect_list.item(0).text()

    # Show: camera views (keyboard on the combo box)
    dock.mode_combo.setFocus()
    qtbot.keyClick(dock.mode_combo, Qt.Key.Key_Down)
    assert dock.mode_combo.currentText() == "camera views"
    assert not any(name in viewer.layers for name in LAYER_NAMES)  # the 3D layers made way
    assert viewer.dims.ndisplay == 2 and tuple(viewer.dims.axis_labels) == ("frame", "y", "x")
    videos = [viewer.layers[f"cam{i} video"] for i in range(4)]
    # a 2 x 2 grid of 320 x 240 cells with 40 px gaps
    assert [tuple(v.translate[1:]) for v in videos] == [(0, 0), (0, 360), (280, 0), (280, 360)]
    labels, reproj = viewer.layers[VIEW_LAYER_NAMES[0]], viewer.layers[VIEW_LAYER_NAMES[1]]
    assert len(labels.data) == 4 * 5 * 3 - 3 - 1
    # each label sits in its camera's cell at its pixel position
    cam3 = labels.features["camera"] == "cam3"
    assert (labels.data[cam3, 1] >= 280).all() and (labels.data[cam3, 2] >= 360).all()
    # the reprojection of 'a' at frame 3 in cam3, which has no label there: where the rig says
    feats = reproj.features
    hit = np.flatnonzero((feats["camera"] == "cam3") & (feats["node"] == "a") & (reproj.data[:, 0] == 3))
    assert len(hit) == 1
    to0 = np.asarray(group.metadata["world_to_cam0"])
    truth = group["cam3"].project(walking_points(5, 3)[3, 0] @ to0[:3, :3].T + to0[:3, 3])
    np.testing.assert_allclose(reproj.data[hit[0], 1:], truth[::-1] + (280, 360), atol=0.5)
    assert np.isnan(feats["error_px"][hit[0]])  # no label to compare with
    # node c at frame 1 was labelled in cam0 only: an epipolar line in each of the 3 others
    epi = viewer.layers[VIEW_LAYER_NAMES[2]]
    assert set(epi.features["camera"]) == {"cam1", "cam2", "cam3"} and set(epi.features["source"]) == {"cam0"}
    assert set(epi.features["node"]) == {"c"} and len(epi.data) > 10
    assert (epi.data[:, 0, 0] == 1).all() and (epi.data[:, 1, 0] == 0).all()  # on frame 1, drawn in y, x
    # the wrong label gets a red line to its reprojection
    far = viewer.layers[VIEW_LAYER_NAMES[3]]
    assert len(far.data) == 1 and float(far.features["error_px"][0]) > 30
    assert "1 labels more than 20 px from their reprojection" in dock.status_label.text()

    # choose the suspect: frame 2, view centred on the label in cam2's cell
    dock.suspect_list.setFocus()
    qtbot.keyClick(dock.suspect_list, Qt.Key.Key_Down)
    assert dock.suspect_list.currentRow() == 0
    assert viewer.dims.point[0] == 2
    lab = labels.data[(labels.features["camera"] == "cam2") & (labels.features["node"] == "b")
                      & (labels.data[:, 0] == 2)][0]
    np.testing.assert_allclose(viewer.camera.center[-2:], lab[1:], atol=1e-6)
    assert "cam2, frame 2, animal, node b" in dock.status_label.text()

    # back to 3D: the camera layers go, the 3D layers return, the frame stays
    qtbot.keyClick(dock.mode_combo, Qt.Key.Key_Up)
    assert all(name in viewer.layers for name in LAYER_NAMES)
    assert not any(name in viewer.layers for name in VIEW_LAYER_NAMES + ("cam0 video",))
    assert viewer.dims.ndisplay == 3 and viewer.dims.point[0] == 2
    dock.shutdown()
    assert len(viewer.layers) == 0


def _row(layer, cam, node, frame):
    f = layer.features
    hit = np.flatnonzero((f["camera"] == cam) & (f["node"] == node) & (layer.data[:, 0] == frame))
    assert len(hit) == 1, (cam, node, frame, hit)
    return int(hit[0])


def _curve(viewer, cam, node, frame):
    """The epipolar curve drawn for ``node`` at ``frame`` in ``cam``: its points (y, x) in the views plane."""
    from napari_posetrack._napari.multiview_dock import VIEW_LAYER_NAMES

    epi = viewer.layers[VIEW_LAYER_NAMES[2]]
    sel = (epi.features["camera"] == cam) & (epi.features["node"] == node) & (epi.data[:, 0, 0] == frame)
    return epi.data[sel, 0, 1:]


def _camera_views_session(tmp_path):
    group = synthetic_rig(4, size=(320, 240), focal=300.0, radius=420, height=300)
    folder = write_synthetic_session(tmp_path / "sess", group, walking_points(5, 3), node_names=["a", "b", "c"],
                                     edges=[(0, 1), (1, 2)], noise_px=0.1)
    _one_view_only(folder, ["cam1", "cam2", "cam3"], node=2, frame=1)  # c at frame 1: cam0 only
    _one_view_only(folder, ["cam2", "cam3"], node=0, frame=3)  # a at frame 3: cam0 and cam1 only
    _move_label(folder, "cam2", node=1, frame=2, shift=(30.0, 25.0))  # b at frame 2: wrong in cam2
    return folder, group


def _camera_views_open(make_napari_viewer, qtbot, folder):
    """A viewer with the 3D dock: ``folder`` typed in, "camera views" chosen, Triangulate clicked.

    Returns (viewer, dock, messages) with the dock's notifications collected in ``messages``.
    """
    from napari_posetrack._napari.multiview_dock import MultiviewDock

    viewer = make_napari_viewer(show=True)
    dock = MultiviewDock(viewer)
    viewer.window.add_dock_widget(dock, name="3D")
    messages = []
    dock.notify = lambda text, level="info": messages.append((level, text))
    qtbot.keyClicks(dock.session_edit, str(folder))
    dock.mode_combo.setCurrentText("camera views")
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    return viewer, dock, messages


def test_camera_views_edit_a_label_it_is_saved_and_the_other_views_follow(make_napari_viewer, qtbot, tmp_path):
    from labeling_helpers import drag

    from napari_posetrack._napari.multiview_dock import VIEW_LAYER_NAMES, MultiviewDock
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.multiview import epipolar_curve, predict_in_views

    folder, group = _camera_views_session(tmp_path)
    viewer = make_napari_viewer(show=True)
    dock = MultiviewDock(viewer)
    viewer.window.add_dock_widget(dock, name="3D")
    messages = []
    dock.notify = lambda text, level="info": messages.append((level, text))
    qtbot.keyClicks(dock.session_edit, str(folder))
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    dock.mode_combo.setFocus()
    qtbot.keyClick(dock.mode_combo, Qt.Key.Key_Down)
    labels = viewer.layers[VIEW_LAYER_NAMES[0]]
    assert viewer.layers.selection.active is labels and labels.mode == "select"
    assert dock.suspect_list.count() == 1 and not dock.undo_button.isEnabled()
    origin = dock.cell_origin

    # 1. the wrong label (b, frame 2, cam2): drag it onto the ring where the other cameras put it
    viewer.dims.set_point(0, 2)
    j = _row(labels, "cam2", "b", 2)
    reproj = viewer.layers[VIEW_LAYER_NAMES[1]]
    ring = reproj.data[_row(reproj, "cam2", "b", 2), 1:].copy()
    start = labels.data[j, 1:].copy()
    drag(labels, 2, start[::-1], ring[::-1])
    np.testing.assert_allclose(labels.data[j, 1:], ring, atol=1e-6)
    store = folder / "cam2" / "cam2.posetrack.zarr"
    dock.wait_saved()  # the store is created and written in the background
    qtbot.waitUntil(lambda: "saved (" in dock.status_label.text())
    assert store.is_dir()  # in the project store beside cam2.slp
    assert any("saved to a new project store" in t and "cam2.slp is not changed" in t for _, t in messages)
    saved = load_dataset(store)
    row = int(np.flatnonzero(saved.labels.frame_idx == 2)[0])
    np.testing.assert_allclose(saved.labels.points[row, 1], ring[::-1] - origin["cam2"][::-1], atol=1e-3)
    slp = load_dataset(folder / "cam2" / "cam2.slp", check_videos="ignore")
    np.testing.assert_allclose(slp.labels.points[row, 1], start[::-1] - origin["cam2"][::-1], atol=1e-3)
    # the other views follow: no red line, no suspect, the label sits on its reprojection
    assert VIEW_LAYER_NAMES[3] not in viewer.layers and dock.suspect_list.count() == 0
    reproj = viewer.layers[VIEW_LAYER_NAMES[1]]
    assert float(reproj.features["error_px"][_row(reproj, "cam2", "b", 2)]) < 1.0
    assert viewer.layers.selection.active is labels and dock.undo_button.isEnabled()
    assert "Moved 1 label(s); saved (cam2 -> cam2.posetrack.zarr)" in dock.status_label.text()

    # 2. a at frame 3 is labelled in cam0 and cam1 only: moving cam1's label moves the rings in cam2 and cam3
    viewer.dims.set_point(0, 3)
    j = _row(labels, "cam1", "a", 3)
    a0 = labels.data[_row(labels, "cam0", "a", 3), 1:] - origin["cam0"]
    start = labels.data[j, 1:].copy()
    end = start + (-8.0, 12.0)
    before = {c: reproj.data[_row(reproj, c, "a", 3), 1:].copy() for c in ("cam2", "cam3")}
    drag(labels, 3, start[::-1], end[::-1])
    reproj = viewer.layers[VIEW_LAYER_NAMES[1]]
    want = predict_in_views(group, {"cam0": a0[::-1], "cam1": (end - origin["cam1"])[::-1]})
    for c in ("cam2", "cam3"):
        now = reproj.data[_row(reproj, c, "a", 3), 1:]
        assert np.linalg.norm(now - before[c]) > 2.0
        np.testing.assert_allclose(now - origin[c], np.asarray(want[c])[::-1], atol=0.5)
    dock.wait_saved()
    assert (folder / "cam1" / "cam1.posetrack.zarr").is_dir()

    # 3. c at frame 1 is labelled in cam0 only: moving it moves the epipolar curves in the other cameras
    viewer.dims.set_point(0, 1)
    j = _row(labels, "cam0", "c", 1)
    c_start = labels.data[j, 1:].copy()
    end = c_start + (10.0, 15.0)
    old_curve = _curve(viewer, "cam1", "c", 1)
    drag(labels, 1, c_start[::-1], end[::-1])
    new_curve = _curve(viewer, "cam1", "c", 1)
    expect = epipolar_curve(group, "cam0", (end - origin["cam0"])[::-1], "cam1", near=10.0, far=10_000.0, n=48)
    np.testing.assert_allclose(new_curve, expect[:-1, ::-1] + origin["cam1"], atol=1e-3)
    assert old_curve.shape != new_curve.shape or np.abs(old_curve - new_curve).max() > 1.0
    epi = viewer.layers[VIEW_LAYER_NAMES[2]].features
    assert set(epi["camera"][epi["node"] == "c"]) == {"cam1", "cam2", "cam3"}  # (a at frame 3: cam0 <-> cam1)

    # 4. a label dragged out of its camera's picture: refused with a reason, put back, nothing saved
    viewer.dims.set_point(0, 0)
    j = _row(labels, "cam3", "b", 0)
    start = labels.data[j, 1:].copy()
    drag(labels, 0, start[::-1], (origin["cam3"][1] - 25.0, start[0]))
    assert "outside that camera's image (320 x 240 px)" in messages[-1][1] and messages[-1][0] == "error"
    np.testing.assert_allclose(labels.data[j, 1:], start)
    assert not (folder / "cam3" / "cam3.posetrack.zarr").exists()

    # 5. Undo edit: c at frame 1 in cam0 goes back, in the layer, the store and the curves
    qtbot.mouseClick(dock.undo_button, Qt.MouseButton.LeftButton)
    dock.wait_saved()
    j = _row(labels, "cam0", "c", 1)
    np.testing.assert_allclose(labels.data[j, 1:], c_start)
    back = load_dataset(folder / "cam0" / "cam0.posetrack.zarr")
    np.testing.assert_allclose(back.labels.points[int(np.flatnonzero(back.labels.frame_idx == 1)[0]), 2],
                               (c_start - origin["cam0"])[::-1], atol=1e-3)
    np.testing.assert_allclose(_curve(viewer, "cam1", "c", 1), old_curve, atol=1e-3)
    assert "Undid the last edit in cam0" in dock.status_label.text()

    # 6. triangulating again reads the edits: the suspect is gone for good
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert dock.suspect_list.count() == 0
    np.testing.assert_allclose(dock.views.points[2, 2, 0, 1], ring[::-1] - origin["cam2"][::-1], atol=1e-3)
    dock.shutdown()
    assert len(viewer.layers) == 0


def test_proofreading_queue_gets_the_reprojection_signal_of_the_open_session(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.multiview_dock import MultiviewDock
    from napari_posetrack._napari.proofreading_dock import ProofreadingDock
    from napari_posetrack._napari.session import shell_for

    folder, _ = _camera_views_session(tmp_path)
    viewer = make_napari_viewer(show=True)
    shell = shell_for(viewer)
    shell.notify = lambda text, level="info": None
    shell.open(folder / "cam2" / "cam2.slp", show=False)  # proofread one camera of the session
    proof = ProofreadingDock(viewer)
    viewer.window.add_dock_widget(proof, name="Proofreading")
    before = list(proof.queue.reasons) if proof.queue is not None else []
    assert not any("from the other views" in r for r in before)

    dock = MultiviewDock(viewer)
    viewer.window.add_dock_widget(dock, name="3D")
    qtbot.keyClicks(dock.session_edit, str(folder))
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    # the triangulation reached the Proofreading dock: frame 2 (b, 30 x 25 px off in cam2) leads its queue
    assert proof.queue is not None
    assert int(proof.queue.frames[0, 1]) == 2
    assert "b " in proof.queue.reasons[0] and "px from the other views" in proof.queue.reasons[0]
    assert proof.suspects.item(0).text().startswith("frame 2  [")

    # closing the 3D dock withdraws the signal
    dock.shutdown()
    assert proof.queue is None or not any("from the other views" in r for r in proof.queue.reasons)
    proof.shutdown()


def test_first_edit_recomputes_only_its_frame_reads_no_file_and_updates_layers_in_place(make_napari_viewer, qtbot,
                                                                                        tmp_path, monkeypatch):
    """The first camera-view edit of a session: the work it does, not how long it takes.

    Only the edited frame is predicted and triangulated again; the labels read by the
    triangulation are reused (no labels file is read again); the aid layers keep their layer
    objects (data replaced in place, no layer removed or added); the store is created and
    written in the background, after the views are updated.
    """
    from labeling_helpers import drag

    import napari_posetrack.core.io as io_mod
    import napari_posetrack.core.multiview.consistency as consistency
    import napari_posetrack.core.multiview.pipeline as pipeline
    from napari_posetrack._napari.multiview_dock import VIEW_LAYER_NAMES
    from napari_posetrack.core.io import load_dataset

    folder, group = _camera_views_session(tmp_path)
    viewer, dock, _ = _camera_views_open(make_napari_viewer, qtbot, folder)
    assert len(dock.views.frames) == 5
    layers_before = {name: viewer.layers[name] for name in VIEW_LAYER_NAMES if name in viewer.layers}
    assert set(layers_before) == set(VIEW_LAYER_NAMES)  # the wrong label of cam2 has its outlier line

    work = {"triangulated": [], "predicted": [], "read": []}

    def spy(module, name, key, frames_of):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            work[key].append(frames_of(*args))
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    spy(pipeline, "triangulate_views", "triangulated", lambda views, *a: len(views.frames))
    spy(consistency, "predict_views", "predicted", lambda views, *a: len(views.frames))
    spy(io_mod, "load_dataset", "read", lambda path, *a: str(path))
    removed, inserted = [], []
    viewer.layers.events.removed.connect(lambda e: removed.append(e.value.name))
    viewer.layers.events.inserted.connect(lambda e: inserted.append(e.value.name))

    labels = viewer.layers[VIEW_LAYER_NAMES[0]]
    viewer.dims.set_point(0, 3)
    j = _row(labels, "cam1", "a", 3)
    start = labels.data[j, 1:].copy()
    drag(labels, 3, start[::-1], (start + (-8.0, 12.0))[::-1])
    # done in the handler: one frame predicted (leave one camera out) and one triangulated, nothing read
    assert work["predicted"] == [1] and work["triangulated"] == [1]
    assert work["read"] == [] and dock.edits.loaded_from_disk == []
    # the aid layers are the same objects, updated in place; the labels layer was not rebuilt either
    assert removed == [] and inserted == []
    assert all(viewer.layers[name] is layer for name, layer in layers_before.items())
    assert viewer.layers[VIEW_LAYER_NAMES[0]] is labels
    # the write starts after the update: not yet on disk, the status says so, then it is saved
    store = folder / "cam1" / "cam1.posetrack.zarr"
    assert "saving (cam1 -> cam1.posetrack.zarr)" in dock.status_label.text()
    dock.wait_saved()
    qtbot.waitUntil(lambda: "saved (cam1 -> cam1.posetrack.zarr)" in dock.status_label.text())
    assert store.is_dir() and work["read"] == []
    saved = load_dataset(store)
    row = int(np.flatnonzero(saved.labels.frame_idx == 3)[0])
    np.testing.assert_allclose(saved.labels.points[row, 0], (start + (-8.0, 12.0) - dock.cell_origin["cam1"])[::-1],
                               atol=1e-3)
    # a second edit of the same camera: again one frame, still no file read
    viewer.dims.set_point(0, 4)
    j = _row(labels, "cam1", "b", 4)
    start = labels.data[j, 1:].copy()
    drag(labels, 4, start[::-1], (start + (5.0, 5.0))[::-1])
    assert work["predicted"] == [1, 1] and work["triangulated"] == [1, 1] and work["read"] == []
    dock.wait_saved()
    saved = load_dataset(store)
    row = int(np.flatnonzero(saved.labels.frame_idx == 4)[0])
    np.testing.assert_allclose(saved.labels.points[row, 1], (start + (5.0, 5.0) - dock.cell_origin["cam1"])[::-1],
                               atol=1e-3)
    # a triangulation that fails (no such calibration) leaves the views as they were: an edit still
    # works, reading that camera's labels (its store) again
    qtbot.keyClicks(dock.calibration_edit, str(tmp_path / "missing.toml"))
    qtbot.mouseClick(dock.triangulate_button, Qt.MouseButton.LeftButton)
    assert dock.edits is None and viewer.layers[VIEW_LAYER_NAMES[0]] is labels
    drag(labels, 4, (start + (5.0, 5.0))[::-1], (start + (9.0, 5.0))[::-1])
    dock.wait_saved()
    assert dock.edits.loaded_from_disk == ["cam1"]
    saved = load_dataset(store)
    np.testing.assert_allclose(saved.labels.points[row, 1], (start + (9.0, 5.0) - dock.cell_origin["cam1"])[::-1],
                               atol=1e-3)
    dock.shutdown()


def test_an_edit_that_cannot_be_saved_is_refused_and_nothing_is_written(make_napari_viewer, qtbot, tmp_path,
                                                                       monkeypatch):
    from labeling_helpers import drag

    import napari_posetrack._napari.multiview_edits as edits_mod
    from napari_posetrack._napari.multiview_dock import VIEW_LAYER_NAMES

    folder, _ = _camera_views_session(tmp_path)
    viewer, dock, messages = _camera_views_open(make_napari_viewer, qtbot, folder)
    labels = viewer.layers[VIEW_LAYER_NAMES[0]]
    # something else appeared at cam0's store path after the triangulation
    (folder / "cam0" / "cam0.posetrack.zarr").mkdir()
    j = _row(labels, "cam0", "b", 0)
    start = labels.data[j, 1:].copy()
    drag(labels, 0, start[::-1], (start + 6.0)[::-1])
    assert messages[-1][0] == "error" and "Cannot edit camera 'cam0': its edits store" in messages[-1][1]
    assert "is not a napari-posetrack project store" in messages[-1][1] and "Move that folder away" in messages[-1][1]
    np.testing.assert_allclose(labels.data[j, 1:], start)
    # cam1's folder cannot be written
    real_access = edits_mod.os.access
    monkeypatch.setattr(edits_mod.os, "access",
                        lambda p, mode: False if str(p) == str(folder / "cam1") else real_access(p, mode))
    j = _row(labels, "cam1", "b", 0)
    start1 = labels.data[j, 1:].copy()
    drag(labels, 0, start1[::-1], (start1 + 6.0)[::-1])
    assert messages[-1][0] == "error" and "is not writable, so the move was not kept" in messages[-1][1]
    np.testing.assert_allclose(labels.data[j, 1:], start1)
    dock.wait_saved()
    assert not dock.edits.history and not dock.undo_button.isEnabled()
    assert list((folder / "cam0" / "cam0.posetrack.zarr").iterdir()) == []
    assert not (folder / "cam1" / "cam1.posetrack.zarr").exists()
    # the views were not changed by the refused moves
    np.testing.assert_allclose(dock.views.points[0, 0, 0, 1], (start - dock.cell_origin["cam0"])[::-1], atol=1e-6)
    dock.shutdown()
