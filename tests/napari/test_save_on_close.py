"""No edit is lost when the napari window closes, a file-opened session saves, and napari's
File > Save Selected Layers saves the session instead of reverting it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication, QMessageBox

from conftest import shared_file
from labeling_helpers import Messages, click, drag, mouse_store
from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.gui


def _labeling(make_napari_viewer, path):
    from napari_posetrack._napari.labeling_dock import LabelingDock

    viewer = make_napari_viewer(show=True)
    dock = LabelingDock(viewer)
    dock.notify = Messages()
    viewer.window.add_dock_widget(dock, name="Labeling")
    dock.open_project(path)
    return viewer, dock


def _close_window(viewer) -> bool:
    """Close the main window the way its X, Ctrl+W and File > Close do; True if it closed.

    The window deletes itself then; napari's own ``Window.close`` (run again by the test
    fixture) is told so, as it is when a person closes the window."""
    win = viewer.window._qt_window
    win.close()
    if win.isVisible():
        return False
    del viewer.window._qt_window
    return True


def _n_labels(path) -> int:
    from napari_posetrack.core.store import ProjectStore

    with ProjectStore.open(path, mode="r") as st:
        return len(st.labels)


def _answer_dialog(qtbot, button_text: str, seen: list) -> None:
    """Click ``button_text`` in the modal unsaved-edits dialog as soon as it shows."""

    def click_it():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            return False
        seen.append(box.text())
        for b in box.buttons():
            if b.text() == button_text:
                b.click()
                return True
        return False

    from qtpy.QtCore import QTimer

    def poll():
        if not click_it():
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)


def test_closing_the_window_0_2_s_after_a_click_keeps_the_click(make_napari_viewer, qtbot, tmp_path):
    path, _ = mouse_store(tmp_path, n_labels=3)
    viewer, dock = _labeling(make_napari_viewer, path)
    assert dock.shell.autosave and dock.shell.autosave_delay_ms > 200  # the save is not yet due at close
    c = dock.controller
    c.set_frame(40)
    click(c.points, 40, 250, 180)
    assert len(dock._session.dataset.labels) == 4 and dock._session.dirty
    qtbot.wait(200)
    assert _close_window(viewer)
    assert _n_labels(path) == 4  # saved before the window went
    qtbot.wait(1800)  # a late autosave timer must not touch deleted widgets (pytest-qt fails on errors)
    assert _n_labels(path) == 4


def test_autosave_off_close_asks_save_discard_cancel(make_napari_viewer, qtbot, tmp_path):
    path, _ = mouse_store(tmp_path, n_labels=3)
    viewer, dock = _labeling(make_napari_viewer, path)
    shell = dock.shell
    shell.ask_unsaved = shell.unsaved_dialog  # the real message box, answered by clicks
    dock.autosave_check.click()  # untick autosave like a user
    assert not shell.autosave
    c = dock.controller
    c.set_frame(40)
    click(c.points, 40, 250, 180)
    qtbot.wait(1700)
    assert dock._session.dirty and _n_labels(path) == 3  # autosave is off

    seen = []
    _answer_dialog(qtbot, "Cancel", seen)
    assert not _close_window(viewer)
    assert seen and "unsaved edits" in seen[0] and str(path.name) in seen[0]
    assert dock._session.dirty and _n_labels(path) == 3  # Cancel keeps everything, window included

    _answer_dialog(qtbot, "Save", seen)
    assert _close_window(viewer)
    assert len(seen) == 2
    assert _n_labels(path) == 4


def test_autosave_off_discard_leaves_the_store(make_napari_viewer, qtbot, tmp_path):
    path, _ = mouse_store(tmp_path, n_labels=3)
    viewer, dock = _labeling(make_napari_viewer, path)
    dock.autosave_check.setChecked(False)
    asked = []
    dock.shell.ask_unsaved = lambda text: asked.append(text) or "discard"
    c = dock.controller
    c.set_frame(40)
    click(c.points, 40, 250, 180)
    assert _close_window(viewer)
    assert len(asked) == 1 and _n_labels(path) == 3


def _copy_flies(tmp_path):
    for name in ("two_flies.slp", "two_flies.mp4"):
        shutil.copy(shared_file("flies", name), tmp_path / name)
    return tmp_path / "two_flies.slp"


def test_session_opened_from_a_file_says_where_it_saves_and_saves(make_napari_viewer, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    from napari_posetrack._napari.plots_dock import PlotsDock
    from napari_posetrack.core.io import load_dataset

    slp = _copy_flies(tmp_path)
    viewer = make_napari_viewer(show=True)
    plots = PlotsDock(viewer)
    viewer.window.add_dock_widget(plots, name="Plots and export")
    plots.ask_open_path = lambda title: str(slp)
    qtbot.mouseClick(plots.open_button, Qt.MouseButton.LeftButton)
    shell = plots.shell if hasattr(plots, "shell") else None
    from napari_posetrack._napari.session import shell_for

    shell = shell_for(viewer)
    lab = shell.show_labeling()  # opened by the shell: the poses are editable layers over the video
    target = tmp_path / "two_flies.posetrack.zarr"
    assert shell.save_target == target and str(target) in lab.project_label.text()
    assert [lyr.name for lyr in viewer.layers] == ["two_flies.mp4", "skeleton", "keypoints"]
    assert viewer.layers[0].data.shape[0] == 1500 or viewer.layers[0].data.shape[0] > 100

    # drag a point, then Save: the announced store is created with the edit
    shell.autosave = False
    c = lab.controller
    f = int(shell.session.dataset.labels.frame_idx[0])
    c.set_frame(f)
    x0, y0 = shell.session.dataset.labels.points[0, 0]
    drag(c.points, f, (x0, y0), (x0 + 12, y0 + 7))
    assert shell.session.dirty and not target.exists()
    qtbot.mouseClick(lab.save_button, Qt.MouseButton.LeftButton)
    assert target.is_dir() and not shell.session.dirty
    assert "Project: " in lab.project_label.text()
    back = load_dataset(target, check_videos="ignore")
    np.testing.assert_allclose(back.labels.points[0, 0], (x0 + 12, y0 + 7), atol=1e-3)
    assert len(back.labels) == len(load_dataset(slp, check_videos="ignore").labels)
    assert load_dataset(slp, check_videos="ignore").labels.points[0, 0][0] == pytest.approx(x0)  # source untouched


def test_file_session_close_prompts_and_saves(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.session import shell_for
    from napari_posetrack.core.io import load_dataset

    slp = _copy_flies(tmp_path)
    viewer = make_napari_viewer(show=True)
    shell = shell_for(viewer)
    shell.notify = Messages()
    shell.autosave = False
    shell.open(slp)
    assert any("two_flies.posetrack.zarr" in m for _, m in shell.notify)  # announced
    lab = shell.show_labeling()
    c = lab.controller
    c.set_frame(5)
    click(c.points, 5, 30, 40)
    n = len(shell.session.dataset.labels)
    asked = []
    shell.ask_unsaved = lambda text: asked.append(text) or "save"
    assert _close_window(viewer)
    assert len(asked) == 1 and "two_flies.posetrack.zarr" in asked[0]
    assert len(load_dataset(tmp_path / "two_flies.posetrack.zarr", check_videos="ignore").labels) == n


def test_save_selected_layers_saves_the_session_and_never_reverts(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.reader import read_store
    from napari_posetrack.core.store import ProjectStore

    path, _ = mouse_store(tmp_path, n_labels=3)
    stale = read_store(path)  # a copy read before the edit (what the old reader left in the viewer)
    viewer, dock = _labeling(make_napari_viewer, path)
    dock.shell.autosave = False
    c = dock.controller
    c.set_frame(0)
    x0, y0 = dock._session.dataset.labels.points[0, 1]
    drag(c.points, 0, (x0, y0), (x0 + 40, y0 + 40))
    edited = dock._session.dataset.labels.points[0, 1].copy()

    # File > Save Selected Layers with the 2-D keypoints layer selected picks our writer
    viewer.layers.selection = {c.points}
    written = viewer.layers.save(str(path), selected=True, plugin="napari-posetrack")
    assert written == [str(path)] and not dock._session.dirty
    with ProjectStore.open(path, mode="r") as st:
        np.testing.assert_allclose(st.labels.points[0, 1], edited, atol=1e-3)
        assert len(st.labels) == 3

    # a stale labels layer saved over the store saves the open session instead of reverting it
    for data, kw, kind in stale:
        if kind == "points":
            viewer._add_layer_from_data(data, kw, kind)
    old = viewer.layers["labels [m4s1]"]
    viewer.layers.selection = {old}
    viewer.layers.save(str(path), selected=True, plugin="napari-posetrack")
    with ProjectStore.open(path, mode="r") as st:
        np.testing.assert_allclose(st.labels.points[0, 1], edited, atol=1e-3)

    # "save as" a new store through the same writer: a full copy of the session
    copy = tmp_path / "copy.posetrack.zarr"
    viewer.layers.selection = {c.points}
    viewer.layers.save(str(copy), selected=True, plugin="napari-posetrack")
    with ProjectStore.open(copy, mode="r") as st:
        assert len(st.labels) == 3 and len(st.videos) == 1
        np.testing.assert_allclose(st.labels.points[0, 1], edited, atol=1e-3)
