"""The npe2 sample data: synthetic clip with ground-truth keypoints, skeleton and tracks."""

from __future__ import annotations

from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

import os
from pathlib import Path

import numpy as np
import pytest

from napari_posetrack._napari.sample import SAMPLE_PARAMS, make_sample_data, sample_cache_dir


@pytest.fixture
def cache_dir(tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.getbasetemp() / "posetrack-cache"  # shared by the tests of a session
    monkeypatch.setenv("POSETRACK_CACHE_DIR", str(folder))
    return folder


def test_make_sample_data_layers(cache_dir):
    layers = make_sample_data()
    assert [t for _, _, t in layers] == ["image", "points", "shapes", "tracks"]
    (image, ikw, _), (points, pkw, _), (lines, skw, _), (tracks, _, _) = layers
    n, (h, w), a = SAMPLE_PARAMS["n_frames"], SAMPLE_PARAMS["size"], SAMPLE_PARAMS["n_animals"]
    assert image.shape == (n, h, w) and image.dtype == np.uint8
    assert str(sample_cache_dir()).startswith(str(cache_dir))
    assert points.shape == (n * a * 5, 3)
    assert set(pkw["features"]["node"]) == set(range(5)) and set(pkw["features"]["track"]) == {0, 1}
    assert len(lines) == n * a * 4 and all(np.all(seg[:, 0] == seg[0, 0]) for seg in lines[:50])
    assert set(np.unique(tracks[:, 0])) == {0, 1} and tracks.shape == (n * a, 4)
    # the head keypoint lies on a bright pixel of its frame (ground truth matches the video)
    frame = np.asarray(image[17])
    heads = points[(points[:, 0] == 17) & (pkw["features"]["node"].to_numpy() == 0)]
    for _, y, x in heads:
        assert frame[int(round(y)), int(round(x))] > 150
    again = make_sample_data()  # cached: same clip, not rendered again
    assert Path(again[0][1]["metadata"]["posetrack_video"]).stat().st_mtime == pytest.approx(
        Path(ikw["metadata"]["posetrack_video"]).stat().st_mtime
    )


@pytest.mark.gui
def test_open_sample_in_viewer(make_napari_viewer, cache_dir, tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-posetrack", "two_animals")
    names = [layer.name for layer in viewer.layers]
    assert names == ["two_animals", "ground truth", "skeleton", "tracks"]
    kinds = [type(layer).__name__ for layer in viewer.layers]
    assert kinds == ["Image", "Points", "Shapes", "Tracks"]
    image = viewer.layers["two_animals"]
    assert image.data.shape == (200, 256, 256)
    viewer.dims.set_point(0, 60)
    np.testing.assert_array_equal(np.asarray(image.data[60]), np.asarray(image.data[60]))
    points = viewer.layers["ground truth"]
    assert len(points.data) == 2000
    heads = points.face_color[points.features["node"].to_numpy() == 0]
    wings = points.face_color[points.features["node"].to_numpy() == 3]
    assert not np.allclose(heads[0, :3], wings[0, :3])  # coloured by node
    out = Path(os.environ.get("POSETRACK_SCREENSHOT_DIR", tmp_path)) / "sample_data.png"
    viewer.reset_view()
    shot = viewer.screenshot(str(out), canvas_only=False)
    assert shot.ndim == 3 and shot[..., :3].std() > 5  # not a blank window
