"""Part-affinity-field grouping: line-integral scores and assignment along the skeleton.

Pure numpy (the maps of one frame are small once on the host). PAF channels are laid out
per edge, interleaved: channel ``2*e`` is the x component and ``2*e + 1`` the y component
of edge ``e``'s unit vector field, in map pixel units (the layout the training targets use).

The algorithm (OpenPose / SLEAP):

1. For each edge ``(s, d)`` and each pair of candidate peaks (one of node ``s``, one of node
   ``d``), sample the PAF at ``n_samples`` points on the segment and take the dot product with
   the segment's unit direction. The score is the mean dot product plus a penalty for segments
   longer than ``max_edge_length``; a pair is valid when at least ``min_fraction`` of the
   samples exceed ``threshold`` and the score is positive.
2. Match the candidates of each edge one-to-one (Hungarian, or greedy by score).
3. Walk the edges in breadth-first order from the skeleton's roots and grow instances from
   the matched connections, merging two partial instances when a connection joins them and
   their nodes do not overlap.
4. Optionally (:func:`order_pair_sides`), left/right node pairs are put in the order across the
   body axis that the training labels keep (wingL left of wingR, seen along thorax -> head).
"""

from __future__ import annotations

import numpy as np

__all__ = ["edge_order", "score_connections", "match_connections", "group_instances", "order_sides", "order_pair_sides",
           "lateral"]


def edge_order(n_nodes: int, edges) -> list[int]:
    """Edge indices in breadth-first order from the roots (nodes with no incoming edge)."""
    edges = [tuple(map(int, e)) for e in edges]
    if not edges:
        return []
    adj: dict[int, list[int]] = {}
    for i, (a, b) in enumerate(edges):
        adj.setdefault(a, []).append(i)
        adj.setdefault(b, []).append(i)
    incoming = {b for _, b in edges}
    roots = [n for n in range(n_nodes) if n not in incoming and n in adj] or [edges[0][0]]
    order, seen_e, seen_n = [], set(), set()
    queue = list(roots)
    while len(order) < len(edges):
        if not queue:  # disconnected part without a root
            queue.append(next(a for i, (a, _) in enumerate(edges) if i not in seen_e))
        n = queue.pop(0)
        if n in seen_n:
            continue
        seen_n.add(n)
        for i in adj.get(n, []):
            if i not in seen_e:
                seen_e.add(i)
                order.append(i)
                a, b = edges[i]
                queue.append(b if a == n else a)
    return order


def score_connections(
    paf_xy: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    *,
    n_samples: int = 10,
    threshold: float = 0.05,
    min_fraction: float = 0.8,
    max_edge_length: float | None = None,
    dist_penalty_weight: float = 1.0,
    src_values: np.ndarray | None = None,
    dst_values: np.ndarray | None = None,
    peak_weight: float = 0.0,
) -> np.ndarray:
    """Line-integral scores between every source and destination candidate of one edge.

    Parameters
    ----------
    paf_xy : ndarray (2, H, W)
        The edge's field (x, y components), map pixel units.
    src : ndarray (n, 2)
        (x, y) of the source node's candidates, map pixel units.
    dst : ndarray (m, 2)
        (x, y) of the destination node's candidates.
    n_samples, threshold, min_fraction, max_edge_length, dist_penalty_weight
        See the module docstring. ``max_edge_length`` defaults to half the map's larger side.
    src_values, dst_values : ndarray (n,), (m,), optional
        Confidence of each candidate; with ``peak_weight`` > 0, a valid pair's score gains
        ``peak_weight * (src_value + dst_value) / 2``.

    Returns
    -------
    ndarray (n, m) float32
        Score of each pair; ``-inf`` where the pair is not a valid connection.
    """
    src = np.asarray(src, np.float32).reshape(-1, 2)
    dst = np.asarray(dst, np.float32).reshape(-1, 2)
    n, m = len(src), len(dst)
    if n == 0 or m == 0:
        return np.full((n, m), -np.inf, np.float32)
    _, h, w = paf_xy.shape
    if max_edge_length is None:
        max_edge_length = 0.5 * max(h, w)
    vec = dst[None, :, :] - src[:, None, :]  # (n, m, 2)
    dist = np.linalg.norm(vec, axis=-1)  # (n, m)
    unit = vec / np.maximum(dist, 1e-6)[..., None]
    t = np.linspace(0.0, 1.0, n_samples, dtype=np.float32)
    pts = src[:, None, None, :] + t[None, None, :, None] * vec[:, :, None, :]  # (n, m, S, 2)
    xi = np.clip(np.rint(pts[..., 0]).astype(np.int64), 0, w - 1)
    yi = np.clip(np.rint(pts[..., 1]).astype(np.int64), 0, h - 1)
    fx = paf_xy[0][yi, xi]
    fy = paf_xy[1][yi, xi]
    dots = fx * unit[:, :, None, 0] + fy * unit[:, :, None, 1]  # (n, m, S)
    mean = dots.mean(-1)
    penalty = np.minimum(max_edge_length / np.maximum(dist, 1e-6) - 1.0, 0.0) * dist_penalty_weight
    score = mean + penalty
    frac = (dots > threshold).mean(-1)
    valid = (frac >= min_fraction) & (score > 0) & (dist > 1e-6)
    if peak_weight and src_values is not None and dst_values is not None:
        vs = np.asarray(src_values, np.float32).reshape(n)
        vd = np.asarray(dst_values, np.float32).reshape(m)
        score = score + peak_weight * 0.5 * (vs[:, None] + vd[None, :])
    return np.where(valid, score, -np.inf).astype(np.float32)


def match_connections(scores: np.ndarray, method: str = "hungarian") -> list[tuple[int, int, float]]:
    """One-to-one matching of an edge's candidates.

    Parameters
    ----------
    scores : ndarray (n, m)
        From :func:`score_connections` (``-inf`` = invalid).
    method : {"hungarian", "greedy"}

    Returns
    -------
    list of (src_index, dst_index, score), best score first.
    """
    valid = np.isfinite(scores)
    if not valid.any():
        return []
    if method == "greedy":
        i, j = np.nonzero(valid)
        order = np.argsort(-scores[i, j], kind="stable")
        used_s, used_d, out = set(), set(), []
        for k in order:
            a, b = int(i[k]), int(j[k])
            if a in used_s or b in used_d:
                continue
            used_s.add(a)
            used_d.add(b)
            out.append((a, b, float(scores[a, b])))
        return out
    if method != "hungarian":
        from ...core.errors import ConfigError

        raise ConfigError(f"Unknown PAF matching {method!r}.", hint="Use 'hungarian' or 'greedy'.")
    from scipy.optimize import linear_sum_assignment

    cost = np.where(valid, -scores, 1e6)
    rows, cols = linear_sum_assignment(cost)
    out = [(int(a), int(b), float(scores[a, b])) for a, b in zip(rows, cols) if valid[a, b]]
    out.sort(key=lambda r: -r[2])
    return out


def group_instances(
    peaks: list[np.ndarray],
    values: list[np.ndarray],
    pafs: np.ndarray,
    edges,
    *,
    method: str = "hungarian",
    **score_kwargs,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group the candidate peaks of one frame into instances.

    Parameters
    ----------
    peaks : list of K ndarrays (n_k, 2)
        (x, y) candidates of each node, map pixel units.
    values : list of K ndarrays (n_k,)
        Confidence map value of each candidate.
    pafs : ndarray (2E, H, W)
        Part affinity fields of the frame (interleaved x, y per edge).
    edges : list of (int, int)
    method : {"hungarian", "greedy"}
    **score_kwargs
        Passed to :func:`score_connections` (``peak_weight`` uses ``values``).

    Returns
    -------
    points : ndarray (I, K, 2) float32
        NaN where an instance has no node.
    node_scores : ndarray (I, K) float32
        Peak values (NaN where missing).
    edge_scores : ndarray (I,) float32
        Sum of the PAF scores of the instance's connections.
    """
    k = len(peaks)
    edges = [tuple(map(int, e)) for e in edges]
    assign: list[np.ndarray] = []  # per instance: (K,) peak index or -1
    escore: list[float] = []
    owner: dict[tuple[int, int], int] = {}
    if not edges:  # every peak its own instance
        assign = [np.where(np.arange(k) == node, p, -1).astype(np.int64) for node in range(k)
                  for p in range(len(peaks[node]))]
        escore = [0.0] * len(assign)
    for e in edge_order(k, edges):
        s, d = edges[e]
        if 2 * e + 1 >= pafs.shape[0]:
            raise ValueError(f"PAFs have {pafs.shape[0]} channels; edge {e} needs channels {2*e} and {2*e+1}.")
        sc = score_connections(pafs[2 * e : 2 * e + 2], peaks[s], peaks[d], src_values=values[s],
                               dst_values=values[d], **score_kwargs)
        for i, j, score in match_connections(sc, method):
            a, b = owner.get((s, i)), owner.get((d, j))
            if a is None and b is None:
                row = np.full(k, -1, np.int64)
                row[s], row[d] = i, j
                assign.append(row)
                escore.append(score)
                owner[(s, i)] = owner[(d, j)] = len(assign) - 1
            elif b is None:
                if assign[a][d] == -1:
                    assign[a][d] = j
                    owner[(d, j)] = a
                    escore[a] += score
            elif a is None:
                if assign[b][s] == -1:
                    assign[b][s] = i
                    owner[(s, i)] = b
                    escore[b] += score
            elif a != b:
                ra, rb = assign[a], assign[b]
                if np.any((ra >= 0) & (rb >= 0)):
                    continue  # both already hold some node: do not merge
                ra[rb >= 0] = rb[rb >= 0]
                escore[a] += escore[b] + score
                for node in np.flatnonzero(rb >= 0):
                    owner[(int(node), int(rb[node]))] = a
                rb[:] = -1
                escore[b] = 0.0
    return _instances(assign, escore, peaks, values)


def _instances(assign: list, escore: list, peaks, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (I, K, 2), node scores (I, K) and edge scores (I,) of the non-empty assignment rows."""
    k = len(peaks)
    rows = [r for r in assign if (r >= 0).any()]
    keep_scores = [escore[i] for i, r in enumerate(assign) if (r >= 0).any()]
    n = len(rows)
    points = np.full((n, k, 2), np.nan, np.float32)
    node_scores = np.full((n, k), np.nan, np.float32)
    for r, row in enumerate(rows):
        for node in np.flatnonzero(row >= 0):
            points[r, node] = peaks[node][row[node]]
            node_scores[r, node] = values[node][row[node]]
    return points, node_scores, np.asarray(keep_scores, np.float32)


def lateral(anchor, heading, pts):
    """Signed distance-like offset of ``pts`` (..., 2) across the body axis anchor -> heading (image coordinates;
    the sign says the side, the value grows with the distance from the axis)."""
    u = np.asarray(heading, np.float64) - np.asarray(anchor, np.float64)
    v = np.asarray(pts, np.float64) - np.asarray(anchor, np.float64)
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def order_sides(points, node_scores, axis, sides, second_place, *, min_sep: float = 2.0):
    """Put each instance's left/right node pairs in the order across the body axis that the labels keep.

    A bottom-up model's maps of two mirror-image nodes (wingL / wingR) often fire on both parts, and the
    grouping then gives one instance both nodes on one wing, or the two swapped. For each instance with both
    axis nodes (``axis`` = (anchor, heading) indices) and each pair ``(left, right)`` of ``sides``:

    * both nodes on two places, in the wrong order across the axis: they are swapped;
    * both on one place (closer than ``min_sep`` map cells): ``second_place(r, p, v, left, right, used)`` names
      the best other peak for instance ``r`` (points ``p`` (K, 2), scores ``v`` (K,)) not in ``used`` (every
      place an instance holds), as ``(xy, value)`` or None, and the two places go to the two nodes by their
      order. How a peak is judged to belong to the instance is the grouping's: a connection of the part
      affinity fields (:func:`order_pair_sides`) or the class maps (``bottomup_id.group_frame_by_class``).

    Returns new ``(points, node_scores)``.
    """
    points = np.array(points, np.float32, copy=True)
    node_scores = np.array(node_scores, np.float32, copy=True)
    if not len(points) or not sides or len(axis) != 2:
        return points, node_scores
    ai, hi = int(axis[0]), int(axis[1])
    used = points[np.isfinite(points).all(-1)]
    for r in range(len(points)):
        p, v = points[r], node_scores[r]
        if not (np.isfinite(p[ai]).all() and np.isfinite(p[hi]).all()) or np.allclose(p[ai], p[hi]):
            continue
        for left, right in sides:
            if not (np.isfinite(p[left]).all() and np.isfinite(p[right]).all()):
                continue
            if np.hypot(*(p[left] - p[right])) >= min_sep:
                if lateral(p[ai], p[hi], p[left]) > lateral(p[ai], p[hi], p[right]):
                    p[[left, right]], v[[left, right]] = p[[right, left]], v[[right, left]]
                continue
            best = second_place(r, p, v, left, right, used)
            if best is None:
                continue
            q, qv = best
            spot, sv = p[left].copy(), float(np.nanmax([v[left], v[right]]))
            first = lateral(p[ai], p[hi], spot) < lateral(p[ai], p[hi], q)
            (p[left], v[left]), (p[right], v[right]) = ((spot, sv), (q, qv)) if first else ((q, qv), (spot, sv))
            used = np.concatenate([used, np.asarray(q, np.float32)[None]])
    return points, node_scores


def order_pair_sides(points, node_scores, peaks, values, pafs, edges, axis, sides, *, min_sep: float = 2.0,
                     **score_kwargs):
    """:func:`order_sides` for instances grouped by the part affinity fields: a pair on one place takes the
    best other peak of either node's map with a valid connection from the node's neighbour on the skeleton
    (scored as in :func:`score_connections`) that no instance holds.

    ``points`` (I, K, 2) and ``node_scores`` (I, K) from :func:`group_instances`; ``peaks``, ``values``, ``pafs``
    and ``edges`` as given to it. Returns new ``(points, node_scores)``.
    """
    edges = [tuple(map(int, e)) for e in edges]

    def second(_r, p, v, left, right, used):
        return _second_place(p, v, left, right, peaks, values, pafs, edges, used, min_sep, score_kwargs)

    return order_sides(points, node_scores, axis, sides, second, min_sep=min_sep)


def _second_place(p, v, left, right, peaks, values, pafs, edges, used, min_sep, score_kwargs):
    """The best peak of ``left``'s or ``right``'s map, away from their shared place, that is connected to the
    instance (points ``p``, scores ``v``) by the field of an edge of either node and not used by an instance:
    ``(xy, value)`` or None."""
    best, best_score = None, -np.inf
    for node in (left, right):
        for e, (s, d) in enumerate(edges):
            if node not in (s, d):
                continue
            other = s if d == node else d
            if other in (left, right) or not np.isfinite(p[other]).all() or 2 * e + 1 >= len(pafs):
                continue
            mine = np.array([np.nan_to_num(v[other], nan=1.0)], np.float32)
            for ch in (left, right):
                cand = np.asarray(peaks[ch], np.float32).reshape(-1, 2)
                if not len(cand):
                    continue
                val = np.asarray(values[ch], np.float32).reshape(-1)
                if s == other:
                    sc = score_connections(pafs[2 * e: 2 * e + 2], p[other][None], cand, src_values=mine,
                                           dst_values=val, **score_kwargs)[0]
                else:
                    sc = score_connections(pafs[2 * e: 2 * e + 2], cand, p[other][None], src_values=val,
                                           dst_values=mine, **score_kwargs)[:, 0]
                for j in np.flatnonzero(np.isfinite(sc)):
                    if np.hypot(*(cand[j] - p[left])) < min_sep:
                        continue
                    if len(used) and np.min(np.hypot(*(used - cand[j]).T)) < 1e-3:
                        continue
                    if sc[j] > best_score:
                        best, best_score = (cand[j].copy(), float(val[j])), float(sc[j])
    return best
