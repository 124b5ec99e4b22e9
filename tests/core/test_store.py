"""Project store: create, save, load, videos, attrs, real data round trips, speed of reads."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from conftest import shared_file
from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.errors import SkeletonMismatchError, StoreError
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.skeleton import Skeleton
from napari_posetrack.core.store import SCHEMA_VERSION, ProjectStore, is_store_dir

SKEL = Skeleton.from_names(["head", "thorax", "tail"], [("head", "thorax"), ("thorax", "tail")], name="bug")


def _table(n, k=3, seed=0, source=0, video_id=0, frame0=0):
    rng = np.random.default_rng(seed)
    pts = (rng.random((n, k, 2)) * 100).astype(np.float32)
    state = rng.integers(0, 3, (n, k)).astype(np.uint8)
    pts[state == 0] = np.nan
    return PoseTable.from_arrays(pts, frame_idx=frame0 + np.arange(n), video_id=video_id, state=state,
                                 score=rng.random((n, k)), instance_score=rng.random(n),
                                 track_id=rng.integers(-1, 2, n), tracking_score=rng.random(n), source=source)


def _fake_video(path, n_frames=10):
    """A tiny real mp4 (PyAV) so probing works."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for i in range(n_frames):
            img = np.full((24, 32, 3), i * 20, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_create_layout_and_reopen(tmp_path):
    video = _fake_video(tmp_path / "clip.mp4")
    store = ProjectStore.create(tmp_path / "proj", SKEL, videos=[video], track_names=["a"])
    assert store.path.name == "proj.posetrack.zarr" and store.path.parent.resolve() == (tmp_path / "proj").resolve()
    root = json.loads((store.path / "zarr.json").read_text())
    assert root["zarr_format"] == 3 and root["node_type"] == "group"
    assert root["attributes"]["schema_version"] == SCHEMA_VERSION
    assert is_store_dir(store.path)
    # a project folder opens too, and so does the store itself
    for p in (tmp_path / "proj", store.path):
        s = ProjectStore.open(p)
        assert s.skeleton == SKEL
        assert s.track_names == ["a"]
        (v,) = s.videos
        assert (v.n_frames, v.height, v.width, v.kind) == (10, 24, 32, "video")
        assert v.fps == pytest.approx(10)
        assert len(s.labels) == 0 and s.labels.n_nodes == 3
    # the video path is stored relative to the project folder
    entry = store._meta(store.head())["videos"][0]
    assert entry["path"] == "../clip.mp4"


def test_save_load_roundtrip_all_components(tmp_path):
    store = ProjectStore.create(tmp_path / "a.posetrack.zarr", SKEL)
    ds = PoseDataset(SKEL, videos=[VideoInfo(str(tmp_path / "v.mp4"), 50, 24, 32, 1, 10.0)], track_names=["m", "f"],
                     labels=_table(40, seed=1), predictions=_table(30, seed=2, source=1),
                     suggestions=[[0, 3], [0, 7]], negative_frames=[[0, 9]])
    c = store.save(ds)
    assert c == store.commit
    back = ProjectStore.open(store.path, mode="r").load()
    assert back.labels.equals(ds.labels) and back.predictions.equals(ds.predictions)
    assert back.track_names == ["m", "f"] and back.skeleton == SKEL
    assert np.array_equal(back.suggestions, [[0, 3], [0, 7]])
    assert np.array_equal(back.negative_frames, [[0, 9]])
    assert back.videos[0].n_frames == 50 and back.videos[0].path == str(tmp_path / "v.mp4")
    # saving the same thing again writes nothing
    assert store.save(back) == c


def test_save_only_changed_components_and_attrs(tmp_path):
    store = ProjectStore.create(tmp_path / "a.posetrack.zarr", SKEL)
    store.save(labels=_table(10), predictions=_table(20, source=1))
    head = store.head()
    ds = store.load()
    ds.labels = _table(12, seed=5)
    store.save(ds, attrs={"trained": {"model": "m1"}})
    head2 = store.head()
    assert head2["tables"]["predictions"] == head["tables"]["predictions"]  # untouched: not rewritten
    assert head2["tables"]["labels"] != head["tables"]["labels"]
    assert store.get_attr("trained") == {"model": "m1"}
    store.set_attrs(other=[1, 2])
    assert store.get_attr("trained") == {"model": "m1"} and store.get_attr("other") == [1, 2]
    assert store.get_attr("missing", 7) == 7
    with pytest.raises(StoreError, match="plain JSON"):
        store.set_attrs(bad=float("nan"))
    assert store.get_attr("other") == [1, 2]  # the failed write changed nothing


def test_old_generations_are_collected(tmp_path):
    store = ProjectStore.create(tmp_path / "a.posetrack.zarr", SKEL)
    for i in range(12):
        store.save(labels=_table(5, seed=i))
    groups = [d for d in (store.path / "tables").iterdir() if d.name.startswith("labels-")]
    assert len(groups) <= 6  # the last few commits only
    assert len(list((store.path / "commits").glob("c*.json"))) <= 5
    assert store.labels.equals(_table(5, seed=11))


def test_conflicting_writers_do_not_lose_appends(tmp_path):
    path = ProjectStore.create(tmp_path / "a.posetrack.zarr", SKEL).path
    gui = ProjectStore.open(path)
    ds = gui.load()
    cli = ProjectStore.open(path)
    cli.append_predictions(_table(8, source=1))
    # the GUI edits labels only: its save keeps the predictions appended meanwhile
    ds.labels = _table(3, seed=9)
    gui.save(ds)
    fresh = ProjectStore.open(path, mode="r")
    assert len(fresh.predictions) == 8 and len(fresh.labels) == 3
    # editing predictions that changed on disk since they were read is a conflict, not a silent loss
    ds.predictions = _table(2, seed=4, source=1)
    with pytest.raises(StoreError, match="another writer"):
        gui.save(ds)
    assert len(ProjectStore.open(path, mode="r").predictions) == 8


def test_skeleton_mismatch_is_refused(tmp_path):
    store = ProjectStore.create(tmp_path / "a.posetrack.zarr", SKEL)
    with pytest.raises(SkeletonMismatchError, match="3"):
        store.save(labels=_table(4, k=2))
    store.save(labels=_table(4))
    with pytest.raises(SkeletonMismatchError, match="remapped"):
        store.save(skeleton=Skeleton.from_names(["a", "b"]))
    bigger, mapping = SKEL.merge(Skeleton.from_names(["wing"]))
    store.save(skeleton=bigger, labels=store.labels.remap_nodes([0, 1, 2], 4))
    assert store.skeleton.n_nodes == 4 and store.labels.n_nodes == 4
    # the (empty) predictions follow the new skeleton: streaming 4-node rows works
    assert store.predictions.n_nodes == 4
    assert store.append_predictions(_table(3, k=4, source=1)) == 3


def test_add_video_image_folder_and_embedded(tmp_path):
    from skimage.io import imsave

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 10):
        imsave(folder / f"img{i}.png", np.full((6, 8, 3), i, np.uint8), check_contrast=False)
    store = ProjectStore.create(tmp_path / "a.posetrack.zarr", SKEL)
    vid = store.add_video(folder)
    v = store.videos[vid]
    assert (v.kind, v.n_frames, v.height, v.width) == ("images", 3, 6, 8)
    assert [p.split("/")[-1] for p in v.image_paths] == ["img1.png", "img2.png", "img10.png"]  # natural order
    with store.open_video(vid) as r:
        assert r[2][0, 0, 0] == 10
    emb = VideoInfo("pkg.slp", n_frames=20, height=6, width=8, channels=1, kind="embedded",
                    embedded={"frame_idx": np.array([3, 11]),
                              "images": np.arange(96, dtype=np.uint8).reshape(2, 6, 8, 1)})
    e = store.add_video(emb)
    r = store.open_video(e)
    assert r.shape == (20, 6, 8, 1)
    assert np.array_equal(r[11], emb.embedded["images"][1])
    loaded = store.load().videos[e]
    assert isinstance(loaded.embedded["images"], np.ndarray)
    assert np.array_equal(loaded.embedded["images"], emb.embedded["images"])


def test_moved_project_still_opens_and_finds_videos(tmp_path):
    a = tmp_path / "lab" / "exp1"
    a.mkdir(parents=True)
    video = _fake_video(a / "clip.mp4")
    store = ProjectStore.create(a / "p.posetrack.zarr", SKEL, videos=[video])
    store.save(labels=_table(4))
    moved = tmp_path / "elsewhere"
    shutil.move(str(a), str(moved))
    s = ProjectStore.open(moved)
    assert len(s.labels) == 4
    assert s.videos[0].path == str(moved / "clip.mp4")
    with s.open_video(0) as r:
        assert r.shape[:3] == (10, 24, 32)
        assert abs(int(r[5].mean()) - 100) <= 3  # frame 5 was filled with grey level 100


def test_real_slp_roundtrip(tmp_path):
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    ds = labels_to_dataset(sio.load_slp(str(shared_file("flies", "two_flies.slp"))))
    store = ProjectStore.create(tmp_path / "flies.posetrack.zarr", dataset=ds)
    back = ProjectStore.open(store.path, mode="r").load()
    assert back.skeleton == ds.skeleton and back.track_names == ds.track_names
    assert back.labels.equals(ds.labels)
    assert back.videos[0].path == ds.videos[0].path and back.videos[0].shape == ds.videos[0].shape
    assert store.commit == 1  # one commit: the store never existed half-filled


def test_real_pkg_slp_embedded_roundtrip(tmp_path):
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    ds = labels_to_dataset(sio.load_slp(str(shared_file("fixtures", "minimal_instance.pkg.slp"))))
    store = ProjectStore.create(tmp_path / "pkg.posetrack.zarr", dataset=ds)
    back = store.load()
    v, w = back.videos[0], ds.videos[0]
    assert v.kind == "embedded"
    assert np.array_equal(v.embedded["images"], w.embedded["images"])
    assert np.array_equal(v.embedded["frame_idx"], w.embedded["frame_idx"])
    f = int(w.embedded["frame_idx"][0])
    assert np.array_equal(store.open_video(0)[f], w.embedded["images"][0])
    assert back.labels.equals(ds.labels)


def test_reading_100k_rows_is_fast(tmp_path):
    big = _table(100_000, k=13, seed=3, source=1)
    store = ProjectStore.create(tmp_path / "big.posetrack.zarr", Skeleton.from_names([f"n{i}" for i in range(13)]))
    store.save(predictions=big)
    fresh = ProjectStore.open(store.path, mode="r")
    t = time.perf_counter()
    back = fresh.predictions
    dt = time.perf_counter() - t
    assert back.equals(big)
    assert dt < 3.0, f"reading 100k rows took {dt:.2f} s"  # about 0.1 s unloaded; loose for a busy CI
