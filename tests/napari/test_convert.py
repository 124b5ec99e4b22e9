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


def test_frame_points_gathers_labels_then_predictions_of_one_frame():
    from napari_posetrack._napari.convert import frame_edges, frame_points

    t = make()
    labels, preds = t.take([0]), t.take([1, 2])
    preds = preds.with_columns(instance_score=np.array([0.875, 0.5], np.float32))
    fp = frame_points([(0, labels), (1, preds)], video_id=0, frame=0)
    # labels first (2 labeled nodes), then the frame-0 prediction (3 nodes); (x, y) -> (y, x)
    assert fp.source.tolist() == [0, 0, 1, 1, 1] and fp.row.tolist() == [0, 0, 0, 0, 0]
    assert fp.node.tolist() == [0, 1, 0, 1, 2] and fp.state.tolist() == [1, 2, 1, 1, 1]
    np.testing.assert_allclose(fp.yx[0], [2, 1])
    assert fp.label.tolist() == ["", "", "0.88", "", ""]  # the instance score beside its first node
    feats = fp.features()
    assert len(feats) == len(fp) == 5 and set(feats) >= {"node", "instance", "source", "track", "label"}
    vec, pred, track = frame_edges(fp, [(0, 1), (1, 2)], n_nodes=3)
    # user instance: only edge 0-1 has both nodes; the prediction: both edges
    assert len(vec) == 3 and pred.tolist() == [False, True, True] and track.tolist() == [1, 0, 0]
    np.testing.assert_allclose(vec[0], [[2, 1], [2, 2]])  # start (y, x) and direction
    assert len(frame_points([(0, labels)], video_id=0, frame=7)) == 0


def test_one_style_for_points_predictions_and_tracks():
    from napari_posetrack._napari.styles import (PREDICTED_SYMBOL, USER_SYMBOL, node_rgba, point_style,
                                                 static_points_kwargs, track_colors, track_rgba)
    from napari_posetrack._napari.convert import table_to_points
    from napari_posetrack.core.qc import node_colors

    node, state, source, track = [0, 1, 2, 0], [1, 2, 1, 1], [0, 0, 1, 1], [0, 0, 1, -1]
    s = point_style(node, state, source, track, n_nodes=3)
    assert list(s["symbol"]) == [USER_SYMBOL, USER_SYMBOL, PREDICTED_SYMBOL, PREDICTED_SYMBOL]
    assert s["face_color"][0, 3] == 1 and s["face_color"][1, 3] == 0  # occluded: a hollow ring
    assert np.allclose(s["face_color"][2:, 3], 0.45)  # predictions: half see-through
    np.testing.assert_allclose(s["face_color"][:, :3], node_rgba(node, 3)[:, :3])
    np.testing.assert_allclose(node_rgba([0, 1], 3)[:, :3], node_colors(3)[:2] / 255)  # the check-labels palette
    by_track = point_style(node, state, source, track, n_nodes=3, color_by="track")
    np.testing.assert_allclose(by_track["border_color"][2:], track_rgba([1, -1]))
    np.testing.assert_allclose(track_rgba([1, -1]), [track_colors(2)[1], [0.6, 0.6, 0.6, 1.0]])
    by_score = point_style(node, state, source, track, n_nodes=3, color_by="score", score=[np.nan, np.nan, 0.0, 1.0])
    assert not np.allclose(by_score["face_color"][2, :3], by_score["face_color"][3, :3])
    data, feats = table_to_points(make())
    kw = static_points_kwargs(feats, 3, predicted=True)
    assert kw["symbol"] == PREDICTED_SYMBOL and kw["face_color"].shape == (len(data), 4)
    empty = static_points_kwargs(feats.iloc[:0], 3)
    assert empty["face_color"] == "white" and empty["symbol"] == USER_SYMBOL


def test_score_text_stays_in_zero_one():
    from napari_posetrack._napari.convert import score_text

    assert score_text(0.8123, [0.1, 0.2]) == "0.81"  # our predictors' scores are shown as they are
    assert score_text(39.08, [0.9, 0.7, np.nan]) == "0.80"  # SLEAP's summed score: the mean node score
    assert score_text(np.nan, [np.nan]) == ""


def test_sleap_predictions_show_no_raw_scores(shared_data):
    """The real SLEAP file's instance scores run to 39; the text beside each prediction stays in [0, 1]."""
    from napari_posetrack._napari.convert import frame_points
    from napari_posetrack.core.io import load_dataset

    ds = load_dataset(shared_data / "proofreading" / "centered_pair_predictions.slp", check_videos="warn")
    preds = ds.predictions
    assert np.nanmax(preds.instance_score) > 1  # the raw scores this test is about
    frame = int(preds.frame_idx[np.nanargmax(preds.instance_score)])
    fp = frame_points([(1, preds)], 0, frame)
    texts = [t for t in fp.label if t]
    assert texts and all(0.0 <= float(t) <= 1.0 for t in texts), texts
