"""Identity models in the docks: Training offers topdown-id, Inference shows who each instance is, Proofreading
marks on the timeline where the identity model and the track disagree. Screenshots at 1366x768 (set
POSETRACK_SCREENSHOT_DIR=docs/images to refresh the documentation's)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt

from labeling_helpers import fly_store, mouse_store
from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

pytestmark = pytest.mark.gui


def _screen(viewer, qtbot, dock_name, tmp_path, file_name):
    """Show the window at 1366x768 and save a grab of the dock ``dock_name``; returns the image size."""
    win = viewer.window._qt_window
    win.showNormal()
    win.resize(1366, 768)
    qtbot.wait(200)
    docks = viewer.window._wrapped_dock_widgets
    found = [dw for key, dw in docks.items() if key.split(" (")[0] == dock_name]
    assert len(found) == 1, list(docks)
    others = [dw for dw in docks.values() if dw is not found[0] and dw.isVisible()]
    for dw in others:  # the dock on its own, the full height of the window
        dw.setVisible(False)
    qtbot.wait(200)
    out_dir = Path(os.environ.get("POSETRACK_SCREENSHOT_DIR", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = found[0].grab()
    assert shot.save(str(out_dir / file_name))
    assert win.height() <= 768 and win.width() <= 1366
    for dw in others:
        dw.setVisible(True)
    return shot.width(), shot.height()


def test_training_dock_offers_identity_models_and_refuses_labels_without_names(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.session import shell_for

    path, _ = mouse_store(tmp_path, n_labels=6)  # the mouse labels have no track names
    viewer = make_napari_viewer(show=True)
    _, dock = viewer.window.add_plugin_dock_widget("napari-posetrack", "Training", tabify=False)
    shell_for(viewer).open(path)
    kinds = [dock.kind_combo.itemText(i) for i in range(dock.kind_combo.count())]
    assert "topdown-id" in kinds and "bottomup-id" in kinds
    i = kinds.index("topdown-id")
    assert "identity" in dock.kind_combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    assert "class map" in dock.kind_combo.itemData(kinds.index("bottomup-id"), Qt.ItemDataRole.ToolTipRole)
    dock.kind_combo.setFocus()
    for _ in range(len(kinds)):  # the keyboard walks the list, as a person does
        if dock.kind_combo.currentText() == "topdown-id":
            break
        qtbot.keyClick(dock.kind_combo, Qt.Key.Key_Down)
    assert dock.kind_combo.currentText() == "topdown-id"
    dock.out_edit.setText(str(tmp_path / "models" / "mouse-id"))
    qtbot.mouseClick(dock.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "no track names" in dock.status.text(), timeout=300_000)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert not (tmp_path / "models" / "mouse-id").exists()  # nothing written
    w, h = _screen(viewer, qtbot, "Training", tmp_path, "training_dock_identity.png")
    assert h <= 768 and w > 150
    shell_for(viewer).session.store.close()


def _identity_model(path, classes=("F", "M"), favour=0):
    """A random-init topdown-id model directory (heads biased so that the centroid and crop models fire; the
    identity head leans to class ``favour``)."""
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.inference.toy import save_random_checkpoint

    sk = Skeleton.from_names(["head", "thorax", "tail"], [("head", "thorax"), ("thorax", "tail")])
    return save_random_checkpoint(path, "topdown", sk, crop_size=32, head_bias=1.0, identity_classes=classes,
                                  favour=favour), sk


def test_inference_dock_shows_the_identity_of_each_instance(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.inference_dock import InferenceDock
    from napari_posetrack._napari.labeling_dock import LabelingDock
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.nn.inference.toy import blob_frames, write_video

    model, sk = _identity_model(tmp_path / "model")
    rng = np.random.default_rng(0)
    poses = np.stack([rng.uniform(10, 40, (6, 3, 2)), rng.uniform(60, 90, (6, 3, 2))], 1)
    video = write_video(tmp_path / "clip.mp4", blob_frames(poses, 64, 96))
    store = ProjectStore.create(tmp_path / "p.posetrack.zarr", sk, videos=[str(video)])
    store.close()
    viewer = make_napari_viewer(show=True)
    lab = LabelingDock(viewer)
    lab.notify = lambda *a, **k: None
    viewer.window.add_dock_widget(lab, name="Labeling")
    lab.open_project(store.path)
    dock = InferenceDock(viewer)
    viewer.window.add_dock_widget(dock, name="Inference")
    session = dock.session
    dock.set_model_dir(model)
    assert not dock.identity_label.isVisible()
    viewer.dims.set_current_step(0, 2)
    dock.target_combo.setCurrentText("current frame")
    qtbot.mouseClick(dock.predict_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock._worker is None, timeout=300_000)
    pred = session.dataset.predictions
    assert len(pred) >= 1 and set(pred.frame_idx.tolist()) == {2}
    # the project had no tracks: they are now the model's classes, and every instance has its probabilities
    assert session.dataset.track_names == ["F", "M"]
    assert pred.identity_probs.shape == (len(pred), 2)
    np.testing.assert_allclose(pred.identity_probs.sum(1), 1.0, atol=1e-5)
    assert len(set(pred.track_id.tolist())) == len(pred)  # no two instances share a class
    text = dock.identity_label.text()
    assert dock.identity_label.isVisible() and "Identity, frame 2" in text
    for r in range(len(pred)):
        name = ["F", "M"][pred.track_id[r]]
        assert f"{name} {pred.identity_probs[r, pred.track_id[r]]:.2f}" in text
    w, h = _screen(viewer, qtbot, "Inference", tmp_path, "inference_dock_identity.png")
    assert h <= 768
    viewer.dims.set_current_step(0, 3)  # a frame without predictions: nothing to show
    assert not dock.identity_label.isVisible()
    viewer.dims.set_current_step(0, 2)
    assert dock.identity_label.isVisible()
    session.undo()  # one step: the predictions and the track names
    assert len(session.dataset.predictions) == 0 and session.dataset.track_names == []
    assert not dock.identity_label.isVisible()
    session.store.close()


@pytest.fixture
def flies_with_identity(tmp_path):
    """two_flies (real video): the labels as predictions named F/M, with identity probabilities that agree
    with the tracks except on frames 40-42, where the appearance confidently says the two are swapped."""
    from napari_posetrack.core.posetable import PREDICTED
    from napari_posetrack.core.store import ProjectStore

    path, ds = fly_store(tmp_path, with_labels=False)
    lab = ds.labels
    p_own = np.full(len(lab), 0.95)
    swapped = (lab.frame_idx >= 40) & (lab.frame_idx <= 42)
    p_own[swapped] = 0.03
    probs = np.zeros((len(lab), 2), np.float32)
    probs[np.arange(len(lab)), lab.track_id] = p_own
    probs[np.arange(len(lab)), 1 - lab.track_id] = 1 - p_own
    pred = lab.with_columns(source=np.full(len(lab), PREDICTED), identity_probs=probs,
                            instance_score=np.ones(len(lab)), score=np.ones(lab.score.shape))
    st = ProjectStore.open(path)
    st.save(predictions=pred, track_names=ds.track_names)
    st.close()
    return path, ds, swapped


def test_proofreading_timeline_marks_identity_disagreements(make_napari_viewer, qtbot, tmp_path,
                                                            flies_with_identity):
    from napari_posetrack._napari.proofreading_dock import ProofreadingDock

    path, ds, swapped = flies_with_identity
    assert ds.track_names == ["F", "M"]
    viewer = make_napari_viewer(show=True)
    dock = ProofreadingDock(viewer)
    dock.notify = lambda *a, **k: None
    viewer.window.add_dock_widget(dock, name="Proofreading")
    dock.open_path(path)
    marks = dock.timeline.identity_marks
    assert sorted(set(marks[:, 0].tolist())) == [40, 41, 42] and set(marks[:, 1].tolist()) == {0, 1}
    items = [dock.suspects.item(i).text() for i in range(dock.suspects.count())]
    # the reason names the animals: the class the model says and the track's name, not their numbers
    said = [re.search(r"identity model says '(\w+)' \(\d\.\d\d\), track '(\w+)'", t) for t in items]
    assert any(m and {m.group(1), m.group(2)} == {"F", "M"} for m in said), items
    assert dock.identity_weight.isEnabled()
    # a click on a mark in the timeline goes to that frame
    tl = dock.timeline
    x = int(tl.frame_to_x(41.5))
    qtbot.mouseClick(tl, Qt.MouseButton.LeftButton, pos=QPoint(x, int(tl.lane_center(0))))
    assert dock.current_frame() == 41
    w, h = _screen(viewer, qtbot, "Proofreading", tmp_path, "proofreading_dock_identity.png")
    assert h <= 768
    # re-track with the identity weight: the tracks stay the named animals; where the appearance is that sure
    # (p = 0.97) it overrules the tracklets, so track and appearance agree again and the marks are gone
    dock.tracker.setCurrentText("simple")
    dock.max_tracks.setValue(2)
    dock.identity_weight.setValue(0.5)
    qtbot.mouseClick(dock.track_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.session.stack.can_undo, timeout=120_000)
    assert dock.session.dataset.track_names == ["F", "M"]
    t = dock.table()
    assert t.identity_probs.shape == (len(t), 2)
    sel = (t.frame_idx >= 40) & (t.frame_idx <= 42)
    assert (t.track_id[sel] == t.identity_probs[sel].argmax(1)).all()
    assert len(dock.timeline.identity_marks) == 0
    assert not any("identity model says" in dock.suspects.item(i).text() for i in range(dock.suspects.count()))
    dock.session.store.close()


def _select_instance(viewer, table, row, source):
    """Select the points of instance ``row`` (of the labels, source 0, or predictions, 1) in the keypoints layer,
    at its frame."""
    viewer.dims.set_current_step(0, int(table.frame_idx[row]))
    layer = viewer.layers["keypoints"]
    f = layer.features
    mine = (f["instance"].to_numpy() == row) & (f["source"].to_numpy() == source)
    assert mine.any(), f"instance {row} is not drawn"
    layer.selected_data = set(np.flatnonzero(mine).tolist())


def test_proofreading_dock_names_the_animals(make_napari_viewer, qtbot, tmp_path):
    """A project whose labels have no tracks: the user names the two flies in the Proofreading dock (type a name,
    'Selected → new track'; the same name again joins that track), renames one (Enter), and a rename that would
    give one animal two poses in a frame is refused; the store keeps the names and the assignments."""
    from napari_posetrack._napari.proofreading_dock import ProofreadingDock
    from napari_posetrack.core.identity import identity_classes
    from napari_posetrack.core.store import ProjectStore

    path, ds = fly_store(tmp_path, with_labels=False)
    lab = ds.labels.with_columns(track_id=np.full(len(ds.labels), -1, np.int32))
    st = ProjectStore.open(path)
    st.save(labels=lab, track_names=[])
    st.close()
    viewer = make_napari_viewer(show=True)
    dock = ProofreadingDock(viewer)
    said = []
    dock.notify = lambda text, level="info": said.append((level, text))
    viewer.window.add_dock_widget(dock, name="Proofreading")
    dock.open_path(path)
    session = dock.session
    assert session.dataset.track_names == [] and dock.track_a.count() == 0
    click = lambda b: qtbot.mouseClick(b, Qt.MouseButton.LeftButton)  # noqa: E731

    frames = np.unique(lab.frame_idx)[:3]
    rows = {f: np.flatnonzero(lab.frame_idx == f) for f in frames}
    truth = ds.labels.track_id  # the file's own F/M assignment (tracks F = 0, M = 1)
    for f in frames:
        for r in rows[f]:
            _select_instance(viewer, lab, int(r), 0)
            assert dock.selected_instances() == [int(r)]
            qtbot.keyClicks(dock.track_name, ["F", "M"][truth[r]])
            click(dock.new_track_btn)
            assert dock.track_name.text() == ""  # cleared once done
    t = session.dataset.labels
    first = int(truth[rows[frames[0]][0]])  # the first instance named started track 0
    assert session.dataset.track_names == [["F", "M"][first], ["F", "M"][1 - first]]
    named = [session.dataset.track_names[i] for i in t.track_id[np.concatenate(list(rows.values()))]]
    assert named == [["F", "M"][truth[r]] for f in frames for r in rows[f]]
    assert dock.timeline.lanes == [0, 1]

    # rename M to 'male' by typing the name and pressing Enter
    m = session.dataset.track_names.index("M")
    dock.track_a.setCurrentIndex(dock.track_a.findData(m))
    qtbot.keyClicks(dock.track_name, "male")
    qtbot.keyClick(dock.track_name, Qt.Key.Key_Return)
    assert session.dataset.track_names[m] == "male"
    assert dock.track_a.currentText() == f"{m}: male"
    # 'male' -> 'F' would join the two flies, which share frames: refused with the frames, nothing changed
    before = session.dataset.labels.track_id.copy()
    qtbot.keyClicks(dock.track_name, "F")
    click(dock.rename_btn)
    assert said and said[-1][0] == "error" and "both have an instance in 3 frame(s)" in said[-1][1], said
    assert session.dataset.track_names[m] == "male"
    np.testing.assert_array_equal(session.dataset.labels.track_id, before)
    dock.track_name.clear()
    click(dock.undo_btn)  # one step back: the rename
    assert session.dataset.track_names[m] == "M"
    click(dock.redo_btn)
    w, h = _screen(viewer, qtbot, "Proofreading", tmp_path, "proofreading_dock_rename.png")
    assert h <= 768
    click(dock.save_btn)
    assert not session.dirty
    session.store.close()
    store = ProjectStore.open(path, mode="r")
    try:
        saved = store.load()
    finally:
        store.close()
    names, ids = list(saved.track_names), saved.labels.track_id
    assert sorted(names) == ["F", "male"]
    done = np.concatenate(list(rows.values()))
    assert [names[i] for i in ids[done]] == [["F", "male"][truth[r]] for r in done]
    assert (np.delete(ids, done) == -1).all()
    # the names typed here are the classes an identity model trains on
    spec = identity_classes(saved, min_instances=1)
    assert spec.class_names == ["F", "male"] and spec.n_unnamed == len(ids) - len(done)
