"""PAF grouping recovers known instances from rendered fields."""

import numpy as np
import pytest

from napari_posetrack.nn.inference.paf import edge_order, group_instances, match_connections, score_connections


def render_pafs(h, w, instances, edges, width=1.5):
    """(2E, H, W) unit vector fields along each instance's edges (interleaved x, y)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pafs = np.zeros((2 * len(edges), h, w), np.float32)
    for pts in instances:
        for e, (s, d) in enumerate(edges):
            a, b = pts[s], pts[d]
            v = b - a
            length = np.linalg.norm(v)
            u = v / length
            rx, ry = xx - a[0], yy - a[1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            m = (along >= -1) & (along <= length + 1) & (across <= width)
            pafs[2 * e][m] = u[0]
            pafs[2 * e + 1][m] = u[1]
    return pafs


SKEL_EDGES = [(0, 1), (1, 2), (1, 3)]  # head -> thorax -> abdomen, thorax -> wing


def two_instances():
    a = np.array([[10, 10], [20, 12], [32, 14], [22, 22]], np.float32)
    b = np.array([[50, 40], [40, 42], [30, 44], [38, 52]], np.float32)
    return [a, b]


def test_edge_order_is_connected_bfs():
    assert edge_order(4, SKEL_EDGES) == [0, 1, 2]
    assert edge_order(4, [(2, 3), (1, 2), (0, 1)]) == [2, 1, 0]
    assert edge_order(3, []) == []


def test_grouping_recovers_two_instances_in_any_peak_order():
    inst = two_instances()
    pafs = render_pafs(64, 64, inst, SKEL_EDGES)
    rng = np.random.default_rng(0)
    peaks, values = [], []
    for k in range(4):
        cand = np.stack([inst[0][k], inst[1][k]])
        cand = cand[rng.permutation(2)]
        peaks.append(cand)
        values.append(np.array([0.9, 0.8], np.float32))
    for method in ("hungarian", "greedy"):
        pts, node_scores, escore = group_instances(peaks, values, pafs, SKEL_EDGES, method=method)
        assert pts.shape == (2, 4, 2)
        got = sorted(pts.tolist(), key=lambda p: p[0][0])
        np.testing.assert_allclose(np.array(got), np.stack(inst))
        assert (escore > 2.5).all()  # three good connections each, ~1 per edge
        assert np.isfinite(node_scores).all()


def test_missing_node_and_spurious_peak():
    inst = two_instances()
    pafs = render_pafs(64, 64, inst, SKEL_EDGES)
    peaks = [np.stack([inst[0][k], inst[1][k]]) for k in range(4)]
    values = [np.ones(2, np.float32) for _ in range(4)]
    peaks[3] = inst[0][3][None]  # node 3 of instance b not detected
    values[3] = np.ones(1, np.float32)
    peaks[2] = np.concatenate([peaks[2], [[5.0, 60.0]]]).astype(np.float32)  # false positive, no PAF support
    values[2] = np.ones(3, np.float32)
    pts, _, _ = group_instances(peaks, values, pafs, SKEL_EDGES)
    assert len(pts) == 2
    b = pts[np.argmax(pts[:, 0, 0])]
    assert np.isnan(b[3]).all() and np.allclose(b[:3], inst[1][:3])
    assert not np.any(np.all(np.isclose(pts[:, 2], [5.0, 60.0]), -1))


def test_score_connections_rejects_wrong_direction_and_empty():
    inst = two_instances()
    pafs = render_pafs(64, 64, inst, SKEL_EDGES)
    s = score_connections(pafs[0:2], np.stack([inst[0][0], inst[1][0]]), np.stack([inst[0][1], inst[1][1]]))
    assert np.isfinite(s[0, 0]) and np.isfinite(s[1, 1])
    assert not np.isfinite(s[0, 1]) and not np.isfinite(s[1, 0])
    rev = score_connections(pafs[0:2], inst[0][1][None], inst[0][0][None])  # against the field
    assert not np.isfinite(rev).any()
    assert score_connections(pafs[0:2], np.zeros((0, 2)), inst[0][:1]).shape == (0, 1)
    assert match_connections(np.full((2, 2), -np.inf)) == []


def test_peak_confidence_breaks_a_tie_on_one_field_line():
    """A weak spurious peak on the same field line as the real part (a leg map firing on another leg) scores
    as well by the field alone; with the peak weight the strong peak wins, for both matchings."""
    pafs = np.zeros((2, 32, 128), np.float32)  # edges up to 64 cells long are not penalised
    pafs[0, 14:19, 5:60] = 1.0  # a field pointing +x along y = 16
    src = np.array([[10.0, 16.0]], np.float32)
    dst = np.array([[44.0, 16.0], [40.0, 16.0]], np.float32)  # a weak peak (0.25) and the real part (0.9)
    vd = np.array([0.25, 0.9], np.float32)
    plain = score_connections(pafs, src, dst)
    assert np.isfinite(plain).all() and abs(plain[0, 0] - plain[0, 1]) < 1e-6  # the field cannot tell
    weighted = score_connections(pafs, src, dst, src_values=np.array([0.8]), dst_values=vd, peak_weight=1.0)
    np.testing.assert_allclose(weighted - plain, [[0.525, 0.85]], atol=1e-6)
    pts, _, _ = group_instances([src, dst], [np.array([0.8], np.float32), vd], pafs, [(0, 1)], method="greedy")
    assert np.allclose(pts[0, 1], [44.0, 16.0])  # the field alone: a tie, the first candidate (the weak one) wins
    for method in ("greedy", "hungarian"):
        pts, _, _ = group_instances([src, dst], [np.array([0.8], np.float32), vd], pafs, [(0, 1)],
                                    method=method, peak_weight=1.0)
        assert len(pts) == 1 and np.allclose(pts[0, 1], [40.0, 16.0])
    assert not np.isfinite(score_connections(pafs, src, np.array([[10.0, 28.0]]), src_values=[0.8],
                                             dst_values=[1.0], peak_weight=1.0)).any()  # no field: still invalid


def _sided():
    """Anchor 0 at (20, 20), heading 1 straight up at (20, 10); its left/right pair 2|3 at x 15 | 25."""
    true = np.array([[20, 20], [20, 10], [15, 20], [25, 20]], np.float32)
    edges = [(0, 1), (0, 2), (0, 3)]
    return true, edges, render_pafs(40, 40, [true], edges)


def test_pair_sides_swap_a_pair_found_in_the_wrong_order():
    from napari_posetrack.nn.inference.paf import order_pair_sides

    true, edges, pafs = _sided()
    grouped = true.copy()[None]
    grouped[0, [2, 3]] = grouped[0, [3, 2]]  # the grouping swapped them
    scores = np.array([[0.9, 0.8, 0.7, 0.6]], np.float32)
    peaks = [true[k][None] for k in range(4)]
    values = [np.ones(1, np.float32)] * 4
    pts, sc = order_pair_sides(grouped, scores, peaks, values, pafs, edges, (0, 1), [(2, 3)])
    np.testing.assert_allclose(pts[0], true)
    np.testing.assert_allclose(sc[0], [0.9, 0.8, 0.6, 0.7])  # the scores travel with the points
    same, _ = order_pair_sides(grouped, scores, peaks, values, pafs, edges, (0, 1), [])  # no sides: unchanged
    np.testing.assert_allclose(same, grouped)


def test_pair_sides_give_a_pair_on_one_peak_the_second_connected_peak():
    from napari_posetrack.nn.inference.paf import order_pair_sides

    true, edges, pafs = _sided()
    grouped = true.copy()[None]
    grouped[0, 2] = true[3]  # both nodes on the right part (the left map fired there too)
    peaks = [true[0][None], true[1][None], true[3][None], np.stack([true[3], true[2], [5.0, 35.0]])]
    values = [np.ones(1, np.float32)] * 3 + [np.array([0.9, 0.5, 0.95], np.float32)]  # (5, 35): no field
    pts, sc = order_pair_sides(grouped, np.ones((1, 4), np.float32), peaks, values, pafs, edges, (0, 1), [(2, 3)],
                               peak_weight=1.0)
    np.testing.assert_allclose(pts[0], true)
    assert sc[0, 2] == pytest.approx(0.5)
    # a peak another instance already holds is not taken
    other = np.full((1, 4, 2), np.nan, np.float32)
    other[0, 3] = true[2]
    both = np.concatenate([grouped, other])
    pts, _ = order_pair_sides(both, np.ones((2, 4), np.float32), peaks, values, pafs, edges, (0, 1), [(2, 3)])
    np.testing.assert_allclose(pts[0], grouped[0])
