"""Multi-camera sessions: layouts, 2D poses on a common time axis, 3D exports, store record, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.errors import SkeletonMismatchError
from napari_posetrack.core.io import load_dataset, save_dataset
from napari_posetrack.core.multiview import (CalibrationError, SessionError, bone_lengths, load_calibration,
                                             load_from_store, load_netcdf3d, load_session, save_calibration,
                                             save_to_store, triangulate_session)
from napari_posetrack.core.multiview.synthetic import synthetic_rig, walking_points, write_synthetic_session
from napari_posetrack.core.skeleton import Skeleton

from conftest import shared_file

EDGES = [(0, 1), (1, 2), (2, 3)]


def _truth(group, pts):
    to0 = np.asarray(group.metadata["world_to_cam0"])
    return pts @ to0[:3, :3].T + to0[:3, 3]


@pytest.fixture()
def synth(tmp_path):
    group = synthetic_rig(3, dist=(-0.1, 0.0))
    pts = walking_points(8, 4)
    folder = write_synthetic_session(tmp_path / "sess", group, pts, node_names=["nose", "neck", "hip", "tail"],
                                     edges=EDGES, noise_px=0.3)
    return folder, group, pts


def test_folder_layout_of_the_real_session():
    root = shared_file("multiview", "board.toml").parent
    sess = load_session(root)
    assert sess.names == ["back", "mid", "side", "top"]
    back = sess.camera("back")
    assert back.video.name == "minimal_back.mp4" and back.labels.name == "minimal_back_proofread.slp"
    assert back.calibration_images.name == "calibration_images"
    assert sess.calibration.name == "calibration.toml" and sess.board.name == "board.toml"
    srcs = sess.calibration_sources()
    assert len(srcs["top"]) == 21 and all(p.suffix == ".jpg" for p in srcs["top"])
    with pytest.raises(SessionError, match=r"no camera 'front'; it has \['back', 'mid', 'side', 'top'\]"):
        sess.select(["front"])


def test_real_labels_with_the_reference_calibration_reject_its_side_camera():
    """The reference calibration gives side the parameters of top: RANSAC leaves side out."""
    root = shared_file("multiview", "board.toml").parent
    sess = load_session(root)
    poses = triangulate_session(sess)
    assert poses.points.shape == (120, 1, 15, 3) and poses.counts()["ok"] == 1800
    side = poses.cameras.index("side")
    assert poses.rejected[..., side].mean() > 0.8
    assert poses.rejected[..., poses.cameras.index("top")].mean() < 0.05


def test_synthetic_session_triangulates_to_the_truth_and_exports(synth, tmp_path):
    folder, group, pts = synth
    sess = load_session(folder)
    assert sess.names == ["cam0", "cam1", "cam2"] and sess.frame_counts() == {"cam0": 8, "cam1": 8, "cam2": 8}
    poses = triangulate_session(sess)
    truth = _truth(group, pts)
    assert np.nanmax(np.abs(poses.points[:, 0] - truth)) < 2.0  # mm, 0.3 px noise
    assert poses.counts() == {"ok": 32, "too few views": 0, "views disagree": 0, "not labelled in any view": 0}
    lengths = bone_lengths(poses.points, poses.edges)
    np.testing.assert_allclose(np.nanmedian(lengths, axis=(0, 1)), 40.0, atol=1.0)
    csv = poses.save(tmp_path / "p.csv")
    lines = csv.read_text().splitlines()
    assert lines[0] == "frame,individual,node,x,y,z,error_px,n_views,views,status"
    assert len(lines) == 1 + 8 * 4
    assert lines[1].startswith("0,animal,nose,") and lines[1].endswith(",3,cam0;cam1;cam2,ok")
    nc = poses.save(tmp_path / "p.nc", fps=30)
    ds = load_netcdf3d(nc)
    assert ds["position"].dims == ("time", "space", "keypoints", "individuals")
    assert list(ds["space"].values) == ["x", "y", "z"] and ds.sizes["time"] == 8
    np.testing.assert_allclose(ds["position"].values[:, :, :, 0], poses.points[:, 0].transpose(0, 2, 1), atol=1e-9)
    assert float(ds["confidence"].min()) == 1.0 and ds.attrs["space_unit"] == "mm"
    # two of three views
    two = triangulate_session(sess, views=["cam0", "cam2"])
    assert two.cameras == ["cam0", "cam2"] and (two.n_views == 2).all()


def test_session_file_with_offsets_and_unequal_frame_counts(tmp_path):
    group = synthetic_rig(2)
    pts = walking_points(10, 3)
    folder = write_synthetic_session(tmp_path / "s", group, pts, frame_counts={"cam1": 12})
    with pytest.raises(SessionError) as err:
        load_session(folder).load_views()
    msg = str(err.value)
    assert "different frame counts" in msg and "cam0 10, cam1 12" in msg
    assert "cam0 0, cam1 2" in msg and "offset" in msg
    views = load_session(folder).load_views(allow_unequal=True)
    assert views.points.shape[1] == 10
    (tmp_path / "s" / "session.toml").write_text(
        'name = "two"\ncalibration = "calibration.toml"\n'
        '[cameras.cam0]\nvideo = "cam0/cam0.mp4"\nlabels = "cam0/cam0.slp"\n'
        '[cameras.cam1]\nvideo = "cam1/cam1.mp4"\nlabels = "cam1/cam1.slp"\noffset = 2\n')
    sess = load_session(tmp_path / "s" / "session.toml")
    assert sess.name == "two" and sess.camera("cam1").offset == 2 and sess.n_frames() == 10
    (tmp_path / "s" / "session.yaml").write_text(
        "cameras:\n  cam0: {video: cam0/cam0.mp4, labels: cam0/cam0.slp}\n"
        "  cam1: {video: cam1/cam1.mp4, labels: cam1/cam1.slp, offset: 2}\n")
    assert load_session(tmp_path / "s" / "session.yaml").camera("cam1").offset == 2
    (tmp_path / "bad.toml").write_text('[cameras.a]\nvidoe = "x.mp4"\n')
    with pytest.raises(SessionError, match=r"unknown field\(s\) \['vidoe'\]"):
        load_session(tmp_path / "bad.toml")


def test_camera_without_calibration(synth, tmp_path):
    folder, group, _ = synth
    save_calibration(group.subset(["cam0", "cam1"]), tmp_path / "two.toml")
    sess = load_session(folder)
    with pytest.raises(CalibrationError) as err:
        sess.load_calibration(tmp_path / "two.toml")
    assert "['cam2'] of the session have no calibration" in str(err.value) and "--views" in str(err.value)
    (folder / "calibration.toml").unlink()
    with pytest.raises(CalibrationError, match="has no calibration"):
        triangulate_session(load_session(folder))


def test_skeleton_differing_between_views(synth):
    folder, _, _ = synth
    path = folder / "cam1" / "cam1.slp"
    ds = load_dataset(path, check_videos="ignore")
    other = Skeleton.from_names(["nose", "neck", "hips", "tail"])
    save_dataset(PoseDataset(other, ds.videos, labels=ds.labels), path, overwrite=True)
    with pytest.raises(SkeletonMismatchError) as err:
        load_session(folder).load_views()
    assert "camera 'cam1' differs from that of 'cam0'" in str(err.value) and "['hips']" in str(err.value)


def test_same_nodes_in_another_order_are_matched_by_name(synth):
    folder, group, pts = synth
    path = folder / "cam2" / "cam2.slp"
    ds = load_dataset(path, check_videos="ignore")
    perm = [3, 2, 1, 0]
    skel = Skeleton.from_names([ds.skeleton.node_names[i] for i in perm])
    lab = ds.labels.with_columns(points=ds.labels.points[:, perm], state=ds.labels.state[:, perm])
    save_dataset(PoseDataset(skel, ds.videos, labels=lab), path, overwrite=True)
    poses = triangulate_session(load_session(folder))
    assert np.nanmax(np.abs(poses.points[:, 0] - _truth(group, pts))) < 2.0


def test_labels_in_only_one_view_get_a_message_per_point(synth):
    folder, _, _ = synth
    for cam in ("cam1", "cam2"):
        path = folder / cam / f"{cam}.slp"
        ds = load_dataset(path, check_videos="ignore")
        p, st = ds.labels.points.copy(), ds.labels.state.copy()
        p[:, 3], st[:, 3] = np.nan, 0  # tail only labelled in cam0
        save_dataset(PoseDataset(ds.skeleton, ds.videos, labels=ds.labels.with_columns(points=p, state=st)), path,
                     overwrite=True)
    poses = triangulate_session(load_session(folder))
    assert poses.counts()["too few views"] == 8 and np.isnan(poses.points[:, 0, 3]).all()
    msgs = poses.messages()
    assert len(msgs) == 8
    assert msgs[0] == ("frame 0, animal, node tail: seen in 1 view (cam0); at least 2 are needed, so it has no 3D "
                       "position")


def test_untracked_animals_and_bad_session_paths(synth, tmp_path):
    folder, _, _ = synth
    path = folder / "cam0" / "cam0.slp"
    ds = load_dataset(path, check_videos="ignore")
    from napari_posetrack.core.posetable import PoseTable

    two = PoseTable.concat([ds.labels, ds.labels])
    save_dataset(PoseDataset(ds.skeleton, ds.videos, labels=two), path, overwrite=True)
    with pytest.raises(SessionError, match="several animals per frame, some without a track"):
        load_session(folder).load_views()
    with pytest.raises(SessionError, match="no camera folders"):
        load_session(tmp_path / "sess" / "cam0" / ".." / ".." )
    with pytest.raises(SessionError, match="does not exist"):
        load_session(tmp_path / "nope.toml")


def test_calibration_in_the_project_store(synth, tmp_path):
    from napari_posetrack.core.store import ProjectStore

    folder, group, _ = synth
    proj = tmp_path / "p.posetrack.zarr"
    store = ProjectStore.create(proj, Skeleton.from_names(["nose", "neck", "hip", "tail"]),
                                [VideoInfo(str(folder / "cam0" / "cam0.mp4"), n_frames=8)])
    store.close()
    with pytest.raises(CalibrationError, match="holds no camera calibration"):
        load_from_store(proj)
    save_to_store(proj, load_calibration(folder / "calibration.toml"), load_session(folder))
    back = load_from_store(proj)
    assert back.names == group.names
    np.testing.assert_allclose(back["cam2"].tvec, group["cam2"].tvec)
    store = ProjectStore.open(proj, mode="r")
    try:
        rec = store.get_attr("multiview")
    finally:
        store.close()
    assert rec["session"]["cameras"]["cam1"]["labels"].endswith("cam1.slp")


def test_bone_constraint_and_smoothing(synth):
    from napari_posetrack.core.multiview import constrain_bones, smooth_poses
    from napari_posetrack.core.multiview.triangulate import BONE_LENGTH

    folder, group, pts = synth
    poses = triangulate_session(load_session(folder))
    moved = poses.points.copy()
    moved[3, 0, 2] += [60.0, 0, 0]  # 'hip' of frame 3 is 60 mm off: bones neck-hip and hip-tail break
    poses.points = moved
    poses.error_px[3, 0, 2] = 50.0
    fixed, msgs = constrain_bones(poses, 0.3)
    assert fixed.status[3, 0, 2] == BONE_LENGTH and np.isnan(fixed.points[3, 0, 2]).all()
    assert (fixed.status[np.arange(8) != 3] == 0).all() and msgs and "node hip: bone" in msgs[0]
    assert fixed.counts()["bone length off"] == 1
    assert any("frame 3, animal, node hip: a bone to it" in m for m in fixed.messages())
    smooth = smooth_poses(poses, 3)
    assert np.abs(smooth.points[3, 0, 2] - poses.points[3, 0, 2]).max() > 30  # the spike is gone
    assert np.nanmax(np.abs(smooth.points[:, 0] - _truth(group, pts))) < 15  # walking by 3.6 mm per frame


def test_estimate_offsets_from_the_labels(tmp_path):
    from napari_posetrack.core.multiview import estimate_offsets

    group = synthetic_rig(3)
    pts = walking_points(16, 4)
    folder = write_synthetic_session(tmp_path / "s", group, pts, lead={"cam1": 3, "cam2": 1}, noise_px=0.3)
    sess = load_session(folder)
    assert sess.frame_counts() == {"cam0": 16, "cam1": 19, "cam2": 17}
    with pytest.raises(SessionError, match="--estimate-offsets"):
        sess.load_views()
    offsets, errors = estimate_offsets(sess, max_shift=5)
    assert offsets == {"cam0": 0, "cam1": 3, "cam2": 1}
    assert errors["cam1"][3] < 1.0 and errors["cam1"][3] < min(e for s, e in errors["cam1"].items() if s != 3)


def test_nwb_export_of_3d_poses(synth, tmp_path):
    pytest.importorskip("ndx_pose")
    from pynwb import NWBHDF5IO

    folder, _, _ = synth
    poses = triangulate_session(load_session(folder))
    path = poses.save(tmp_path / "p.nwb", fps=30)
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        pe = nwb.processing["behavior"]["PoseEstimation3D_animal"]
        assert sorted(pe.pose_estimation_series) == ["hip", "neck", "nose", "tail"]
        hip = pe.pose_estimation_series["hip"]
        np.testing.assert_allclose(hip.data[:], poses.points[:, 0, 2])
        assert hip.unit == "mm" and hip.rate == 30.0 and list(pe.skeleton.nodes[:]) == ["nose", "neck", "hip", "tail"]
