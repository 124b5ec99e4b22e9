"""The format registry, detection, and bad input (typed errors, nothing half-written)."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.errors import FormatError, MissingVideoError, SkeletonMismatchError
from napari_posetrack.core.io import FORMATS, FormatSpec, detect_format, load_dataset, register_format, save_dataset
from napari_posetrack.core.io.videos import MissingVideoWarning
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.skeleton import Skeleton
from conftest import shared_file


def _tiny_dataset(n_frames=4) -> PoseDataset:
    sk = Skeleton.from_names(["head", "tail"], [("head", "tail")], name="worm")
    pts = np.arange(n_frames * 2 * 2, dtype=np.float32).reshape(n_frames, 2, 2)
    table = PoseTable.from_arrays(pts, frame_idx=np.arange(n_frames), track_id=0)
    return PoseDataset(skeleton=sk, videos=[VideoInfo("clip.mp4", n_frames, 32, 32, 1, 10.0)],
                       track_names=["a"], labels=table)


def test_registry_lists_read_and_write_formats():
    for name in ["slp", "pkg.slp", "dlc", "dlc-project", "nwb", "coco", "analysis", "csv", "netcdf", "dlc-h5"]:
        assert name in FORMATS, name
    assert FORMATS["slp"].load is not None and FORMATS["slp"].save is not None
    assert FORMATS["dlc-labels-h5"].save is None  # read only
    assert FORMATS["store"].atomic is False and FORMATS["dlc-project"].atomic is False  # folders
    assert set(FORMATS["slp"].carries) >= {"occlusion", "scores", "tracks", "images"}


def test_register_format_adds_a_saver_without_touching_dispatch(tmp_path):
    calls = []

    def save(ds, path, **kw):
        path.write_text("x")
        calls.append(path)

    register_format(FormatSpec("dummy-test", "a test format", ("*.dummy",), None, save))
    try:
        out = save_dataset(_tiny_dataset(), tmp_path / "a.dummy")
        assert out.read_text() == "x" and len(calls) == 1
        assert calls[0] != out  # written to a temporary path, then moved
    finally:
        FORMATS.pop("dummy-test")


def test_unknown_format_lists_supported(tmp_path):
    with pytest.raises(FormatError) as err:
        save_dataset(_tiny_dataset(), tmp_path / "x.abc", format="abc")
    text = str(err.value)
    assert "'abc'" in text and "slp" in text and "netcdf" in text and "dlc-h5" in text
    with pytest.raises(FormatError, match="Cannot tell which format"):
        save_dataset(_tiny_dataset(), tmp_path / "x.abc")
    with pytest.raises(FormatError, match="several formats"):
        save_dataset(_tiny_dataset(), tmp_path / "x.csv")


def test_export_refuses_existing_file_unless_overwrite(tmp_path):
    out = tmp_path / "out.slp"
    out.write_bytes(b"precious")
    with pytest.raises(FormatError, match="Refusing to overwrite") as err:
        save_dataset(_tiny_dataset(), out, format="slp")
    assert "overwrite" in err.value.hint
    assert out.read_bytes() == b"precious"
    save_dataset(_tiny_dataset(), out, format="slp", overwrite=True)
    assert load_dataset(out, check_videos="ignore").labels.equals(_tiny_dataset().labels)


def test_failed_export_leaves_nothing(tmp_path):
    def boom(ds, path, **kw):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    register_format(FormatSpec("boom-test", "fails", ("*.boom",), None, boom))
    try:
        with pytest.raises(FormatError, match="disk full") as err:
            save_dataset(_tiny_dataset(), tmp_path / "a.boom")
        assert "Nothing was written" in err.value.hint
    finally:
        FORMATS.pop("boom-test")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path):
    out = tmp_path / "a.h5"
    out.write_bytes(b"old")
    ds = _tiny_dataset()
    ds.videos = []  # the analysis format needs a video: the saver fails
    with pytest.raises(FormatError):
        save_dataset(ds, out, format="analysis", overwrite=True)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]


def test_export_to_missing_folder_says_so(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        save_dataset(_tiny_dataset(), tmp_path / "nope" / "a.slp")


def test_missing_and_unrecognised_input(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        load_dataset(tmp_path / "absent.slp")
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    with pytest.raises(FormatError, match="Cannot tell the format") as err:
        load_dataset(odd)
    assert "format=" in err.value.hint
    with pytest.raises(FormatError, match="Unsupported format"):
        load_dataset(odd, format="xyz")


def test_truncated_slp_raises_format_error_naming_file(tmp_path):
    src = shared_file("flies", "two_flies.slp")
    bad = tmp_path / "two_flies.slp"
    data = src.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(FormatError) as err:
        load_dataset(bad)
    assert str(bad) in str(err.value) and err.value.hint
    garbage = tmp_path / "garbage.slp"
    garbage.write_bytes(b"\x00not hdf5" * 50)
    with pytest.raises(FormatError, match="garbage.slp"):
        load_dataset(garbage)


def test_corrupt_dlc_csv_and_flat_csv(tmp_path):
    bad = tmp_path / "CollectedData_x.csv"
    bad.write_text("scorer,a,a\nbodyparts,nose\n")
    with pytest.raises(FormatError, match="CollectedData_x.csv"):
        load_dataset(bad)
    ds = _tiny_dataset()
    flat = save_dataset(ds, tmp_path / "flat.csv", format="csv")
    lines = flat.read_text().splitlines()
    flat.write_text("\n".join(lines[:-1]) + "\n")  # drop the last node row
    with pytest.raises(FormatError, match="truncated"):
        load_dataset(flat)


def test_skeleton_mismatch_on_import():
    path = shared_file("flies", "two_flies.slp")
    wrong = Skeleton.from_names(["head", "thorax"], name="tiny")
    with pytest.raises(SkeletonMismatchError) as err:
        load_dataset(path, skeleton=wrong)
    assert str(path) in str(err.value) and "abdomen" in str(err.value) and err.value.hint
    # a skeleton with the same nodes in another order (and one more) maps by name
    src = load_dataset(path)
    names = list(reversed(src.skeleton.node_names)) + ["tail"]
    target = Skeleton.from_names(names, name="fly+")
    ds = load_dataset(path, skeleton=target)
    assert ds.skeleton.node_names == names
    j = names.index("head")
    np.testing.assert_array_equal(ds.labels.points[:, j], src.labels.points[:, 0])
    assert (ds.labels.state[:, -1] == 0).all()


def test_missing_video_warns_with_candidates_and_still_imports():
    path = shared_file("fixtures", "minimal_instance.slp")
    shared_file("proofreading", "centered_pair_low_quality.mp4")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = load_dataset(path)
    assert len(ds.labels) == 2
    assert ds.videos[0].path.endswith("centered_pair_low_quality.mp4")  # the recorded path is kept
    msgs = [w for w in rec if issubclass(w.category, MissingVideoWarning)]
    assert msgs and "proofreading/centered_pair_low_quality.mp4" in str(msgs[0].message)
    with pytest.raises(MissingVideoError) as err:
        load_dataset(path, check_videos="raise")
    assert any(c.endswith("proofreading/centered_pair_low_quality.mp4") for c in err.value.candidates)
    assert "Relink" in err.value.hint


def test_missing_video_without_candidates(tmp_path):
    src = shared_file("fixtures", "minimal_instance.slp")
    lonely = tmp_path / "deep" / "er" / "minimal_instance.slp"
    lonely.parent.mkdir(parents=True)
    shutil.copy(src, lonely)
    with pytest.raises(MissingVideoError) as err:
        load_dataset(lonely, check_videos="raise")
    assert err.value.candidates == [] and str(lonely) in str(err.value)


def test_detect_formats_of_real_files(shared_data):
    cases = {
        "flies/two_flies.slp": "slp",
        "fixtures/minimal_instance.pkg.slp": "pkg.slp",
        "mouse-openfield": "dlc-project",
        "mouse-openfield/config.yaml": "dlc-project",
        "mouse-openfield/labeled-data/m4s1/CollectedData_Pranav.csv": "dlc",
        "fixtures/dlc/madlc_230_config.yaml": "dlc-project",
    }
    for rel, name in cases.items():
        assert detect_format(shared_data / rel).name == name, rel


def test_dlc_imports_keep_config_order_and_unlabeled_nodes(shared_data):
    csv = shared_data / "mouse-openfield" / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv"
    for path in (csv, shared_data / "mouse-openfield" / "config.yaml"):
        ds = load_dataset(path)
        assert ds.skeleton.node_names == ["snout", "leftear", "rightear", "tailbase"], path  # not alphabetical
        assert ds.videos[0].kind == "images" and len(ds.videos[0].image_paths) == 116
    # the first row of the CSV, in config order
    np.testing.assert_allclose(ds.labels.sorted().points[0], [[21.521, 265.428], [33.819, 265.941],
                                                              [19.984, 250.056], [87.11, 152.698]], atol=1e-3)
    single = load_dataset(shared_data / "fixtures" / "dlc" / "labeled-data" / "video" / "dlc_testdata.csv")
    t = single.labels.sorted()
    assert single.skeleton.node_names == ["A", "B", "C"] and list(t.frame_idx) == [0, 1, 3]  # img002 is empty
    assert list(t.state[1]) == [1, 0, 1] and np.isnan(t.points[1, 1]).all()  # B left empty in DLC
    multi = load_dataset(shared_data / "fixtures" / "dlc" / "labeled-data" / "video" / "madlc_testdata.csv")
    assert multi.track_names == ["Animal1", "Animal2"]
    m = multi.labels.sorted()
    assert list(m.track_id[:2]) == [0, 1]
