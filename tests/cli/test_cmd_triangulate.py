"""``posetrack triangulate`` on a synthetic session with a known rig, and its bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.cli import main
from napari_posetrack.core.dataset import PoseDataset
from napari_posetrack.core.io import load_dataset, save_dataset
from napari_posetrack.core.multiview import load_netcdf3d, save_calibration
from napari_posetrack.core.multiview.synthetic import synthetic_rig, walking_points, write_synthetic_session


@pytest.fixture()
def session(tmp_path):
    group = synthetic_rig(3, dist=(-0.1, 0.0))
    pts = walking_points(6, 3)
    folder = write_synthetic_session(tmp_path / "sess", group, pts, node_names=["a", "b", "c"], edges=[(0, 1), (1, 2)],
                                     noise_px=0.2)
    return folder, group, pts


def test_triangulate_to_csv_and_netcdf(session, tmp_path, capsys):
    folder, group, pts = session
    csv, nc = tmp_path / "p.csv", tmp_path / "p.nc"
    assert main(["triangulate", str(folder), "--out", str(csv), str(nc)]) == 0
    out = capsys.readouterr().out
    assert "18 points triangulated from 3 cameras (cam0, cam1, cam2)" in out and "0 seen in fewer than 2 views" in out
    rows = csv.read_text().splitlines()
    assert len(rows) == 1 + 6 * 3 and all(r.endswith(",ok") for r in rows[1:])
    ds = load_netcdf3d(nc)
    to0 = np.asarray(group.metadata["world_to_cam0"])
    truth = pts @ to0[:3, :3].T + to0[:3, 3]
    got = ds["position"].values[:, :, :, 0].transpose(0, 2, 1)
    assert np.abs(got - truth).max() < 2.0
    assert main(["triangulate", str(folder), "--out", str(csv)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["triangulate", str(folder), "--views", "cam0", "cam2", "--out", str(tmp_path / "two.csv"),
                 "--smooth", "3", "--bone-tolerance", "0.5"]) == 0
    assert "from 2 cameras (cam0, cam2)" in capsys.readouterr().out


def test_points_in_one_view_are_reported(session, tmp_path, capsys):
    folder, _, _ = session
    for cam in ("cam0", "cam1"):
        path = folder / cam / f"{cam}.slp"
        ds = load_dataset(path, check_videos="ignore")
        p, st = ds.labels.points.copy(), ds.labels.state.copy()
        p[2, 1], st[2, 1] = np.nan, 0  # frame 2, node b only in cam2
        save_dataset(PoseDataset(ds.skeleton, ds.videos, labels=ds.labels.with_columns(points=p, state=st)), path,
                     overwrite=True)
    msgs = tmp_path / "msgs.txt"
    assert main(["triangulate", str(folder), "--out", str(tmp_path / "p.csv"), "--messages", str(msgs)]) == 0
    out = capsys.readouterr().out
    line = "frame 2, animal, node b: seen in 1 view (cam2); at least 2 are needed, so it has no 3D position"
    assert line in out and msgs.read_text().strip() == line and "1 seen in fewer than 2 views" in out
    row = [r for r in (tmp_path / "p.csv").read_text().splitlines() if r.startswith("2,animal,b,")][0]
    assert row == "2,animal,b,,,,,0,,too few views"


def test_triangulate_bad_input(session, tmp_path, capsys):
    folder, group, _ = session
    assert main(["triangulate", str(folder), "--out", str(tmp_path / "p.json")]) == 1
    assert "Use .csv, .nc (movement netCDF) and/or .nwb" in capsys.readouterr().err
    save_calibration(group.subset(["cam0", "cam1"]), tmp_path / "two.toml")
    assert main(["triangulate", str(folder), "--calibration", str(tmp_path / "two.toml"), "--out",
                 str(tmp_path / "p.csv")]) == 1
    assert "Camera(s) ['cam2'] of the session have no calibration" in capsys.readouterr().err
    assert main(["triangulate", str(folder), "--views", "cam0", "--out", str(tmp_path / "p.csv")]) == 1
    assert "at least 2 cameras" in capsys.readouterr().err
    assert main(["triangulate", str(folder), "--views", "cam9", "--out", str(tmp_path / "p.csv")]) == 1
    assert "no camera 'cam9'" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_estimate_offsets_then_triangulate(tmp_path, capsys):
    group = synthetic_rig(2)
    folder = write_synthetic_session(tmp_path / "s", group, walking_points(12, 3), lead={"cam0": 2})
    assert main(["triangulate", str(folder), "--out", str(tmp_path / "p.csv")]) == 1
    err = capsys.readouterr().err
    assert "cam0 14, cam1 12" in err and "--estimate-offsets" in err
    assert main(["triangulate", str(folder), "--out", str(tmp_path / "p.nc"), "--estimate-offsets", "4"]) == 0
    out = capsys.readouterr().out
    assert "estimated frame offsets: cam0 2, cam1 0" in out and "36 points triangulated" in out
    assert load_netcdf3d(tmp_path / "p.nc").attrs["frame_offsets"] == '{"cam0": 2, "cam1": 0}'


def test_reprojection_suspects_csv(session, tmp_path, capsys):
    folder, _, _ = session
    path = folder / "cam1" / "cam1.slp"
    ds = load_dataset(path, check_videos="ignore")
    p = ds.labels.points.copy()
    p[int(np.flatnonzero(ds.labels.frame_idx == 3)[0]), 1] += (40.0, 30.0)  # cam1, frame 3, node b: wrong
    save_dataset(PoseDataset(ds.skeleton, ds.videos, labels=ds.labels.with_columns(points=p)), path, overwrite=True)
    sus = tmp_path / "suspects.csv"
    assert main(["triangulate", str(folder), "--out", str(tmp_path / "p.csv"), "--suspects", str(sus),
                 "--quiet"]) == 0
    assert "1 reprojection suspect (labels more than 20 px from the other cameras)" in capsys.readouterr().out
    rows = sus.read_text().splitlines()
    assert rows[0] == "camera,frame,individual,node,error_px,rejected"
    cam, frame, ind, node, err, rejected = rows[1].split(",")
    assert (cam, frame, ind, node, rejected) == ("cam1", "3", "animal", "b", "1") and 45 < float(err) < 55
    assert len(rows) == 2


def _fingerprint(folder):
    """{relative path: bytes} of every file under ``folder`` (a store is untouched when this is unchanged)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_bad_input_leaves_the_project_store_untouched(session, tmp_path, capsys):
    """Each bad input of the issue with ``--store``: a clear message, no output, the store byte for byte as it was."""
    from napari_posetrack.core.multiview import load_session, save_to_store
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.core.store import ProjectStore

    folder, group, _ = session
    proj, partial = tmp_path / "p.posetrack.zarr", tmp_path / "partial.posetrack.zarr"
    for path, cal in ((proj, group), (partial, group.subset(["cam0", "cam1"]))):
        ProjectStore.create(path, Skeleton.from_names(["a", "b", "c"])).close()
        save_to_store(path, cal, load_session(folder))
    before = {p: _fingerprint(p) for p in (proj, partial)}
    out = tmp_path / "p.csv"

    def fails(args, *expected):
        assert main(["triangulate", *map(str, args), "--out", str(out)]) == 1
        err = capsys.readouterr().err
        for text in expected:
            assert text in err, (text, err)

    # a camera with no calibration (the store's calibration lacks cam2)
    fails([folder, "--store", partial], "Camera(s) ['cam2'] of the session have no calibration", "--views")
    # a calibration file from another tool with missing fields
    (tmp_path / "foreign.toml").write_text('[cam_0]\nname = "cam0"\nsize = [640, 480]\n')
    fails([folder, "--calibration", tmp_path / "foreign.toml"], "[cam_0]",
          "lacks the field(s) ['matrix', 'distortions', 'rotation', 'translation']")
    # unsynchronised videos with different frame counts: the counts, and offsets to try
    uneven = write_synthetic_session(tmp_path / "uneven", group, walking_points(6, 3), node_names=["a", "b", "c"],
                                     frame_counts={"cam1": 8})
    fails([uneven, "--store", proj], "different frame counts", "cam0 6, cam1 8, cam2 6", "offset")
    # a skeleton that differs between views
    path = folder / "cam1" / "cam1.slp"
    ds = load_dataset(path, check_videos="ignore")
    save_dataset(PoseDataset(Skeleton.from_names(["a", "b", "x"]), ds.videos, labels=ds.labels), path,
                 overwrite=True)
    fails([folder, "--store", proj], "camera 'cam1' differs from that of 'cam0'", "['x']", "['c']")
    assert not out.exists()
    assert {p: _fingerprint(p) for p in (proj, partial)} == before
