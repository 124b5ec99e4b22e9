"""Closing napari with every dock open on a project must not hang or raise."""

from __future__ import annotations

from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_posetrack.core.posetable import PREDICTED, PoseTable  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402

pytestmark = pytest.mark.gui

SK = Skeleton.from_names(["head", "thorax", "tail"], [("head", "thorax"), ("thorax", "tail")])


def test_close_viewer_with_all_docks_and_predictions(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.inference_dock import InferenceDock
    from napari_posetrack._napari.labeling_dock import LabelingDock
    from napari_posetrack._napari.plots_dock import PlotsDock
    from napari_posetrack._napari.proofreading_dock import ProofreadingDock
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.nn.inference.toy import blob_frames, write_video

    rng = np.random.default_rng(0)
    poses = rng.uniform(8, 40, (12, 1, 3, 2))
    video = write_video(tmp_path / "clip.mp4", blob_frames(poses, 48, 64))
    store = ProjectStore.create(tmp_path / "p.posetrack.zarr", SK, videos=[str(video)])
    pred = PoseTable.from_arrays(poses[:, 0], frame_idx=np.arange(12), source=PREDICTED,
                                 score=np.full((12, 3), 0.9), instance_score=np.full(12, 0.9), track_id=0)
    store.save(labels=PoseTable.from_arrays(poses[:2, 0], frame_idx=[0, 1]), predictions=pred,
               track_names=["a"])
    store.close()

    viewer = make_napari_viewer()
    lab = LabelingDock(viewer)
    lab.notify = lambda *a, **k: None
    viewer.window.add_dock_widget(lab)
    lab.open_project(store.path)
    for cls in (InferenceDock, ProofreadingDock, PlotsDock):
        viewer.window.add_dock_widget(cls(viewer))
    viewer.dims.set_current_step(0, 3)
    n_layers = len(viewer.layers)
    assert n_layers >= 3
    # what napari does on close: remove every layer; no dock may re-add one
    viewer.layers.clear()
    qtbot.wait(50)
    assert len(viewer.layers) == 0, [layer.name for layer in viewer.layers]
    # the labels are still safe in the store
    again = ProjectStore.open(store.path, mode="r")
    assert len(again.labels) == 2 and len(again.predictions) == 12
