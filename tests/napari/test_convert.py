"""Layer conversion is pure: pose table <-> napari Points/Shapes/Tracks data."""

import numpy as np

from napari_posetrack._napari.convert import points_to_table, table_to_edges, table_to_points, table_to_tracks
from napari_posetrack.core.posetable import OCCLUDED, VISIBLE, PoseTable


def make():
    pts = np.array(
        [[[1, 2], [3, 4], [np.nan, np.nan]], [[10, 20], [30, 40], [50, 60]], [[5, 6], [7, 8], [9, 9]]], np.float32
    )
    return PoseTable.from_arrays(
        pts,
        frame_idx=[0, 0, 3],
        track_id=[1, 0, 1],
        state=[[VISIBLE, OCCLUDED, 0], [1, 1, 1], [1, 1, 2]],
        score=np.arange(9, dtype=np.float32).reshape(3, 3),
        source=[0, 1, 1],
        video_id=[0, 0, 2],
    )


def test_points_are_frame_y_x_and_round_trip():
    t = make()
    data, feats = table_to_points(t)
    assert data.shape == (8, 3)
    np.testing.assert_array_equal(data[0], [0, 2, 1])  # (frame, y, x)
    assert list(feats["state"][:2]) == [VISIBLE, OCCLUDED]
    back = points_to_table(data, feats, n_nodes=3)
    score = t.score.copy()
    score[0, 2] = np.nan  # an unlabeled node has no point, so no score comes back
    assert back.equals(t.with_columns(score=score))


def test_edges_only_between_labeled_nodes():
    lines, inst = table_to_edges(make(), [(0, 1), (1, 2)])
    assert lines.shape == (5, 2, 3)
    assert inst.tolist() == [0, 1, 1, 2, 2]
    np.testing.assert_array_equal(lines[0], [[0, 2, 1], [0, 4, 3]])


def test_tracks_are_sorted_by_track_then_frame():
    tr = table_to_tracks(make())
    assert tr[:, 0].tolist() == [0, 1, 1]
    assert tr[:, 1].tolist() == [0, 0, 3]
