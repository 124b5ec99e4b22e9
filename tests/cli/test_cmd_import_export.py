"""`posetrack import` into stores and `posetrack export` out of them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_file
from napari_posetrack.cli import main
from napari_posetrack.workflows.export import export
from napari_posetrack.workflows.import_ import import_
from napari_posetrack.core.errors import FormatError, SkeletonMismatchError
from napari_posetrack.core.io import load_dataset

pytestmark = pytest.mark.filterwarnings("ignore")


def _store(tmp_path):
    return tmp_path / "proj.posetrack.zarr"


def test_import_two_files_then_a_third(tmp_path):
    two, single = shared_file("flies", "two_flies.slp"), shared_file("flies", "single_fly.slp")
    r = import_([two, single], _store(tmp_path))
    assert r["labels"] == 256 + 128 and r["videos"] == 2
    from napari_posetrack.core.store import ProjectStore

    with ProjectStore.open(_store(tmp_path), mode="r") as store:
        ds = store.load()
    src = load_dataset(two)
    assert ds.skeleton.node_names == src.skeleton.node_names
    v0 = ds.labels.take(ds.labels.video_id == 0)
    np.testing.assert_array_equal(v0.points, src.labels.points)
    assert [ds.track_names[t] for t in v0.track_id] == [src.track_names[t] for t in src.labels.track_id]
    assert (ds.labels.video_id == 1).sum() == 128
    # importing the same file again adds rows but no video (same path = same video)
    r2 = import_([two], _store(tmp_path))
    assert r2["videos"] == 2 and r2["labels"] == 256


def test_import_extends_skeleton_and_remaps_ids(tmp_path):
    r = import_([shared_file("fixtures", "minimal_instance.pkg.slp")], _store(tmp_path))
    assert r["skeleton"] == ["A", "B"]
    r = import_([shared_file("fixtures", "dlc", "madlc_230_config.yaml")], _store(tmp_path))
    assert r["skeleton"] == ["A", "B", "C", "D", "E"] and r["added_nodes"] == ["C", "D", "E"]
    ds = load_dataset(_store(tmp_path))
    assert len(ds.videos) == 2 and ds.track_names == ["Animal1", "Animal2", "single"]
    first = ds.labels.take(ds.labels.video_id == 0)
    assert len(first) == 2 and (first.state[:, 2:] == 0).all()  # new nodes are unlabeled in old rows
    madlc = load_dataset(shared_file("fixtures", "dlc", "madlc_230_config.yaml"))
    second = ds.labels.take(ds.labels.video_id == 1)
    np.testing.assert_array_equal(np.sort(second.track_id), np.sort(madlc.labels.track_id))


def test_import_with_skeleton_file(tmp_path):
    sk = tmp_path / "sk.json"
    sk.write_text(json.dumps({"node_names": ["B", "A", "Z"], "edges": [[0, 1]], "name": "mine"}))
    r = import_([shared_file("fixtures", "minimal_instance.pkg.slp")], _store(tmp_path), skeleton=sk)
    assert r["skeleton"] == ["B", "A", "Z"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"node_names": ["A"], "name": "small"}))
    with pytest.raises(SkeletonMismatchError) as err:
        import_([shared_file("fixtures", "minimal_instance.pkg.slp")], tmp_path / "other.posetrack.zarr",
                skeleton=bad)
    assert "minimal_instance.pkg.slp" in str(err.value)
    assert not (tmp_path / "other.posetrack.zarr").exists()  # nothing half-written


def test_import_records_missing_video(tmp_path, capsys):
    code = main(["import", str(shared_file("fixtures", "minimal_instance.slp")), "--out", str(_store(tmp_path))])
    assert code == 0
    out = capsys.readouterr().out
    assert "is not there" in out and "proofreading/centered_pair_low_quality.mp4" in out
    ds = load_dataset(_store(tmp_path), check_videos="ignore")
    assert len(ds.labels) == 2 and ds.videos[0].path.endswith("centered_pair_low_quality.mp4")


def test_export_each_format_from_a_store(tmp_path):
    import_([shared_file("fixtures", "dlc", "madlc_230_config.yaml")], _store(tmp_path))
    src = load_dataset(_store(tmp_path))
    for fmt, name in [("slp", "o.slp"), ("csv", "o.csv"), ("netcdf", "o.nc"), ("analysis", "o.h5"),
                      ("dlc-h5", "d.h5"), ("dlc-pred-csv", "p.csv"), ("coco", "o.json"), ("dlc", "d.csv")]:
        out = export(_store(tmp_path), fmt, tmp_path / name)
        assert out.stat().st_size > 0, fmt
    back = load_dataset(tmp_path / "o.slp", check_videos="ignore")
    assert back.labels.sorted().equals(src.labels.sorted()) and back.track_names == src.track_names
    import pandas as pd

    assert pd.read_hdf(tmp_path / "d.h5").shape[0] == 4


def test_export_cli_refuses_overwrite_and_unknown_format(tmp_path, capsys):
    src = shared_file("flies", "single_fly.slp")
    out = tmp_path / "x.slp"
    assert main(["export", str(src), "--format", "slp", "--out", str(out)]) == 0
    before = out.read_bytes()
    assert main(["export", str(src), "--format", "slp", "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["export", str(src), "--format", "slp", "--out", str(out), "--overwrite"]) == 0
    assert main(["export", str(src), "--format", "mat", "--out", str(tmp_path / "x.mat")]) == 1
    err = capsys.readouterr().err
    assert "Unsupported format 'mat'" in err and "netcdf" in err
    assert not (tmp_path / "x.mat").exists()
    with pytest.raises(FormatError, match="Video 3 does not exist"):
        export(src, "analysis", tmp_path / "v.h5", video=3)
    assert not (tmp_path / "v.h5").exists()


def test_skeleton_files_of_each_kind(tmp_path):
    from napari_posetrack.core.io.merge import load_skeleton_file

    dlc = load_skeleton_file(shared_file("fixtures", "dlc", "madlc_230_config.yaml"))
    assert dlc.node_names == ["A", "B", "C", "D", "E"] and ("A", "B") in dlc.edge_names
    slp = load_skeleton_file(shared_file("flies", "two_flies.slp"))
    assert slp.n_nodes == 13
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import skeleton_to_sleap

    sio.save_skeleton(skeleton_to_sleap(slp), str(tmp_path / "fly.json"))
    back = load_skeleton_file(tmp_path / "fly.json")  # SLEAP's JSON may list nodes in another order
    assert sorted(back.node_names) == sorted(slp.node_names)
    assert sorted(back.edge_names) == sorted(slp.edge_names)
    with pytest.raises(FormatError, match="does not exist"):
        load_skeleton_file(tmp_path / "none.json")
