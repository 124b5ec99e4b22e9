"""Label QC: rendering labeled frames, bone/angle outliers, left/right swaps."""

import numpy as np

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.posetable import OCCLUDED, PoseTable
from napari_posetrack.core.progress import drain
from napari_posetrack.core.qc import (
    draw_instances, find_label_outliers, iter_render_labeled_frames, outlier_suggestions, robust_z,
    swap_candidates,
)
from napari_posetrack.core.skeleton import Skeleton

SK = Skeleton.from_names(["nose", "earL", "earR", "tail"],
                         [("nose", "earL"), ("nose", "earR"), ("earL", "tail"), ("earR", "tail")],
                         [("earL", "earR")])


def mice(n=30, seed=0):
    """Mice pointing in random directions: nose ahead, ears to the left/right, tail behind."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, -20], [-8, -8], [8, -8], [0, 25]], np.float32)
    pts = []
    for _ in range(n):
        a = rng.uniform(0, 2 * np.pi)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
        pts.append(base @ R.T * rng.uniform(0.95, 1.05) + rng.uniform(40, 60, 2) + rng.normal(0, 0.5, (4, 2)))
    return np.array(pts, np.float32)


def test_swaps_and_bone_outliers_are_flagged():
    pts = mice()
    pts[5, [1, 2]] = pts[5, [2, 1]]  # left/right swap
    pts[9, 3] += [60, 0]  # tail far away: long bones
    ds = PoseDataset(SK, [VideoInfo("v", 100, 120, 120, 1)],
                     labels=PoseTable.from_arrays(pts, frame_idx=np.arange(30) * 3))
    flags = swap_candidates(ds.labels, SK)
    assert np.flatnonzero(flags).tolist() == [5]
    out = find_label_outliers(ds)
    rows = [d["row"] for d in out]
    assert rows[0] == 5 and "likely left/right swap" in out[0]["reasons"]
    assert 9 in rows and any("tail" in r for r in out[rows.index(9)]["reasons"])
    assert len(rows) <= 4  # clean instances are not flagged
    sug = outlier_suggestions(ds)
    assert sug[0].tolist() == [0, 15] and [0, 27] in sug.tolist()


def test_robust_z_ignores_constant_columns():
    z = robust_z(np.array([[1.0, 5], [1, 5], [1, 5], [1, 50]]))
    assert np.all(z[:, 0] == 0) and z[3, 1] == 0  # MAD 0 -> 0, never inf


def test_render_labeled_frames(tmp_path):
    pts = mice(3)
    st = np.ones((3, 4), np.uint8)
    st[1, 3] = OCCLUDED
    labels = PoseTable.from_arrays(pts, frame_idx=[0, 0, 4], state=st)
    ds = PoseDataset(SK, [VideoInfo("/x/my video.mp4", 10, 100, 100, 1)], labels=labels)
    frames = {0: np.zeros((100, 100, 1), np.uint8), 4: np.full((100, 100, 1), 50, np.uint8)}
    paths = drain(iter_render_labeled_frames(ds, tmp_path / "qc", lambda v: frames), show=False)
    assert [p.name for p in paths] == ["my_video_v0_f000000.png", "my_video_v0_f000004.png"]
    import matplotlib.image as mpimg

    img = mpimg.imread(paths[0])
    assert img.shape[:2] == (100, 100)
    x, y = np.round(pts[0, 0]).astype(int)
    assert img[y, x, :3].max() > 0.5  # a node dot is drawn on the black frame
    # occluded node: a ring, its centre untouched
    drawn = draw_instances(frames[0], labels.take([1]), [], radius=4)
    x, y = np.round(pts[1, 3]).astype(int)
    assert drawn[y, x].sum() == 0 and drawn[y, x + 4].sum() > 0
