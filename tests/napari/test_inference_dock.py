"""Inference dock: predict from napari, accept predictions as labels with keys, undo."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Points

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from labeling_helpers import press  # noqa: E402
from labeling_helpers import unsaved_dialog_discards  # noqa: F401, E402 (autouse fixture)
from napari_posetrack._napari.convert import score_text  # noqa: E402
from napari_posetrack.core.posetable import PREDICTED, USER  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402

pytestmark = pytest.mark.gui

SK = Skeleton.from_names(["head", "thorax", "tail"], [("head", "thorax"), ("thorax", "tail")])


@pytest.fixture()
def project(tmp_path):
    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.nn.inference.toy import blob_frames, save_random_checkpoint, write_video

    rng = np.random.default_rng(0)
    poses = rng.uniform(8, 40, (20, 1, 3, 2))
    video = write_video(tmp_path / "clip.mp4", blob_frames(poses, 48, 64))
    store = ProjectStore.create(tmp_path / "p.posetrack.zarr", SK, videos=[str(video)])
    store.save(labels=PoseTable.from_arrays(poses[:2, 0], frame_idx=[0, 1]), suggestions=[[0, 5], [0, 9]])
    store.close()
    model = save_random_checkpoint(tmp_path / "model", "single", SK, head_bias=1.0)
    return store.path, model


def wait_done(qtbot, dock):
    qtbot.waitUntil(lambda: dock._worker is None, timeout=120_000)


def test_predict_accept_undo_loop_with_labeling_dock(make_napari_viewer, qtbot, project):
    from napari_posetrack._napari.inference_dock import InferenceDock
    from napari_posetrack._napari.labeling_dock import LabelingDock
    from napari_posetrack.core.labeling import MoveNodes

    path, model = project
    viewer = make_napari_viewer()
    lab = LabelingDock(viewer)
    lab.notify = lambda *a, **k: None
    viewer.window.add_dock_widget(lab)
    lab.open_project(path)
    dock = InferenceDock(viewer)
    viewer.window.add_dock_widget(dock)
    session = dock.session
    assert session is not None and dock.video_combo.count() == 1
    dock.set_model_dir(model)
    assert "single" in dock.model_label.text()

    viewer.dims.set_current_step(0, 3)
    dock.predict("current frame")
    wait_done(qtbot, dock)
    pred = session.dataset.predictions
    assert len(pred) == 1 and pred.frame_idx[0] == 3 and (pred.source == PREDICTED).all()
    layer = dock.points_layer
    # drawn once: in the Labeling dock's keypoints layer, as diamonds with the instance score beside them
    assert layer is lab.controller.points
    assert [ly.name for ly in viewer.layers if isinstance(ly, Points)] == ["keypoints"]
    assert len(layer.data) == 3 and layer.symbol[0].value == "diamond"
    shown = score_text(pred.instance_score[0], pred.score[0])  # in [0, 1]; a random model's peaks can exceed 1
    assert shown and set(layer.features["label"]) == {shown, ""}
    assert layer.text.values.tolist().count(shown) == 1

    # suggested frames, then a range that overlaps: predictions are replaced, never duplicated
    dock.predict("suggested frames")
    wait_done(qtbot, dock)
    assert sorted(session.dataset.predictions.frame_idx.tolist()) == [3, 5, 9]
    dock.start_spin.setValue(2)
    dock.stop_spin.setValue(8)
    dock.predict("frame range")
    wait_done(qtbot, dock)
    assert sorted(session.dataset.predictions.frame_idx.tolist()) == [2, 3, 4, 5, 6, 7, 9]
    assert "frames/s" in dock.status_label.text()

    # G accepts the instance as a user label; Ctrl-Z (labeling dock) undoes it
    n_labels = len(session.dataset.labels)
    press(viewer, "G")
    assert len(session.dataset.labels) == n_labels + 1
    new = session.dataset.labels.take([n_labels])
    assert new.source[0] == USER and new.frame_idx[0] == 3 and np.isnan(new.score).all()
    assert 3 not in session.dataset.predictions.frame_idx
    # the layer follows the session: the prediction became a round user label
    source = dock.points_layer.features["source"]
    assert (source == 0).sum() == 3 and (source == 1).sum() == 0
    assert {s.value for s in dock.points_layer.symbol} == {"disc"}
    # the accepted label is an ordinary label: correct one node, undo the correction
    session.push(MoveNodes([n_labels], [0], np.array([[30.0, 20.0]])))
    np.testing.assert_allclose(session.dataset.labels.points[n_labels, 0], [30, 20])
    session.undo()
    session.undo()
    assert len(session.dataset.labels) == n_labels and 3 in session.dataset.predictions.frame_idx

    viewer.dims.set_current_step(0, 5)
    press(viewer, "Shift-G")
    assert len(session.dataset.labels) == n_labels + 1 and 5 not in session.dataset.predictions.frame_idx

    # outlier frames of the predictions become suggestions, as one undoable step
    from napari_posetrack.core.outliers import find_outlier_frames

    preds = session.dataset.predictions
    preds.score[np.argmin(preds.frame_idx)] = 0.05  # one doubtful prediction (a random model's scores vary)
    want = find_outlier_frames(preds, n=3)
    assert len(want) >= 1
    n_sug = len(session.dataset.suggestions)
    assert dock.suggest_outliers(3) == len(want)
    assert {tuple(r) for r in want} <= {tuple(r) for r in session.dataset.suggestions.tolist()}
    session.undo()
    assert len(session.dataset.suggestions) == n_sug


def test_cancel_and_errors_are_shown_not_raised(make_napari_viewer, qtbot, project, monkeypatch):
    from napari_posetrack._napari import inference_dock as mod
    from napari_posetrack._napari.session import set_session
    from napari_posetrack.core.session import EditSession
    from napari_posetrack.core.store import ProjectStore

    path, model = project
    msgs = []
    monkeypatch.setattr(mod, "notify", lambda text, level="info": msgs.append((level, text)))
    viewer = make_napari_viewer()
    dock = mod.InferenceDock(viewer)
    qtbot.addWidget(dock)
    dock._guard(dock.predict)  # no project yet
    assert msgs and msgs[-1][0] == "error" and "No project" in msgs[-1][1]
    set_session(viewer, EditSession.from_store(ProjectStore.open(path, mode="r")))
    dock.predict("current video")  # no model chosen: the worker fails, the dock reports it
    wait_done(qtbot, dock)
    assert "No model directory" in msgs[-1][1]
    other = Skeleton.from_names(["x", "y"], [("x", "y")])
    from napari_posetrack.nn.inference.toy import save_random_checkpoint

    dock.set_model_dir(save_random_checkpoint(path.parent / "other", "single", other))
    dock.predict("current frame")
    wait_done(qtbot, dock)
    assert "does not match" in msgs[-1][1] or "skeleton" in msgs[-1][1]
    dock.set_model_dir(model)
    dock.predict("current video")
    dock.cancel()
    wait_done(qtbot, dock)
    res = dock.last_result
    assert res is not None and res.cancelled and res.n_frames < 20
    assert len(dock.session.dataset.predictions) == res.n_instances
