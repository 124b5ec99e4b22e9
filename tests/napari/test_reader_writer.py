"""napari reader (videos, image folders, stores) and writer (Points layers into a store)."""

from __future__ import annotations

from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

import numpy as np
import pandas as pd
import pytest

from conftest import shared_file
from napari_posetrack._napari.convert import table_to_points
from napari_posetrack._napari.reader import get_reader
from napari_posetrack._napari.writer import write_points
from napari_posetrack.core.errors import PoseTrackError, SkeletonMismatchError
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.skeleton import Skeleton
from napari_posetrack.core.store import ProjectStore


def _video(path, n=6, size=(24, 32)):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.height, s.width = size
        s.pix_fmt = "yuv420p"
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full(size + (3,), 30 * i, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture
def flies_store(tmp_path):
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    ds = labels_to_dataset(sio.load_slp(str(shared_file("flies", "two_flies.slp"))))
    preds = ds.labels.take(np.arange(20)).with_columns(source=np.ones(20, np.uint8))
    ds.predictions = preds
    return ProjectStore.create(tmp_path / "flies.posetrack.zarr", dataset=ds), ds


def test_reader_declines_what_it_does_not_handle(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "empty").mkdir()
    import zarr

    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").attrs["x"] = 1  # someone else's zarr
    for path in (tmp_path / "notes.txt", tmp_path / "empty", tmp_path / "other.zarr", tmp_path / "missing.mp4",
                 tmp_path / "nothing", tmp_path,
                 [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")], None, 42):
        assert get_reader(str(path) if isinstance(path, type(tmp_path)) else path) is None


def test_reader_never_raises_on_a_damaged_store(tmp_path):
    store = ProjectStore.create(tmp_path / "d.posetrack.zarr", Skeleton.from_names(["a"]))
    (store.path / "HEAD.json").write_text("torn")
    reader = get_reader(str(store.path))
    assert reader is not None
    assert reader(str(store.path)) == [(None,)]  # error shown, nothing added, no exception


def test_video_and_image_folder_are_lazy(tmp_path):
    from skimage.io import imsave

    video = _video(tmp_path / "clip.mp4")
    (layer,) = get_reader(str(video))(str(video))
    data, kwargs, kind = layer
    assert kind == "image" and type(data).__module__.startswith("dask")
    assert data.shape[:3] == (6, 24, 32) and kwargs["name"] == "clip"
    assert abs(int(np.asarray(data[3]).mean()) - 90) <= 3  # computed on demand
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        imsave(folder / f"f{i}.png", np.full((5, 7, 3), 50 * i, np.uint8), check_contrast=False)
    (layer,) = get_reader(str(folder))(str(folder))
    assert layer[0].shape == (3, 5, 7, 3) and layer[1]["rgb"] is True
    assert int(np.asarray(layer[0][2]).max()) == 100


def test_store_layers_and_metadata(flies_store):
    store, ds = flies_store
    for path in (store.path, store.path.parent):  # the store, or the folder holding it
        layers = get_reader(str(path))(str(path))
        kinds = [(k, kw["metadata"].get("posetrack_kind")) for _, kw, k in layers]
        assert kinds == [("image", "video"), ("points", "labels"), ("points", "predictions"), ("tracks", "tracks")]
    image, labels, preds, tracks = layers
    assert image[0].shape == (128, 1024, 1024)  # grey video: channel axis dropped
    for _, kw, _ in layers:
        assert kw["metadata"]["posetrack_store"] == str(store.path) and kw["metadata"]["video_id"] == 0
    data, feats = table_to_points(ds.labels)
    assert np.allclose(labels[0], data) and list(labels[1]["features"]["node"]) == list(feats["node"])
    colors = labels[1]["face_color"]  # coloured by node: one colour per node, the same on every instance
    assert colors.shape == (len(data), 4)
    assert len(np.unique(colors, axis=0)) == 13
    assert np.array_equal(colors[feats["node"].to_numpy() == 3][0], colors[feats["node"].to_numpy() == 3][-1])
    # predictions look as in the keypoints layer: half see-through diamonds bordered in the node colour
    assert preds[1]["symbol"] == "diamond" and labels[1]["symbol"] == "disc"
    assert (preds[1]["face_color"][:, 3] < 1).all() and (labels[1]["face_color"][:, 3] == 1).any()
    assert preds[1]["border_color"].shape == (len(preds[0]), 4)
    assert set(np.unique(tracks[0][:, 0])) == {0, 1}


def test_store_opens_as_the_viewers_editable_session(make_napari_viewer, flies_store):
    from napari_posetrack._napari.session import get_session

    store, ds = flies_store
    viewer = make_napari_viewer()
    viewer.open(str(store.path), plugin="napari-posetrack")
    session = get_session(viewer)
    assert session is not None and session.store.path == store.path
    assert session.dataset.labels.equals(ds.labels)
    # the Labeling dock opened by itself and shows the video behind the editable layers
    assert [layer.name for layer in viewer.layers] == ["two_flies.mp4", "skeleton", "keypoints"]
    assert tuple(viewer.layers[0].data.shape[:1]) == (ds.videos[0].n_frames,)
    session.store.close()


def test_missing_video_still_shows_labels(tmp_path):
    video = _video(tmp_path / "gone.mp4")
    store = ProjectStore.create(tmp_path / "s.posetrack.zarr", Skeleton.from_names(["a", "b"]), videos=[video])
    store.save(labels=PoseTable.from_arrays(np.ones((2, 2, 2), np.float32)))
    video.unlink()
    layers = get_reader(str(store.path))(str(store.path))
    assert [k for _, _, k in layers] == ["points"] and len(layers[0][0]) == 4


def test_writer_roundtrip_into_its_store(flies_store):
    store, ds = flies_store
    layers = get_reader(str(store.path))(str(store.path))
    data, kw, _ = layers[1]
    feats = kw["features"].copy()
    keep = feats["instance"] != 0  # the user deleted instance 0
    out = write_points(str(store.path), [(data[keep.to_numpy()], {**kw, "features": feats[keep]}, "points")])
    assert out == [str(store.path)]
    back = ProjectStore.open(store.path, mode="r")
    assert len(back.labels) == len(ds.labels) - 1
    assert back.labels.equals(ds.labels.take(np.arange(1, len(ds.labels))).sorted())
    assert back.predictions.equals(ds.predictions)  # untouched


def test_writer_creates_a_store_with_the_source_videos(flies_store, tmp_path):
    store, ds = flies_store
    layers = get_reader(str(store.path))(str(store.path))
    out = write_points(str(tmp_path / "copy.posetrack.zarr"), [(d, kw, k) for d, kw, k in layers if k == "points"])
    copy = ProjectStore.open(out[0], mode="r")
    assert copy.skeleton == ds.skeleton and copy.track_names == ds.track_names
    assert copy.videos[0].path == ds.videos[0].path
    assert copy.labels.equals(ds.labels.sorted()) and copy.predictions.equals(ds.predictions.sorted())


def test_writer_refuses_plain_points_and_wrong_skeleton(tmp_path, flies_store):
    with pytest.raises(PoseTrackError, match="'node' and 'instance'"):
        plain = (np.zeros((2, 3)), {"name": "p", "features": pd.DataFrame()}, "points")
        write_points(str(tmp_path / "x.posetrack.zarr"), [plain])
    assert not (tmp_path / "x.posetrack.zarr").exists()
    store, _ = flies_store
    feats = pd.DataFrame({"node": [0], "instance": [0]})
    meta = {"node_names": ["a", "b"]}
    with pytest.raises(SkeletonMismatchError):
        layer = (np.zeros((1, 3)), {"name": "p", "features": feats, "metadata": meta}, "points")
        write_points(str(store.path), [layer])


def test_store_with_embedded_frames(tmp_path):
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    ds = labels_to_dataset(sio.load_slp(str(shared_file("fixtures", "minimal_instance.pkg.slp"))))
    store = ProjectStore.create(tmp_path / "pkg.posetrack.zarr", dataset=ds)
    layers = get_reader(str(store.path))(str(store.path))
    image = layers[0]
    assert image[2] == "image" and image[1]["metadata"]["posetrack_kind"] == "video"
    f = int(ds.videos[0].embedded["frame_idx"][0])
    assert np.array_equal(np.asarray(image[0][f]), ds.videos[0].embedded["images"][0][..., 0])
    assert layers[1][1]["metadata"]["posetrack_kind"] == "labels" and len(layers[1][0]) == 4
