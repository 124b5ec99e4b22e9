"""Training dock: runs in a thread worker while the event loop keeps ticking; Stop keeps the best model."""

import statistics
import time

import torch
from qtpy.QtCore import QTimer

from napari_posetrack._napari.session import set_session
from napari_posetrack._napari.training_dock import TrainingDock
from napari_posetrack.core.session import EditSession
from napari_posetrack.nn.toy import make_toy_dataset

torch.set_num_threads(1)


def _dock(viewer, qtbot, tmp_path, epochs):
    set_session(viewer, EditSession(make_toy_dataset(8, (32, 32))))
    dock = TrainingDock(viewer)
    qtbot.addWidget(dock)
    for name, value in {"model.backbone.filters": 4, "model.backbone.down_blocks": 2, "train.epochs": epochs,
                        "train.batch_size": 4, "train.device": "cpu", "augment.rotation": 5.0}.items():
        dock.set_value(name, value)
    dock.out_edit.setText(str(tmp_path / "model"))
    return dock


def test_training_keeps_event_loop_alive_and_offers_predict(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    dock = _dock(viewer, qtbot, tmp_path, epochs=3)
    assert dock.overrides()["train"]["epochs"] == 3
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    trained = []
    dock.model_trained.connect(trained.append)
    dock.start_btn.click()
    assert not dock.start_btn.isEnabled() and dock.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=120_000)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(gaps) > 20
    assert statistics.median(gaps) < 0.1  # loose: the GUI thread kept processing events
    assert trained == [str(tmp_path / "model")]
    assert len(dock.plot.series["train"]) == 3 and len(dock.plot.series["val"]) == 3
    assert "OKS mAP" in dock.metrics_label.text()
    assert dock.predict_btn.isEnabled() and dock.start_btn.isEnabled()


def test_stop_keeps_best_checkpoint(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    dock = _dock(viewer, qtbot, tmp_path, epochs=500)
    dock.start_btn.click()
    qtbot.waitUntil(lambda: len(dock.plot.series["train"]) >= 1, timeout=120_000)
    dock.stop_btn.click()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert dock.result["stages"]["single"]["stopped"] == "cancelled"
    assert (tmp_path / "model" / "best.safetensors").is_file()
    assert dock.result["stages"]["single"]["epochs_run"] < 500


def test_bad_settings_show_error_not_crash(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    dock = TrainingDock(viewer)
    qtbot.addWidget(dock)
    set_session(viewer, None)
    dock.start_btn.click()  # no labels open: an error message, no exception
    assert "error" in dock.status.text() and dock.worker is None


def test_metrics_without_predictions_say_so_instead_of_nan():
    nan = float("nan")
    m = {"oks_map": 0.0, "oks_mar": 0.0, "oks_sigma": 0.05, "pck": {1: 0.0, 5: 0.0, 10: 0.0},
         "error": {"mean": nan, "median": nan, "p90": nan, "p95": nan},
         "visibility": {"precision": nan, "recall": 0.0}, "n_gt_instances": 4, "n_pred_instances": 0, "n_matched": 0}
    text = TrainingDock.metrics_text(m)
    assert "nan" not in text and "OKS mAP 0.000" in text
    assert "no instance was predicted" in text and "pixel error: none to measure" in text
    m.update(error={"mean": 1.5, "median": 1.0, "p90": 2.0, "p95": 3.0}, n_pred_instances=4, n_matched=4,
             visibility={"precision": 1.0, "recall": 1.0})
    text = TrainingDock.metrics_text(m)
    assert "pixel error mean 1.50" in text and "train longer" not in text


def test_batch_size_learning_rate_and_epochs_show_auto_and_take_typed_values(make_napari_viewer, qtbot, tmp_path):
    """All three default to auto (0), which the form shows as the word; typing a number sets it, and the Settings
    section, opened at 1366x768, fits the window (screenshot: POSETRACK_SCREENSHOT_DIR=docs/images)."""
    import os
    from pathlib import Path

    from qtpy.QtCore import Qt

    viewer = make_napari_viewer(show=True)
    _, dock = viewer.window.add_plugin_dock_widget("napari-posetrack", "Training", tabify=False)
    win = viewer.window._qt_window
    win.showNormal()
    win.resize(1366, 768)
    qtbot.mouseClick(dock.settings_section.toggle, Qt.MouseButton.LeftButton)
    qtbot.wait(200)
    batch, lr = dock.fields["train.batch_size"][0], dock.fields["train.learning_rate"][0]
    epochs = dock.fields["train.epochs"][0]
    assert batch.isVisible() and batch.text() == "auto" and lr.text() == "auto" and epochs.text() == "auto"
    assert dock.overrides()["train"]["batch_size"] == 0 and dock.overrides()["train"]["learning_rate"] == 0.0
    assert dock.overrides()["train"]["epochs"] == 0  # auto: no epoch limit under a time budget, else 100
    docks = viewer.window._wrapped_dock_widgets
    mine = [dw for key, dw in docks.items() if key.startswith("Training")][0]
    others = [dw for dw in docks.values() if dw is not mine and dw.isVisible()]
    for dw in others:
        dw.setVisible(False)
    qtbot.wait(200)
    assert win.height() <= 768 and win.width() <= 1366
    out_dir = Path(os.environ.get("POSETRACK_SCREENSHOT_DIR", tmp_path))
    assert mine.grab().save(str(out_dir / "training_dock_settings.png"))
    batch.setFocus()
    batch.selectAll()
    qtbot.keyClicks(batch, "8")
    lr.setFocus()
    lr.selectAll()
    qtbot.keyClicks(lr, "0.003")
    qtbot.keyClick(lr, Qt.Key.Key_Tab)
    tr = dock.overrides()["train"]
    assert tr["batch_size"] == 8 and abs(tr["learning_rate"] - 0.003) < 1e-9
    batch.selectAll()
    qtbot.keyClicks(batch, "0")  # back to auto
    qtbot.keyClick(batch, Qt.Key.Key_Tab)
    assert batch.value() == 0 and dock.overrides()["train"]["batch_size"] == 0
