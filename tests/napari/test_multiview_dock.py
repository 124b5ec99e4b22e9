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
