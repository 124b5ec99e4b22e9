"""Live dock: type a model and a video, Start, see the image, poses and latency, Stop; bad input is explained."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_posetrack.core.skeleton import Skeleton  # noqa: E402

pytestmark = pytest.mark.gui

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])


@pytest.fixture
def assets(tmp_path):
    from napari_posetrack.nn.inference.toy import blob_frames, save_random_checkpoint, write_video

    # 30 s at 25 frames/s: still running when a loaded machine first draws the layers (a 2 s clip had ended by
    # then, and the label already said "Stopped.")
    poses = np.random.default_rng(0).uniform(8, 56, (750, 1, 3, 2))
    video = write_video(tmp_path / "clip.mp4", blob_frames(poses, 64, 64), fps=25)
    model = save_random_checkpoint(tmp_path / "single", "single", SK, head_bias=1.0)
    bottomup = save_random_checkpoint(tmp_path / "bu", "bottomup", SK)
    return model, bottomup, video


def _dock(viewer, qtbot):
    from napari_posetrack._napari.live_dock import LiveDock

    dock = LiveDock(viewer)
    messages = []
    dock.notify = lambda text, level="info": messages.append((level, text))
    viewer.window.add_dock_widget(dock, name="Live")
    return dock, messages


def test_start_shows_live_poses_and_latency_then_stop(make_napari_viewer, qtbot, assets):
    from qtpy.QtCore import QTimer, Qt

    from napari_posetrack._napari.live_dock import IMAGE_LAYER, POSE_LAYER

    model, _, video = assets
    viewer = make_napari_viewer(show=True)
    dock, messages = _dock(viewer, qtbot)
    qtbot.keyClicks(dock.model_edit, str(model))
    qtbot.keyClicks(dock.source_edit, str(video))
    assert dock.realtime_check.isChecked()
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)
    qtbot.mouseClick(dock.start_button, Qt.MouseButton.LeftButton)
    probe.start()
    assert not messages, messages
    qtbot.waitUntil(lambda: IMAGE_LAYER in viewer.layers and POSE_LAYER in viewer.layers, timeout=90000)
    qtbot.waitUntil(lambda: "latency p50" in dock.stats_label.text(), timeout=90000)
    assert re.search(r"CPU threads (\d+ \(auto\)|\d+)$", dock.stats_label.text()), dock.stats_label.text()
    assert not dock.start_button.isEnabled() and dock.stop_button.isEnabled()
    img = viewer.layers[IMAGE_LAYER].data
    assert img.shape == (64, 64) and len(viewer.layers[POSE_LAYER].data) == 3
    qtbot.wait(300)
    probe.stop()
    assert np.median(gaps) < 0.25  # the event loop keeps running while the model does (loose: shared CPU)
    qtbot.mouseClick(dock.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.stats_label.text().startswith("Stopped."), timeout=30000)
    assert "p99" in dock.stats_label.text() and "dropped" in dock.stats_label.text()
    assert dock.start_button.isEnabled() and not dock.running
    dock.shutdown()
    assert IMAGE_LAYER not in viewer.layers and POSE_LAYER not in viewer.layers


def test_bad_input_is_shown_and_nothing_starts(make_napari_viewer, qtbot, assets, tmp_path):
    from qtpy.QtCore import Qt

    model, bottomup, video = assets
    viewer = make_napari_viewer(show=True)
    dock, messages = _dock(viewer, qtbot)
    qtbot.mouseClick(dock.start_button, Qt.MouseButton.LeftButton)
    assert messages[-1][0] == "error" and "Pick a model folder and a source" in messages[-1][1]
    qtbot.keyClicks(dock.model_edit, str(bottomup))
    qtbot.keyClicks(dock.source_edit, str(video))
    qtbot.mouseClick(dock.start_button, Qt.MouseButton.LeftButton)
    assert "supports ['single', 'topdown']" in messages[-1][1]
    dock.model_edit.clear()
    qtbot.keyClicks(dock.model_edit, str(model))
    dock.source_edit.clear()
    qtbot.keyClicks(dock.source_edit, str(tmp_path / "gone.mp4"))
    qtbot.mouseClick(dock.start_button, Qt.MouseButton.LeftButton)
    assert "gone.mp4: the file does not exist" in messages[-1][1]
    assert dock.session is None and dock.start_button.isEnabled() and len(viewer.layers) == 0
