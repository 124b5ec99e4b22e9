"""The plots dock: plots of the session, save plots, export, labeled video in a worker."""

from __future__ import annotations

from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

import av
import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_posetrack.core.plots import PLOTS
from napari_posetrack.core.session import EditSession
from napari_posetrack.core.synthetic import make_synthetic_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = make_synthetic_clip(tmp_path_factory.mktemp("clip"), n_frames=24, n_animals=2, size=(128, 160))
    ds = out["dataset"]
    # pretend the ground truth is a prediction set (tracked, scored)
    ds.predictions = ds.labels.with_columns(source=np.ones(len(ds.labels), np.uint8),
                                            score=np.full(ds.labels.score.shape, 0.9, np.float32))
    return out


def test_plots_dock_plots_exports_and_renders(make_napari_viewer, qtbot, clip, tmp_path):
    from napari_posetrack._napari.plots_dock import PlotsDock
    from napari_posetrack._napari.session import set_session

    viewer = make_napari_viewer(show=True)
    dock = PlotsDock(viewer)
    viewer.window.add_dock_widget(dock, name="Plots and export")
    assert not dock.export_button.isEnabled()  # nothing to export before a session
    ds = clip["dataset"]
    set_session(viewer, EditSession(ds))
    assert dock.session is not None and dock.export_button.isEnabled()
    assert "predictions in video 0" in dock.status_label.text()
    # every plot kind draws axes with data
    for i, kind in enumerate(PLOTS):
        dock.kind_combo.setCurrentIndex(i)
        assert dock.kind_combo.currentData() == kind
        assert dock.figure.axes and any(ax.lines or ax.patches for ax in dock.figure.axes), kind
    # an edit elsewhere marks the plot stale until Refresh
    dock._session_changed("do", None)
    assert dock.stale and "Refresh" in dock.status_label.text()
    qtbot.mouseClick(dock.refresh_button, Qt.MouseButton.LeftButton)
    assert not dock.stale

    # save plots through the button (folder dialog replaced)
    dock.ask_dir = lambda title: str(tmp_path / "plots")
    qtbot.mouseClick(dock.save_plots_button, Qt.MouseButton.LeftButton)
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {f"video0_{k}.png" for k in PLOTS} | {
        "video0_skeleton_features.csv"}
    # export through the button: the chosen filter decides the format (several share .csv / .h5)
    from napari_posetrack.core.io import FORMATS, detect_format, load_dataset

    filters = {name: f for f, name, _ in dock.export_filters()}
    dock.ask_export_path = lambda title, filt: (str(tmp_path / "export.slp"), filters["slp"])
    qtbot.mouseClick(dock.export_button, Qt.MouseButton.LeftButton)
    back = load_dataset(tmp_path / "export.slp", check_videos="ignore")
    assert len(back.predictions) == len(ds.predictions)
    for name, stem in (("dlc-pred-csv", "dlc_predictions"), ("csv", "flat"), ("analysis", "analysis")):
        if name not in filters:
            continue
        dock.ask_export_path = lambda title, filt, n=name, st=stem: (str(tmp_path / st), filters[n])
        qtbot.mouseClick(dock.export_button, Qt.MouseButton.LeftButton)
        out = tmp_path / (stem + FORMATS[name].extension)
        assert out.exists(), (name, dock.status_label.text())
        assert detect_format(out).name == name

    # labeled video in a worker, with progress
    out = tmp_path / "labeled.mp4"
    dock.ask_save_path = lambda title, filt: str(out)
    dock.trail_spin.setValue(3)
    qtbot.mouseClick(dock.render_button, Qt.MouseButton.LeftButton)
    assert dock._worker is not None and not dock.render_button.isEnabled()
    qtbot.waitUntil(lambda: dock._worker is None, timeout=60_000)
    assert out.exists() and "Wrote" in dock.status_label.text()
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 24 and frames[0].shape == (128, 160, 3)
    assert dock.progress.value() == dock.progress.maximum()

    # a frame range, typed in the dock: only those frames are written
    dock.render_section.toggle.click()
    qtbot.keyClicks(dock.frames_edit, "5:12")
    part = tmp_path / "part.mp4"
    dock.ask_save_path = lambda title, filt: str(part)
    qtbot.mouseClick(dock.render_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock._worker is None, timeout=60_000)
    with av.open(str(part)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 7
    # a range outside the video is refused with what to type instead; nothing starts
    said = []
    dock.notify = lambda msg, level="info": said.append((level, msg))
    dock.frames_edit.setText("30:40")
    dock.ask_save_path = lambda title, filt: str(tmp_path / "none.mp4")
    qtbot.mouseClick(dock.render_button, Qt.MouseButton.LeftButton)
    assert dock._worker is None and not (tmp_path / "none.mp4").exists()
    assert said and said[-1][0] == "error" and "24 frames" in said[-1][1] and "START:STOP" in said[-1][1]


def test_plots_dock_reports_errors_without_raising(make_napari_viewer, qtbot, clip, tmp_path, monkeypatch):
    from napari_posetrack._napari import plots_dock
    from napari_posetrack._napari.session import set_session

    messages = []
    viewer = make_napari_viewer()
    dock = plots_dock.PlotsDock(viewer)
    dock.notify = lambda msg, level="info": messages.append((level, msg))
    qtbot.addWidget(dock)
    set_session(viewer, EditSession(clip["dataset"]))
    dock.ask_export_path = lambda title, filt: (str(tmp_path / "out.unknownformat"), "")
    qtbot.mouseClick(dock.export_button, Qt.MouseButton.LeftButton)
    assert messages and messages[-1][0] == "error" and "slp" in messages[-1][1]
