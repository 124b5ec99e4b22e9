"""Round trips through every export on the real files in ../shared/data.

Each export is read back with the library its users use (sleap-io, movement, pandas) and
compared with what went in: exactly where the format carries the field, and with the
documented loss (docs/formats.md) where it does not.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.io import load_dataset, save_dataset
from napari_posetrack.core.posetable import PoseTable

pytestmark = pytest.mark.filterwarnings("ignore")


def _load(shared_data, rel):
    return load_dataset(shared_data / rel, check_videos="ignore")


def _key(t: PoseTable) -> PoseTable:
    c = np.nan_to_num(t.centroids(), nan=-1.0)
    return t.take(np.lexsort((c[:, 1], c[:, 0], t.track_id, t.frame_idx, t.video_id)))


def assert_tables_equal(a: PoseTable, b: PoseTable, columns=("frame_idx", "video_id", "points", "state", "score",
                                                               "instance_score", "track_id", "tracking_score",
                                                               "source")):
    a, b = _key(a), _key(b)
    assert len(a) == len(b)
    for c in columns:
        x, y = getattr(a, c), getattr(b, c)
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), c


def _symlink_images(info, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for p in info.image_paths:
        src = __import__("pathlib").Path(p)
        (folder / src.name).symlink_to(src)


# --------------------------------------------------------------------------- lossless formats
@pytest.mark.parametrize("rel", [
    "flies/two_flies.slp", "flies/three_flies.slp", "flies/single_fly.slp", "mouse-openfield",
    "fixtures/dlc/madlc_230_config.yaml", "fixtures/minimal_instance.slp", "proofreading/centered_pair_predictions.slp",
])
def test_slp_round_trip_is_exact(shared_data, tmp_path, rel):
    src = _load(shared_data, rel)
    out = save_dataset(src, tmp_path / "out.slp")
    back = load_dataset(out, check_videos="ignore")
    assert back.skeleton == src.skeleton and back.track_names == src.track_names
    assert_tables_equal(back.labels, src.labels)
    assert_tables_equal(back.predictions, src.predictions)
    assert [v.kind for v in back.videos] == [v.kind for v in src.videos]
    import sleap_io as sio

    assert len(sio.load_slp(str(out), open_videos=False).labeled_frames) == len(
        np.unique(np.stack([src.instances.video_id, src.instances.frame_idx]), axis=1).T)


def test_three_flies_has_occluded_points_that_survive(shared_data, tmp_path):
    src = _load(shared_data, "flies/three_flies.slp")
    assert (src.labels.state == 2).sum() > 50  # the file does have occluded nodes
    back = load_dataset(save_dataset(src, tmp_path / "o.slp"), check_videos="ignore")
    np.testing.assert_array_equal(_key(back.labels).state, _key(src.labels).state)


@pytest.mark.parametrize("rel", ["fixtures/minimal_instance.pkg.slp", "mouse-openfield"])
def test_pkg_slp_embeds_images(shared_data, tmp_path, rel):
    src = _load(shared_data, rel)
    out = save_dataset(src, tmp_path / "out.pkg.slp")
    back = load_dataset(out)
    assert back.videos[0].kind == "embedded"
    assert_tables_equal(back.labels, src.labels)
    emb = back.videos[0].embedded
    assert len(emb["frame_idx"]) == len(src.labels.frames())
    if src.videos[0].kind == "embedded":
        np.testing.assert_array_equal(emb["images"], src.videos[0].embedded["images"])
    else:
        from napari_posetrack.core.video import open_video

        with open_video(src.videos[0].image_paths[0]) as r:
            first = r[0]
        assert emb["images"][0].shape[:2] == first.shape[:2]


def test_pkg_slp_video_info_is_embedded(shared_data):
    ds = _load(shared_data, "fixtures/minimal_instance.pkg.slp")
    v = ds.videos[0]
    assert v.kind == "embedded" and v.shape == (1, 384, 384, 1)
    assert v.embedded["images"].shape == (1, 384, 384, 1) and v.embedded["images"].dtype == np.uint8
    assert v.embedded["images"].std() > 0  # real pixels, not zeros


@pytest.mark.parametrize("rel", ["flies/three_flies.slp", "mouse-openfield", "fixtures/dlc/madlc_230_config.yaml",
                                 "proofreading/centered_pair_predictions.slp"])
def test_flat_csv_round_trip(shared_data, tmp_path, rel):
    src = _load(shared_data, rel)
    out = save_dataset(src, tmp_path / "flat.csv", format="csv")
    back = load_dataset(out, check_videos="ignore")
    assert back.skeleton.node_names == src.skeleton.node_names and back.track_names == src.track_names
    assert_tables_equal(back.labels, src.labels)
    assert_tables_equal(back.predictions, src.predictions)
    import pandas as pd

    df = pd.read_csv(out)
    assert len(df) == len(src.instances) * src.skeleton.n_nodes


@pytest.mark.parametrize("rel", ["flies/three_flies.slp", "mouse-openfield",
                                 "proofreading/centered_pair_predictions.slp"])
def test_netcdf_round_trip_opens_in_movement(shared_data, tmp_path, rel):
    src = _load(shared_data, rel)
    out = save_dataset(src, tmp_path / "poses.nc", format="netcdf")
    import xarray as xr

    with xr.open_dataset(out) as mds:
        assert mds["position"].dims == ("time", "space", "keypoints", "individuals")
        assert list(mds["keypoints"].values) == src.skeleton.node_names
        assert mds.attrs["ds_type"] == "poses"
    back = load_dataset(out)
    table = src.predictions if len(src.predictions) else src.labels
    assert_tables_equal(back.instances, table)
    assert back.track_names == src.track_names and back.skeleton == src.skeleton


# --------------------------------------------------------------------------- lossy formats
def test_analysis_h5_keeps_tracks_points_and_scores(shared_data, tmp_path):
    src = _load(shared_data, "proofreading/centered_pair_predictions.slp")
    out = save_dataset(src, tmp_path / "a.analysis.h5", format="analysis")
    import h5py
    import sleap_io as sio

    with h5py.File(out, "r") as f:
        assert f["tracks"].shape == (len(src.track_names), 2, src.skeleton.n_nodes, src.videos[0].n_frames)
        assert [n.decode() for n in f["track_names"][:]] == src.track_names
        assert [n.decode() for n in f["node_names"][:]] == src.skeleton.node_names
        assert f["track_occupancy"][:].sum() == len(src.predictions)
    labels = sio.load_analysis_h5(str(out))
    assert len(labels.labeled_frames) == len(src.predictions.frames())
    back = load_dataset(out, check_videos="ignore")
    assert_tables_equal(back.predictions, src.predictions)


def test_analysis_h5_drops_occlusion(shared_data, tmp_path):
    src = _load(shared_data, "flies/three_flies.slp")
    back = load_dataset(save_dataset(src, tmp_path / "a.h5", format="analysis"), check_videos="ignore")
    a, b = _key(src.labels), _key(back.predictions)
    vis = a.state == 1
    np.testing.assert_array_equal(b.points[vis], a.points[vis])
    assert (b.state[a.state == 2] == 0).all()  # documented: occluded nodes are not kept
    np.testing.assert_array_equal(b.track_id, a.track_id)


def test_nwb_round_trip(shared_data, tmp_path):
    src = _load(shared_data, "flies/two_flies.slp")
    keep = src.labels.frame_idx < 4
    src.labels = src.labels.take(keep)
    out = save_dataset(src, tmp_path / "p.nwb")
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r", load_namespaces=True) as io:
        nwb = io.read()
        assert "behavior" in nwb.processing
    back = load_dataset(out, check_videos="ignore")
    assert back.skeleton.node_names == src.skeleton.node_names
    assert back.track_names == []  # documented: sleap-io's NWB annotations carry no tracks
    untracked = src.labels.with_columns(track_id=np.full(len(src.labels), -1))
    a, b = _key(untracked), _key(back.labels)
    vis = a.state == 1
    np.testing.assert_array_equal(b.points[vis], a.points[vis])
    np.testing.assert_array_equal(b.frame_idx, a.frame_idx)


def test_coco_round_trip_with_images(shared_data, tmp_path):
    src = _load(shared_data, "mouse-openfield")
    _symlink_images(src.videos[0], tmp_path)
    out = save_dataset(src, tmp_path / "coco.json", format="coco")
    back = load_dataset(out)
    assert back.skeleton.node_names == src.skeleton.node_names
    assert_tables_equal(back.labels, src.labels, columns=("frame_idx", "points", "state"))


def test_coco_keeps_occlusion_and_track_ids(shared_data, tmp_path):
    src = _load(shared_data, "flies/three_flies.slp")
    src.labels = src.labels.take(src.labels.frame_idx < 6)
    out = save_dataset(src, tmp_path / "coco.json", format="coco")
    import json

    for img in json.loads(out.read_text())["images"]:
        (tmp_path / img["file_name"]).write_bytes(b"")  # sleap-io only needs the files to exist
    back = load_dataset(out)
    a, b = src.labels, back.labels
    oa, ob = np.lexsort((a.track_id, a.frame_idx)), np.lexsort((b.track_id, b.frame_idx))
    a, b = a.take(oa), b.take(ob)
    np.testing.assert_array_equal(b.frame_idx, a.frame_idx)
    vis = a.state == 1
    np.testing.assert_array_equal(b.points[vis], a.points[vis])
    np.testing.assert_array_equal(b.state[vis], a.state[vis])
    assert (a.state == 2).any() and (b.state[a.state == 2] == 0).all()  # documented: sleap-io drops occluded
    # identities survive as COCO object ids, in the same order
    np.testing.assert_array_equal(b.track_id, a.track_id)
    assert len(back.track_names) == len(src.track_names)


def test_dlc_labels_round_trip_in_a_project(shared_data, tmp_path):
    src = _load(shared_data, "mouse-openfield")
    folder = tmp_path / "labeled-data" / "m4s1"
    _symlink_images(src.videos[0], folder)
    out = save_dataset(src, folder / "CollectedData_me.csv", format="dlc")
    back = load_dataset(out)
    assert back.skeleton.node_names == src.skeleton.node_names
    assert_tables_equal(back.labels, src.labels, columns=("frame_idx", "points", "state", "track_id"))
    import pandas as pd

    df = pd.read_csv(out, header=[0, 1, 2], index_col=0)
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert df.index[0] == "labeled-data/m4s1/img0000.png"


def test_dlc_multi_animal_round_trip(shared_data, tmp_path):
    src = _load(shared_data, "fixtures/dlc/madlc_230_config.yaml")
    folder = tmp_path / "labeled-data" / "video"
    _symlink_images(src.videos[0], folder)
    out = save_dataset(src, folder / "CollectedData_me.csv", format="dlc")
    back = load_dataset(out)
    assert back.track_names == src.track_names
    assert_tables_equal(back.labels, src.labels, columns=("frame_idx", "points", "state", "track_id"))
    import pandas as pd

    df = pd.read_csv(out, header=[0, 1, 2, 3], index_col=0)
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]


@pytest.mark.parametrize("fmt,name", [("dlc-h5", "pred.h5"), ("dlc-pred-csv", "pred.csv")])
def test_dlc_predictions_open_in_pandas_and_movement(shared_data, tmp_path, fmt, name):
    src = _load(shared_data, "proofreading/centered_pair_predictions.slp")
    out = save_dataset(src, tmp_path / name, format=fmt)
    import pandas as pd

    if fmt == "dlc-h5":
        df = pd.read_hdf(out, key="df_with_missing")
    else:
        df = pd.read_csv(out, header=[0, 1, 2, 3], index_col=0)
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert len(df) == src.videos[0].n_frames
    assert set(df.columns.get_level_values("coords")) == {"x", "y", "likelihood"}
    from movement.io import load_poses

    mds = load_poses.from_dlc_file(out)
    assert list(mds["individuals"].values) == src.track_names
    t = src.predictions
    tracked = t.take(t.track_id >= 0)
    r = tracked.take(np.arange(0, len(tracked), 97))
    for f, tid, pts, st, sc in zip(r.frame_idx, r.track_id, r.points, r.state, r.score):
        pos = mds["position"].sel(time=f, individuals=src.track_names[tid]).values.T  # (K, 2)
        conf = mds["confidence"].sel(time=f, individuals=src.track_names[tid]).values
        lab = st > 0
        np.testing.assert_allclose(pos[lab], pts[lab], rtol=0, atol=1e-4)
        np.testing.assert_allclose(conf[lab], sc[lab], rtol=0, atol=1e-6)
    back = load_dataset(out)
    assert back.track_names == src.track_names


@pytest.mark.parametrize("rel", ["flies/three_flies.slp", "fixtures/minimal_instance.pkg.slp"])
def test_store_round_trip(shared_data, tmp_path, rel):
    src = _load(shared_data, rel)
    out = save_dataset(src, tmp_path / "p.posetrack.zarr")
    back = load_dataset(out)
    assert back.skeleton == src.skeleton and back.track_names == src.track_names
    assert back.labels.equals(src.labels) and back.predictions.equals(src.predictions)
    assert [v.kind for v in back.videos] == [v.kind for v in src.videos]
    if src.videos[0].kind == "embedded":
        np.testing.assert_array_equal(back.videos[0].embedded["images"], src.videos[0].embedded["images"])
    from napari_posetrack.core.errors import FormatError

    with pytest.raises(FormatError, match="Refusing to overwrite"):
        save_dataset(src, out)


def test_dlc_labels_h5_matches_the_csv(shared_data):
    h5 = shared_data / "mouse-openfield" / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    if not h5.exists():
        pytest.skip("no CollectedData h5")
    a, b = load_dataset(h5), _load(shared_data, "mouse-openfield")
    assert a.skeleton.node_names == ["snout", "leftear", "rightear", "tailbase"]  # config order
    assert_tables_equal(a.labels, b.labels, columns=("frame_idx", "video_id", "points", "state", "track_id"))
    assert a.videos[0].image_paths == b.videos[0].image_paths


def test_dlc_multi_animal_labels_h5(shared_data, tmp_path):
    import pandas as pd

    src = _load(shared_data, "fixtures/dlc/madlc_230_config.yaml")
    folder = tmp_path / "labeled-data" / "video"
    _symlink_images(src.videos[0], folder)
    csv = save_dataset(src, folder / "CollectedData_me.csv", format="dlc")
    df = pd.read_csv(csv, header=[0, 1, 2, 3], index_col=0)
    df.to_hdf(folder / "CollectedData_me.h5", key="df_with_missing", mode="w")
    back = load_dataset(folder / "CollectedData_me.h5")
    assert back.track_names == src.track_names and back.skeleton.node_names == src.skeleton.node_names
    assert_tables_equal(back.labels, src.labels, columns=("frame_idx", "points", "state", "track_id"))


def test_dlc_project_export_with_frames(shared_data, tmp_path):
    src = _load(shared_data, "flies/three_flies.slp")
    src.labels = src.labels.take(np.isin(src.labels.frame_idx, [0, 5]))
    out = save_dataset(src, tmp_path / "flies-dlc", format="dlc-project")
    folder = out / "labeled-data" / "three_flies"
    assert sorted(p.name for p in folder.glob("*.png")) == ["img000.png", "img005.png"]
    import pandas as pd
    import yaml

    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["multianimalproject"] and cfg["multianimalbodyparts"] == src.skeleton.node_names
    assert cfg["individuals"] == src.track_names
    df = pd.read_hdf(folder / "CollectedData_napari-posetrack.h5")
    assert df.shape == (2, 3 * 13 * 2)
    back = load_dataset(out)  # through sleap-io's DeepLabCut project reader
    assert back.skeleton.node_names == src.skeleton.node_names and back.track_names == src.track_names
    a = src.labels.take(np.lexsort((src.labels.track_id, src.labels.frame_idx)))
    b = back.labels.take(np.lexsort((back.labels.track_id, back.labels.frame_idx)))
    vis = a.state == 1
    np.testing.assert_array_equal(b.points[vis], a.points[vis])
    np.testing.assert_array_equal(b.track_id, a.track_id)
    from napari_posetrack.core.video import read_frames
    from skimage.io import imread

    np.testing.assert_array_equal(imread(folder / "img005.png"),
                                  read_frames(src.videos[0].path, [5])[0][..., 0])
    with pytest.raises(Exception, match="Refusing to overwrite"):
        save_dataset(src, out, format="dlc-project")
    assert not list(tmp_path.glob(".*"))  # no leftovers


def test_nwb_predictions_keep_points_and_node_scores(shared_data, tmp_path):
    src = _load(shared_data, "proofreading/centered_pair_predictions.slp")
    src.predictions = src.predictions.take(src.predictions.frame_idx < 8)
    back = load_dataset(save_dataset(src, tmp_path / "pred.nwb"), check_videos="ignore")
    assert len(back.labels) == 0 and back.skeleton.node_names == src.skeleton.node_names
    untracked = src.predictions.with_columns(track_id=np.full(len(src.predictions), -1))
    a, b = _key(untracked), _key(back.predictions)
    lab = a.state > 0
    np.testing.assert_array_equal(b.points[lab], a.points[lab])
    np.testing.assert_array_equal(b.score[lab], a.score[lab])
