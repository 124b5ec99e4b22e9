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
"""

from __future__ import annotations

import numpy as np

__all__ = ["edge_order", "score_connections", "match_connections", "group_instances"]


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
        Passed to :func:`score_connections`.

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
        sc = score_connections(pafs[2 * e : 2 * e + 2], peaks[s], peaks[d], **score_kwargs)
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
