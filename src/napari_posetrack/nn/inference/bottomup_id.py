"""Multi-class bottom-up inference: node peaks grouped into animals by the class maps.

A ``bottomup-id`` model (:mod:`napari_posetrack.nn.identity_bottomup`) has confidence maps
(one channel per node) and class maps (one channel per identity class). For every frame:

1. every local peak of every node's confidence map is found (the same peak finding and
   refinement as bottom-up, :func:`~.decode.local_points`);
2. **every node peak goes to the identity whose class map is highest at the peak**; where two
   peaks of one node would go to the same class, the peaks of that node are matched to the
   classes by Hungarian matching on ``peak value x class-map value`` (which is the plain
   highest class whenever there is no such conflict), so that an animal gets at most one peak
   per node. Peaks whose class-map value stays below :data:`MIN_CLASS_SCORE` for every class
   belong to no known animal and are dropped, as are the peaks left over when a node has
   more peaks than there are classes;
3. when the model recorded its left/right pairs (``data.side_axis`` / ``data.pair_sides``, as bottom-up
   models do), each animal's pairs are put in the order across its body axis that the labels keep: a
   swapped pair is swapped back, and a pair on one place (both maps fired on one eye) takes the best other
   peak of either map that the class maps give to the same animal (:func:`~.paf.order_sides`);
4. the peaks of a class make one instance, whose class scores are the mean of the class-map
   values at its nodes (normalised to sum 1: its class probabilities);
5. within the frame, classes are assigned by Hungarian matching on those probabilities
   (:func:`napari_posetrack.core.identity.assign_identities`), so no two instances share a class.

There are no part affinity fields: the grouping does not depend on the skeleton's edges, and
what decides which animal a node belongs to is its appearance in this frame alone.
"""

from __future__ import annotations

import numpy as np

from ...core.identity import assign_identities
from ..identity_predict import FrameResults, IdentityTableMixin
from .predictors import BottomUpPredictor, _inside_frame, _unscale_np

__all__ = ["MIN_CLASS_SCORE", "class_scores_at", "group_by_class", "group_frame_by_class",
           "BottomUpIdentityPredictor"]

#: a node peak whose class maps all stay below this value belongs to no known animal
MIN_CLASS_SCORE = 0.1


def class_scores_at(classmaps: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Class-map values (P, C) of one frame's maps (C, H, W) at peaks ``xy`` (P, 2) in map units (nearest cell)."""
    c, h, w = classmaps.shape
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    if not len(xy):
        return np.zeros((0, c), np.float32)
    xi = np.clip(np.round(np.nan_to_num(xy[:, 0])), 0, w - 1).astype(np.int64)
    yi = np.clip(np.round(np.nan_to_num(xy[:, 1])), 0, h - 1).astype(np.int64)
    return np.asarray(classmaps[:, yi, xi].T, np.float32)


def group_frame_by_class(peaks, values, scores, n_classes: int, min_class_score: float = MIN_CLASS_SCORE,
                         axis=(), sides=()):
    """Group one frame's node peaks into one instance per class.

    Parameters
    ----------
    peaks : list of K arrays (P_k, 2)
        Peaks of each node (map units).
    values : list of K arrays (P_k,)
        Their confidence-map values.
    scores : list of K arrays (P_k, C)
        Class-map values at each peak (:func:`class_scores_at`).
    axis, sides : optional
        The body axis (anchor, heading) and the left/right pairs whose order across it the labels keep
        (``data.side_axis`` / ``data.pair_sides``, recorded when the model was trained). A pair found in the
        wrong order is swapped; a pair on one place takes the best other peak of either node's map that the
        class maps give to the same animal and no animal holds (:func:`~.paf.order_sides`).

    Returns
    -------
    points (I, K, 2) map units (NaN = node not found), node_scores (I, K), instance_scores (I,),
    probs (I, C) class probabilities, classes (I,) class of each instance: one instance per class
    that got at least one node, in class order.
    """
    from scipy.optimize import linear_sum_assignment

    k = len(peaks)
    pts = np.full((n_classes, k, 2), np.nan, np.float32)
    node_scores = np.full((n_classes, k), np.nan, np.float32)
    peaks = [np.asarray(q, np.float32).reshape(-1, 2) for q in peaks]
    values = [np.asarray(v, np.float64).reshape(-1) for v in values]
    scores = [np.clip(np.asarray(sc, np.float64).reshape(len(q), n_classes), 0.0, None) for q, sc in zip(peaks, scores)]
    for j in range(k):
        if not len(peaks[j]):
            continue
        gain = values[j][:, None] * scores[j]
        rows, cols = linear_sum_assignment(-gain)
        for r, c in zip(rows, cols):
            if scores[j][r, c] < min_class_score:
                continue
            pts[c, j] = peaks[j][r]
            node_scores[c, j] = values[j][r]
    if sides and len(axis) == 2:
        pts, node_scores = _order_sides_by_class(pts, node_scores, peaks, values, scores, axis, sides,
                                                 min_class_score)
    class_sum, n_nodes = _class_sums(pts, peaks, scores, n_classes)
    found = np.flatnonzero(n_nodes > 0)
    mean = class_sum[found] / n_nodes[found, None]
    total = mean.sum(1, keepdims=True)
    probs = np.where(total > 0, mean / np.where(total > 0, total, 1.0), 1.0 / max(n_classes, 1)).astype(np.float32)
    inst = np.nanmean(np.where(np.isfinite(node_scores[found]), node_scores[found], 0.0), axis=1) if len(found) \
        else np.zeros(0)
    return pts[found], node_scores[found], np.asarray(inst, np.float32), probs, found.astype(np.int64)


def _class_sums(pts, peaks, scores, n_classes):
    """Sum (C, C) of the class-map values at each class's nodes, and each class's node count (C,). A node's place
    is one of the frame's peaks (of its own map, or of its mirror-image node's after the side ordering), and the
    class-map values depend on the place only, so any peak there gives them."""
    class_sum = np.zeros((n_classes, n_classes), np.float64)
    n_nodes = np.zeros(n_classes, np.int64)
    places = np.concatenate(peaks) if peaks else np.zeros((0, 2), np.float32)
    if not len(places):
        return class_sum, n_nodes
    values = np.concatenate(scores)
    for c, j in zip(*np.nonzero(np.isfinite(pts).all(-1))):
        hit = np.flatnonzero(np.abs(places - pts[c, j]).max(1) < 1e-4)
        if len(hit):
            class_sum[c] += values[hit[0]]
            n_nodes[c] += 1
    return class_sum, n_nodes


def _order_sides_by_class(pts, node_scores, peaks, values, scores, axis, sides, min_class_score):
    """:func:`~.paf.order_sides` for the class-map grouping (rows of ``pts`` are the classes): a pair on one
    place takes the peak of either node's map with the highest ``value x class-map value`` among those whose
    highest class map is this instance's class (at least ``min_class_score``)."""
    from .paf import order_sides

    def second(c, p, _v, left, right, used):
        best, best_gain = None, -np.inf
        for ch in (left, right):
            q, val, sc = peaks[ch], values[ch], scores[ch]
            for i in range(len(q)):
                if sc[i, c] < min_class_score or sc[i, c] < sc[i].max():
                    continue
                if np.hypot(*(q[i] - p[left])) < 2.0:
                    continue
                if len(used) and np.min(np.hypot(*(used - q[i]).T)) < 1e-3:
                    continue
                gain = val[i] * sc[i, c]
                if gain > best_gain:
                    best, best_gain = (q[i].copy(), float(val[i])), gain
        return best

    return order_sides(pts, node_scores, axis, sides, second)


def group_by_class(b, c, xy, val, classmaps, n_frames: int, n_nodes: int,
                   min_class_score: float = MIN_CLASS_SCORE, axis=(), sides=()) -> list:
    """:func:`group_frame_by_class` for every frame of a batch.

    Parameters
    ----------
    b, c, xy, val : outputs of :func:`~.decode.local_points` (tensors or arrays): frame, node, map-unit
        position and value of every peak
    classmaps : ndarray (B, C, H, W)
    axis, sides : the body axis and left/right pairs (:func:`~.decode.body_axis_sides`), optional

    Returns
    -------
    list of (points (I, K, 2) map units, node_scores (I, K), instance_scores (I,), probs (I, C)) per frame
    (the same first three items as :func:`~.decode.group_frames`).
    """
    b, c, xy, val = (np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t) for t in (b, c, xy, val))
    classmaps = np.asarray(classmaps)
    n_classes = classmaps.shape[1]
    out = []
    for i in range(n_frames):
        sel = b == i
        ci, xyi, vi = c[sel], xy[sel], val[sel]
        sc = class_scores_at(classmaps[i], xyi)
        peaks = [xyi[ci == j] for j in range(n_nodes)]
        values = [vi[ci == j] for j in range(n_nodes)]
        scores = [sc[ci == j] for j in range(n_nodes)]
        pts, ns, inst, probs, _ = group_frame_by_class(peaks, values, scores, n_classes, min_class_score,
                                                       axis=axis, sides=sides)
        out.append((pts, ns, inst, probs))
    return out


class BottomUpIdentityPredictor(IdentityTableMixin, BottomUpPredictor):
    """All animals at once, each node given to an identity class by the class maps (see the module docstring).

    In the pose table the instance's ``track_id`` is its class (the track names are the classes,
    :attr:`class_names`), its ``tracking_score`` the probability of that class, and ``identity_probs``
    (N, C) the whole probability vector.
    """

    kind = "bottomup-id"

    def __init__(self, stages, device, settings=None, model_dir=None):
        super().__init__(stages, device, settings, model_dir)
        from ..identity import class_names

        self.class_names = class_names(self.stages["bottomup"].cfg)
        if self.settings.filters.max_instances is None:
            self.settings.filters.max_instances = len(self.class_names)

    def run_batch(self, frames_u8):
        st = self.stages["bottomup"]
        out, b, c, xy, val = self._peaks(frames_u8)
        use_sides = self.settings.pair_sides
        groups = group_by_class(b, c, xy, val, out["classmaps"].cpu().numpy(), frames_u8.shape[0], self.n_nodes,
                                axis=self.side_axis if use_sides else (), sides=self.sides if use_sides else ())
        h, w = frames_u8.shape[1:3]
        n_classes = len(self.class_names)
        fr = FrameResults()
        fr.identity = []
        for pts, node_scores, _, probs in groups:
            p, v, keep = self._filter_index(_inside_frame(_unscale_np(pts, st), h, w), node_scores)
            probs = np.asarray(probs, np.float32).reshape(-1, n_classes)[keep]
            fr.append((p[keep], v[keep]))
            fr.identity.append((assign_identities(probs), probs))
        return fr
