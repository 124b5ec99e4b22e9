import os
import numpy as np
import pytest

@pytest.mark.parametrize("dock", [os.environ["DOCK"]])
def test_one(make_napari_viewer, tmp_path, dock):
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.core.synthetic import make_synthetic_clip
    clip = make_synthetic_clip(tmp_path / "data", n_frames=12, n_animals=2, size=(96, 96))
    ds = clip["dataset"]
    ds.predictions = ds.labels.with_columns(source=np.ones(len(ds.labels), np.uint8))
    store = ProjectStore.create(tmp_path / "demo.posetrack.zarr", ds.skeleton, ds.videos)
    store.save(ds); store.close()
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "demo.posetrack.zarr"), plugin="napari-posetrack")
    if dock != "none":
        viewer.window.add_plugin_dock_widget("napari-posetrack", dock)
