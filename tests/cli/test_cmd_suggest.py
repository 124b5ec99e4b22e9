"""`posetrack suggest` and `posetrack check-labels` on a real project store."""

import numpy as np
import pytest

from napari_posetrack.cli import main
from napari_posetrack.core.store import ProjectStore


@pytest.fixture
def mouse_project(tmp_path):
    from conftest import shared_file
    from napari_posetrack.core.io import load_dataset

    ds = load_dataset(shared_file("mouse-openfield", "config.yaml"))
    ds.labels = ds.labels.take(np.arange(6))
    path = tmp_path / "mouse.posetrack.zarr"
    with ProjectStore.create(path, ds.skeleton, videos=ds.videos) as st:
        st.save(ds)
    return path


def test_suggest_uniform_kmeans_and_errors(mouse_project, capsys):
    assert main(["suggest", str(mouse_project), "--method", "uniform", "-n", "5", "--range", "10:60"]) == 0
    with ProjectStore.open(mouse_project, mode="r") as st:
        assert st.suggestions[:, 1].tolist() == [15, 25, 35, 45, 55]
    assert main(["suggest", str(mouse_project), "--method", "kmeans", "-n", "4", "--range", "0:40"]) == 0
    with ProjectStore.open(mouse_project, mode="r") as st:
        sug = st.suggestions
    assert len(sug) == 9 and set(sug[:, 0]) == {0}  # 5 uniform + 4 k-means, merged
    out = capsys.readouterr().out
    assert "4 frame(s) suggested" in out
    assert main(["suggest", str(mouse_project), "--method", "random", "-n", "3", "--video", "4"]) == 1
    assert "Video 4 does not exist" in capsys.readouterr().err
    assert main(["suggest", str(mouse_project), "--method", "outliers", "-n", "3"]) == 1
    assert "no predictions" in capsys.readouterr().err


def test_suggest_outliers_uses_predictions(mouse_project):
    with ProjectStore.open(mouse_project) as st:
        ds = st.load()
        pred = ds.labels.with_columns(source=np.ones(len(ds.labels), np.uint8),
                                      score=np.full(ds.labels.score.shape, 0.9, np.float32),
                                      frame_idx=np.arange(len(ds.labels)))
        pred.score[3, 1] = 0.05  # one bad node in frame 3
        st.save(predictions=pred)
    assert main(["suggest", str(mouse_project), "--method", "outliers", "--min-score", "0.5", "-n", "5"]) == 0
    with ProjectStore.open(mouse_project, mode="r") as st:
        assert st.suggestions.tolist() == [[0, 3]]


def test_check_labels_writes_pngs(mouse_project, tmp_path, capsys):
    out = tmp_path / "qc"
    assert main(["check-labels", str(mouse_project), "--out", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 6
    import matplotlib.image as mpimg

    assert mpimg.imread(pngs[0]).shape[:2] == (480, 640)
    assert "wrote 6 PNG(s)" in capsys.readouterr().out
