"""Another plugin on our layers: napari-animation records key frames of the labeling view and renders them.

Its key frames hold every attribute of every layer, recorded at frames with different numbers
of keypoints, and it sets them all back on the layers while it renders. The keypoints layer
must stay a valid Points layer through that, and nothing it does may become an edit.
"""

from __future__ import annotations

import numpy as np
import pytest

from labeling_helpers import click, mouse_store
from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.gui
napari_animation = pytest.importorskip("napari_animation", reason="napari-animation is in the testing extra")


def test_napari_animation_renders_the_labeling_layers(make_napari_viewer, qtbot, tmp_path):
    from matplotlib.image import imread

    from napari_posetrack._napari.labeling_dock import LabelingDock

    path, _ = mouse_store(tmp_path, n_labels=5)
    viewer = make_napari_viewer(show=True)
    dock = LabelingDock(viewer)
    dock.notify = lambda *a, **k: None
    viewer.window.add_dock_widget(dock)
    dock.open_project(path)
    c = dock.controller
    session = dock._session
    c.set_frame(30)  # two mice here, one at frame 0: key frames with 8 and 4 keypoints
    click(c.points, 30, 200, 150)
    click(c.points, 30, 420, 300)
    assert len(c.points.data) == 8
    session.save()
    before = session.dataset.labels.copy()

    anim = napari_animation.Animation(viewer)
    c.set_frame(0)
    assert len(c.points.data) == 4
    anim.capture_keyframe(steps=2)
    c.set_frame(30)
    anim.capture_keyframe(steps=2)
    c.set_frame(0)
    anim.capture_keyframe(steps=2)
    out = tmp_path / "movie"  # no extension: napari-animation writes one PNG per frame
    anim.animate(str(out), canvas_only=True, fps=10)

    pngs = sorted((tmp_path / "movie").glob("*.png"))
    assert len(pngs) == 5
    shot = imread(pngs[2])  # the key frame at frame 30
    assert shot[..., :3].std() > 0.02  # a picture, not a blank canvas
    # nothing napari-animation set became an edit, and the layer is a consistent Points layer
    assert not session.dirty
    np.testing.assert_array_equal(session.dataset.labels.points, before.points)
    layer = c.points
    n = len(layer.data)
    assert n == int(((before.frame_idx == viewer.dims.current_step[0])[:, None] & (before.state > 0)).sum())
    assert len(layer.symbol) == len(layer.face_color) == len(layer.border_color) == len(layer.features) == n
    assert layer.as_layer_data_tuple()[2] == "points"


def test_outside_writes_to_the_keypoints_layer_are_not_edits(make_napari_viewer, tmp_path):
    from napari_posetrack._napari.labeling_dock import LabelingDock

    path, _ = mouse_store(tmp_path, n_labels=5)
    viewer = make_napari_viewer()
    dock = LabelingDock(viewer)
    dock.notify = lambda *a, **k: None
    viewer.window.add_dock_widget(dock)
    dock.open_project(path)
    layer = dock.controller.points
    session = dock._session
    pts = session.dataset.labels.points.copy()
    layer.data = layer.data + 50  # a script or plugin writes the whole array: napari calls it "every point moved"
    layer.symbol = ["square"] * (len(layer.data) + 3)  # styles for another frame's points
    layer.face_color = np.ones((len(layer.data) + 1, 4))
    assert not session.stack.can_undo and not session.dirty
    np.testing.assert_array_equal(session.dataset.labels.points, pts)
    np.testing.assert_allclose(layer.data[:, ::-1], pts[0], atol=1e-4)  # still the session's frame 0
    layer.face_color = "red"  # one colour for all points is an ordinary Points setting
    assert np.allclose(layer.face_color, [1, 0, 0, 1])
