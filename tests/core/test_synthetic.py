"""Synthetic clips: ground truth consistent with the pixels, deterministic, fast long videos."""

from __future__ import annotations

import numpy as np

from napari_posetrack.core.posetable import OCCLUDED, VISIBLE
from napari_posetrack.core.synthetic import (
    SYNTHETIC_SKELETON,
    _occlusion,
    make_synthetic_clip,
    make_synthetic_video,
    read_frame_number,
    simulate_poses,
)
from napari_posetrack.core.video import open_video


def test_clip_dataset_and_pixels_agree(tmp_path):
    out = make_synthetic_clip(tmp_path, n_frames=40, n_animals=3, size=(128, 160), seed=3, gop=10)
    ds = out["dataset"]
    assert ds.skeleton.node_names == ["head", "thorax", "abdomen", "wing_left", "wing_right"]
    assert ds.skeleton.symmetry_names == [("wing_left", "wing_right")]
    assert len(ds.skeleton.edges) == 4 and ds.track_names == ["animal_0", "animal_1", "animal_2"]
    labels = ds.labels
    assert len(labels) == 40 * 3 and set(labels.frames()) == set(range(40))
    assert set(np.unique(labels.track_id)) == {0, 1, 2} and (labels.source == 0).all()
    assert set(np.unique(labels.state)) <= {VISIBLE, OCCLUDED}
    x, y = labels.points[..., 0], labels.points[..., 1]
    assert (x >= 0).all() and (x < 160).all() and (y >= 0).all() and (y < 128).all()
    info = ds.videos[0]
    assert (info.n_frames, info.height, info.width, info.channels) == (40, 128, 160, 1)
    with open_video(out["video"]) as reader:
        assert reader.shape == (40, 128, 160, 1)
        head, abdomen, background = [], [], []
        for row in range(0, len(labels), 7):
            frame = reader[int(labels.frame_idx[row])][..., 0].astype(float)
            hx, hy = np.round(labels.points[row, 0]).astype(int)
            ax, ay = np.round(labels.points[row, 2]).astype(int)
            if labels.state[row, 0] == VISIBLE:
                head.append(frame[hy, hx])
            if labels.state[row, 2] == VISIBLE:
                abdomen.append(frame[ay, ax])
            background.append(np.median(frame))
    # the head is the brightest part, the abdomen darker, both well above the background
    assert np.mean(head) > np.mean(abdomen) + 40 > np.mean(background) + 60


def test_clip_is_deterministic(tmp_path):
    a = make_synthetic_clip(tmp_path / "a", n_frames=12, size=(64, 64), seed=5)
    b = make_synthetic_clip(tmp_path / "b", n_frames=12, size=(64, 64), seed=5)
    c = make_synthetic_clip(tmp_path / "c", n_frames=12, size=(64, 64), seed=6)
    assert a["dataset"].labels.equals(b["dataset"].labels)
    assert not np.allclose(a["dataset"].labels.points, c["dataset"].labels.points)
    with open_video(a["video"]) as ra, open_video(b["video"]) as rb:
        np.testing.assert_array_equal(ra.read_frames(range(12)), rb.read_frames(range(12)))


def test_clip_reuse_skips_rendering(tmp_path):
    first = make_synthetic_clip(tmp_path, n_frames=10, size=(48, 48))
    mtime = first["video"].stat().st_mtime_ns
    again = make_synthetic_clip(tmp_path, n_frames=10, size=(48, 48), reuse=True)
    assert again["video"].stat().st_mtime_ns == mtime
    assert again["dataset"].labels.equals(first["dataset"].labels)
    first["video"].write_bytes(b"broken")
    fixed = make_synthetic_clip(tmp_path, n_frames=10, size=(48, 48), reuse=True)
    with open_video(fixed["video"]) as reader:
        assert reader.n_frames == 10


def test_motion_is_smooth_and_bounded():
    points, _ = simulate_poses(300, 2, (200, 300), seed=0)
    thorax = points[:, :, 1]
    step = np.linalg.norm(np.diff(thorax, axis=0), axis=-1)
    assert step.max() < 8 and step.mean() > 0.3  # moves, without jumps
    assert thorax[..., 0].min() >= 0 and thorax[..., 0].max() <= 300
    assert thorax[..., 1].min() >= 0 and thorax[..., 1].max() <= 200
    body = np.linalg.norm(points[:, :, 0] - points[:, :, 2], axis=-1)  # head to abdomen
    assert body.std() > 0.1  # the body bends
    assert body[:, 0].mean() > body[:, 1].mean()  # animal 0 is the larger one


def test_occlusion_marks_nodes_under_a_later_animal():
    points, ellipses = simulate_poses(1, 2, (100, 100), seed=0)
    pts, ell = points[0].copy(), ellipses[0].copy()
    ell[1] = ell[0]  # animal 1 drawn exactly over animal 0
    state = _occlusion(pts, ell)
    assert (state[0, :3] == OCCLUDED).all() and (state[1] == VISIBLE).all()
    ell[1, :, :2] += 80  # moved away
    assert (_occlusion(pts, ell) == VISIBLE).all()


def test_synthetic_video_frame_numbers(tmp_path):
    path = make_synthetic_video(tmp_path / "long.mp4", 500, (48, 96), gop=100, color=True, noise=10)
    with open_video(path, cache_bytes=0) as reader:
        assert reader.shape == (500, 48, 96, 3)
        assert [read_frame_number(f) for _, f in reader.iter_frames()] == list(range(500))
        assert read_frame_number(reader[321]) == 321


def test_skeleton_constant_is_valid():
    assert SYNTHETIC_SKELETON.flip_permutation() == [0, 1, 2, 4, 3]
