"""Labeling dock, driven like a person: clicks, drags, keys, undo/redo, save, reopen."""

from __future__ import annotations

import numpy as np
import pytest

from labeling_helpers import Messages, click, drag, fly_store, mouse_store, press
from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)
from napari_posetrack.core.posetable import OCCLUDED, UNLABELED, VISIBLE

pytestmark = pytest.mark.gui


def open_dock(make_napari_viewer, path, **kw):
    from napari_posetrack._napari.labeling_dock import LabelingDock

    viewer = make_napari_viewer(**kw)
    dock = LabelingDock(viewer)
    msgs = Messages()
    dock.notify = msgs
    viewer.window.add_dock_widget(dock)
    dock.open_project(path)
    return viewer, dock, msgs


def close_store(dock):
    dock.save()
    dock._session.store.close()


def test_mouse_project_click_drag_keys_undo_save_reopen(make_napari_viewer, tmp_path):
    path, ds = mouse_store(tmp_path, n_labels=20)
    viewer, dock, msgs = open_dock(make_napari_viewer, path)
    c = dock.controller
    names = [layer.name for layer in viewer.layers]
    assert names[-2:] == ["skeleton", "keypoints"] and viewer.layers[0].data.shape[0] == 116
    # only the current frame's points are in the layer
    assert len(c.points.data) == 4
    np.testing.assert_allclose(c.points.data[:, ::-1], ds.labels.points[0], atol=1e-4)

    c.set_frame(30)  # unlabeled frame
    assert len(c.points.data) == 0
    click(c.points, 30, 200, 150)
    lab = dock._session.dataset.labels
    assert len(lab) == 21 and lab.frame_idx[-1] == 30
    assert np.allclose(lab.points[-1].mean(0), (200, 150), atol=0.5)
    assert len(c.points.data) == 4 and len(c.edges.data) == 0  # DLC mouse has no edges

    # drag node 2 of the new instance
    x0, y0 = lab.points[-1, 2]
    drag(c.points, 30, (x0, y0), (x0 + 25, y0 - 10))
    lab = dock._session.dataset.labels
    np.testing.assert_allclose(lab.points[-1, 2], (x0 + 25, y0 - 10), atol=1e-3)
    assert lab.state[-1, 2] == VISIBLE

    # the dragged node is the current one: O toggles occluded, undo/redo by keys
    press(viewer, "O")
    assert dock._session.dataset.labels.state[-1, 2] == OCCLUDED
    press(viewer, "Control-Z")
    assert dock._session.dataset.labels.state[-1, 2] == VISIBLE
    press(viewer, "Control-Shift-Z")
    assert dock._session.dataset.labels.state[-1, 2] == OCCLUDED
    # occluded is drawn hollow
    i = int(np.flatnonzero((c._row == 20) & (c._node == 2))[0])
    assert c.points.face_color[i, 3] == 0

    # select node 4 by number and delete it
    press(viewer, "4")
    press(viewer, "Delete")
    assert dock._session.dataset.labels.state[-1, 3] == UNLABELED
    # frame keys
    press(viewer, "Right")
    assert c.frame == 31
    press(viewer, "Shift-Left")
    assert c.frame == 21
    # a click outside the image is refused with a message, nothing changes
    before = dock._session.dataset.labels.copy()
    click(c.points, 21, 900, 100)
    assert any("outside the image" in m for m in msgs.errors())
    assert dock._session.dataset.labels.equals(before)

    final = dock._session.dataset.labels.copy()
    close_store(dock)
    viewer.close()

    viewer2, dock2, _ = open_dock(make_napari_viewer, path)
    again = dock2._session.dataset.labels
    assert again.equals(final)  # every coordinate and state survived
    dock2.controller.set_frame(30)
    assert len(dock2.controller.points.data) == 3  # node 4 deleted
    close_store(dock2)


def test_flies_node_by_node_tracks_copy_and_suggestions(make_napari_viewer, tmp_path):
    path, ds = fly_store(tmp_path)
    viewer, dock, msgs = open_dock(make_napari_viewer, path)
    c = dock.controller
    s = dock._session
    assert len(c.points.data) == int((ds.labels.for_frame(0).state > 0).sum())
    assert len(c.edges.data) > 0

    # the edges follow a node while it is dragged (before the mouse is released)
    from labeling_helpers import (mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks,
                                  read_only_mouse_event)

    i = int(np.flatnonzero((c._row == c._row[0]) & (c._node == 1))[0])  # thorax: it has edges
    y0, x0 = c.points.data[i]
    ev = dict(button=1, dims_displayed=[1, 2])
    mouse_press_callbacks(c.points, read_only_mouse_event(type="mouse_press", position=(0, y0, x0), **ev))
    for k in range(1, 4):
        mouse_move_callbacks(c.points, read_only_mouse_event(type="mouse_move", is_dragging=True,
                                                             position=(0, y0 + 10 * k, x0 + 10 * k), **ev))
    starts = c.edges.data[:, 0]
    ends = c.edges.data[:, 0] + c.edges.data[:, 1]
    moved = np.vstack([starts, ends])
    assert np.any(np.all(np.abs(moved - (y0 + 30, x0 + 30)) < 1e-3, axis=1))  # edges on the dragged node
    assert s.dataset.labels.points[c._row[i], 1, 0] == pytest.approx(x0)  # not committed yet
    mouse_release_callbacks(c.points, read_only_mouse_event(type="mouse_release", position=(0, y0 + 30, x0 + 30), **ev))
    assert s.dataset.labels.points[c._row[i], 1].tolist() == pytest.approx([x0 + 30, y0 + 30])
    press(viewer, "Control-Z")

    # node by node on a frame (delete its instances first with Shift+Delete)
    c.set_frame(5)
    n0 = len(s.dataset.labels)
    for _ in range(2):
        c.points.selected_data = {0}
        press(viewer, "Shift-Delete")
    assert len(s.dataset.labels) == n0 - 2 and len(c.points.data) == 0
    dock.click_combo.setCurrentIndex(1)  # node by node
    for k in range(3):
        click(c.points, 5, 100 + 10 * k, 200)
    row = s.dataset.labels.for_frame(5)
    assert len(row) == 1 and (row.state[0, :3] == VISIBLE).all() and (row.state[0, 3:] == UNLABELED).all()
    np.testing.assert_allclose(row.points[0, :3], [[100, 200], [110, 200], [120, 200]])
    assert c.current_node == 3  # auto-advanced

    # track by Ctrl+2 on the selected instance
    c.points.selected_data = {0}
    press(viewer, "Control-2")
    assert s.dataset.labels.for_frame(5).track_id.tolist() == [1]

    # copy the previous labeled frame's instances with C
    c.set_frame(60)
    rows = np.flatnonzero(s.dataset.labels.frame_idx == 60)
    before = len(s.dataset.labels)
    press(viewer, "C")
    assert len(s.dataset.labels) == before + len(s.dataset.labels.for_frame(59)) - 0
    press(viewer, "Control-Z")
    assert len(s.dataset.labels) == before and np.array_equal(rows, np.flatnonzero(s.dataset.labels.frame_idx == 60))

    # suggestions: uniform in a range (worker), N jumps to the next unlabeled one
    s.push(__import__("napari_posetrack.core.labeling", fromlist=["x"]).DeleteInstances(
        np.flatnonzero(s.dataset.labels.frame_idx == 40)))
    dock.method_combo.setCurrentText("uniform")
    dock.n_spin.setValue(4)
    dock.range_edit.setText("0:80")
    dock.suggest()
    from qtpy.QtCore import QCoreApplication

    for _ in range(200):
        QCoreApplication.processEvents()
        if len(s.dataset.suggestions):
            break
        __import__("time").sleep(0.02)
    assert s.dataset.suggestions[:, 1].tolist() == [10, 30, 50, 70]
    assert dock.suggestion_list.count() == 4
    s.push(__import__("napari_posetrack.core.labeling", fromlist=["x"]).SetSuggestions([[0, 10], [0, 40], [0, 70]]))
    c.set_frame(0)
    press(viewer, "N")
    assert c.frame == 40  # 10 is labeled, 40 is not
    assert "2/3 suggested done" in dock.progress_label.text()
    dock._suggestion_clicked(dock.suggestion_list.item(2))
    assert c.frame == 70

    # label QC from the dock: outlier frames join the suggestions
    from napari_posetrack.core.qc import outlier_suggestions

    expected = {tuple(r) for r in outlier_suggestions(s.dataset)}
    n = dock.flag_outliers()
    assert n == len(expected) and expected <= {tuple(r) for r in s.dataset.suggestions}

    # predictions: styled apart; dragging one makes it a user label (one undo step); Enter accepts

    lab100 = s.dataset.labels.for_frame(100)
    s.dataset.predictions = lab100.with_columns(source=np.ones(len(lab100), np.uint8),
                                                 score=np.full(lab100.score.shape, 0.8, np.float32))
    s.push(__import__("napari_posetrack.core.labeling", fromlist=["x"]).DeleteInstances(
        np.flatnonzero(s.dataset.labels.frame_idx == 100)))
    c.set_frame(100)
    assert set(c.points.symbol[c._src == 1]) == {"diamond"} and (c._src == 1).all()
    n_lab = len(s.dataset.labels)
    y, x = c.points.data[0]
    drag(c.points, 100, (x, y), (x + 5, y + 5))
    assert len(s.dataset.labels) == n_lab + 1 and len(s.dataset.predictions) == len(lab100) - 1
    press(viewer, "Control-Z")  # one step undoes accept + move
    assert len(s.dataset.labels) == n_lab and len(s.dataset.predictions) == len(lab100)
    c.points.selected_data = set()
    press(viewer, "Enter")
    assert len(s.dataset.predictions) == 0 and len(s.dataset.labels.for_frame(100)) == len(lab100)
    close_store(dock)


def test_bad_input_readonly_no_skeleton_missing_video(make_napari_viewer, tmp_path):
    from napari_posetrack.core.store import ProjectStore

    # read-only store: edits refused with a message, nothing changes
    path, ds = mouse_store(tmp_path, n_labels=5)
    viewer, dock, msgs = open_dock(make_napari_viewer, path)
    dock._session.store.close()
    dock._session.store = ProjectStore.open(path, mode="r")
    before = dock._session.dataset.labels.copy()
    click(dock.controller.points, 50, 100, 100)
    assert any("read-only" in m for m in msgs.errors())
    assert dock._session.dataset.labels.equals(before)
    dock._session.store.close()

    # labeling before a skeleton exists
    sub = tmp_path / "b"
    sub.mkdir()
    vpath, _ = fly_store(sub, copy_video=True, with_labels=False)
    from napari_posetrack._napari.labeling_dock import LabelingDock

    viewer2 = make_napari_viewer()
    dock2 = LabelingDock(viewer2)
    dock2.notify = msgs2 = Messages()
    video = sub / "two_flies.mp4"
    dock2.new_project(tmp_path / "empty.posetrack.zarr", [str(video)])
    click(dock2.controller.points, 0, 50, 50)
    assert any("no skeleton nodes" in m for m in msgs2.errors())
    assert len(dock2._session.dataset.labels) == 0
    assert "No skeleton yet" in dock2.node_label.text()

    # the video disappears while open: a warning, labels still editable and saved
    from napari_posetrack.core.labeling import add_node

    dock2._session.push(add_node(dock2._session.dataset.skeleton, "head"))
    video.unlink()
    dock2.controller.set_frame(3)
    assert any("missing" in m for lvl, m in msgs2 if lvl == "warning")
    click(dock2.controller.points, 3, 60, 70)
    assert len(dock2._session.dataset.labels) == 1
    assert dock2.save()
    dock2._session.store.close()
    with ProjectStore.open(tmp_path / "empty.posetrack.zarr", mode="r") as st:
        assert len(st.labels) == 1 and st.skeleton.node_names == ["head"]


def test_autosave_within_two_seconds(make_napari_viewer, tmp_path, qtbot):
    from napari_posetrack.core.store import ProjectStore

    path, ds = mouse_store(tmp_path, n_labels=3)
    viewer, dock, msgs = open_dock(make_napari_viewer, path)
    c = dock.controller
    c.set_frame(50)
    click(c.points, 50, 300, 200)
    assert dock._session.dirty
    qtbot.waitUntil(lambda: not dock._session.dirty, timeout=2500)
    assert dock.status_label.text() == "saved"
    # a real Qt key press on the canvas reaches our bindings
    from qtpy.QtCore import Qt

    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_Right)
    assert c.frame == 51
    # check labels through its button: one PNG per labeled frame in the folder the user chose, by a
    # worker thread; nothing appears in the project's folder
    before = set(path.parent.iterdir())
    dock.ask_check_dir = lambda: None  # the folder dialog cancelled: nothing written
    qtbot.mouseClick(dock.check_button, Qt.MouseButton.LeftButton)
    assert dock._worker is None and set(path.parent.iterdir()) == before
    out = tmp_path / "chosen" / "qc"
    dock.ask_check_dir = lambda: str(out)
    qtbot.mouseClick(dock.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(list(out.glob("*.png"))) == 4 and dock._worker is None, timeout=120_000)
    assert set(path.parent.iterdir()) == before | {tmp_path / "chosen"}
    # another reader sees the autosaved label
    dock._session.store.close()
    with ProjectStore.open(path, mode="r") as st:
        assert len(st.labels) == 4 and st.labels.frame_idx[-1] == 50


AUTOSAVER_SCRIPT = r"""
import sys, numpy as np
from qtpy.QtCore import QCoreApplication, QTimer
from napari_posetrack.core.store import ProjectStore
from napari_posetrack.core.session import EditSession
from napari_posetrack.core.labeling import MoveNodes
from napari_posetrack._napari.autosave import Autosaver

app = QCoreApplication([])
session = EditSession.from_store(ProjectStore.open(sys.argv[1]))
saver = Autosaver(session, delay_ms=20,
                  on_status=lambda s: print(s, session.dataset.labels.points[0, 0, 0], flush=True))
i = [0]
def edit():
    i[0] += 1
    session.push(MoveNodes([0, 1, 2], [0, 0, 0], np.full((3, 2), float(i[0]))))
timer = QTimer(); timer.timeout.connect(edit); timer.start(5)
app.exec()
"""


def test_killed_autosave_leaves_readable_store(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from napari_posetrack.core.store import ProjectStore

    path, ds = mouse_store(tmp_path, n_labels=3)
    script = tmp_path / "autosaver.py"
    script.write_text(AUTOSAVER_SCRIPT)
    rng = np.random.default_rng(0)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for _attempt in range(2):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        saved = []
        try:
            while len(saved) < 3:
                line = proc.stdout.readline()
                if not line:
                    break
                if line.startswith("saved"):
                    saved.append(float(line.split()[-1]))
            time.sleep(float(rng.uniform(0, 0.05)))  # land somewhere inside the next saves
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
        assert len(saved) == 3, proc.stderr.read()
        with ProjectStore.open(path, mode="r+") as st:  # the dead writer's lock is stale: reopen works
            lab = st.labels
        v = lab.points[:3, 0, 0]
        assert np.all(v == v[0]), "a save was half-written"  # the three nodes were always moved together
        assert v[0] >= saved[-1]  # nothing acknowledged as saved was lost
        np.testing.assert_array_equal(lab.points[:, 1:], ds.labels.points[:3, 1:])


def test_reader_opens_the_store_as_the_editable_session(make_napari_viewer, tmp_path):
    from napari_posetrack._napari.labeling_dock import LabelingDock

    path, ds = mouse_store(tmp_path, n_labels=4)
    viewer = make_napari_viewer()
    dock = LabelingDock(viewer)
    viewer.window.add_dock_widget(dock)
    viewer.open(str(path), plugin="napari-posetrack")
    assert dock._session is not None and dock._session.dataset.labels.equals(ds.labels)
    # one copy of each layer, all editable or ours: no stale static "labels [...]" copy under them
    assert [lyr.name for lyr in viewer.layers] == ["m4s1", "skeleton", "keypoints"]
    dock.controller.set_frame(0)
    assert len(dock.controller.points.data) == 4
    # removing our layer by hand loses nothing; choosing the video shows the labels again
    dock.notify = msgs = Messages()
    viewer.layers.remove(dock.controller.points)
    assert dock.controller is None and "labels are safe" in msgs[-1][1]
    assert "skeleton" not in [lyr.name for lyr in viewer.layers]
    dock.show_video(0)
    assert len(dock.controller.points.data) == 4
    dock._session.store.close()
