"""Identity classes: known animals named by the track names of the labels (numpy only).

Supervised identity models (``topdown-id``, ``bottomup-id``) learn to tell named animals
apart by their appearance. Their classes come from the track names of the labeled
instances: ``two_flies.slp`` has tracks ``F`` and ``M``, so its model has the classes
``["F", "M"]`` and every labeled instance of track ``F`` is an example of class 0.

This module turns a :class:`~napari_posetrack.core.dataset.PoseDataset` into classes and
per-instance labels, checks that the labels can train such a model (each check raises an
:class:`IdentityError` that says what was found and what to do), assigns identities
within a frame so that no two instances share a class (Hungarian matching on the class
probabilities), and scores identity predictions against ground truth.

>>> spec = identity_classes(dataset, identity_map={"female": "F"})   # doctest: +SKIP
>>> spec.class_names, spec.labels[:4]                                 # doctest: +SKIP
(['F', 'M'], array([0, 1, 0, 1]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PoseTrackError

__all__ = ["IdentityError", "IdentitySpec", "MIN_INSTANCES_PER_CLASS", "IDENTITY_KINDS", "parse_identity_map",
           "identity_classes", "check_identity_map_kind",
           "check_model_classes", "assign_identities", "identity_accuracy", "class_probabilities",
           "align_classes", "align_class_probs", "score_identities"]

#: fewest labeled instances a class needs to be learned at all
MIN_INSTANCES_PER_CLASS = 5
IDENTITY_KINDS = ("topdown-id", "bottomup-id")  # the model kinds that learn identity classes (posetrack train --model)


class IdentityError(PoseTrackError):
    """The labels (or a model) cannot be used for identity classes as they are."""


@dataclass
class IdentitySpec:
    """Classes of an identity model and the class of every labeled instance.

    Attributes
    ----------
    class_names : list of str
        Sorted class names (after ``identity_map``).
    labels : ndarray (N,) int64
        Class index of each row of ``dataset.labels`` (-1 = instance without a track).
    counts : dict str -> int
        Labeled instances per class.
    n_unnamed : int
        Labeled instances with no track (they train the pose, not the identity).
    """

    class_names: list
    labels: np.ndarray
    counts: dict
    n_unnamed: int = 0

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def parse_identity_map(items) -> dict:
    """``["F=female", "M=male"]`` (or one comma-separated string) -> ``{"F": "female", "M": "male"}``.

    Each item renames the track name on the left to the class on the right.
    """
    if items is None:
        return {}
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    if isinstance(items, str):
        items = [items]
    out = {}
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if part.count("=") != 1 or not all(s.strip() for s in part.split("=")):
                raise IdentityError(
                    f"Identity map entry {part!r} is not of the form OLD=NEW.",
                    hint="Write it as --identity-map F=female (a track name, '=', the class name to use).")
            old, new = (s.strip() for s in part.split("="))
            out[old] = new
    return out


def _names_by_video(dataset, names: np.ndarray) -> dict:
    lab = dataset.labels
    out: dict[int, set] = {}
    for vid in np.unique(lab.video_id):
        sel = (lab.video_id == vid) & (lab.track_id >= 0)
        out[int(vid)] = {str(n) for n in np.unique(names[sel])} if sel.any() else set()
    return out


def _video_name(dataset, vid: int) -> str:
    try:
        from pathlib import Path

        return Path(str(dataset.videos[vid].path)).name
    except (IndexError, AttributeError, TypeError):
        return f"video {vid}"


def identity_classes(dataset, *, identity_map=None, min_instances: int = MIN_INSTANCES_PER_CLASS,
                     source: str = "the labels") -> IdentitySpec:
    """Classes and per-instance labels from the track names of ``dataset.labels``.

    Raises :class:`IdentityError` when there are no track names, when a class has fewer than
    ``min_instances`` labeled instances, when videos use different class names (and no
    ``identity_map`` reconciles them), or when a frame holds more animals than classes (or two
    instances of the same class).
    """
    lab = dataset.labels
    mapping = parse_identity_map(identity_map)
    tracks = [str(t) for t in dataset.track_names]
    unknown = sorted(set(mapping) - set(tracks))
    if unknown and tracks:
        raise IdentityError(
            f"--identity-map renames {unknown}, but {source} have no track(s) of that name; their tracks are "
            f"{sorted(set(tracks))}.", hint="Use the track names as they are in the labels on the left of '='.")
    named = np.asarray([mapping.get(t, t) for t in tracks] + [""], dtype=object)
    tid = np.where((lab.track_id >= 0) & (lab.track_id < len(tracks)), lab.track_id, -1)
    names = named[tid]  # -1 -> ""
    has_name = tid >= 0
    if len(lab) == 0 or not has_name.any():
        raise IdentityError(
            f"{source.capitalize()} have no track names: {len(lab)} labeled instances, none assigned to a named "
            "track, so there are no identity classes to learn.",
            hint="Name the animals: assign each labeled instance to a track named after the animal (for example F "
                 "and M) with the track tools of the Labeling dock, or train a model without identity "
                 "(--model topdown or bottomup) and track it.")
    by_video = _names_by_video(dataset, names)
    distinct = {frozenset(s) for s in by_video.values() if s}
    if len(distinct) > 1:
        lines = "; ".join(f"{_video_name(dataset, v)}: {sorted(s)}" for v, s in sorted(by_video.items()) if s)
        every = sorted(set().union(*distinct))
        common = sorted(set.intersection(*[set(s) for s in distinct]))
        odd = [n for n in every if n not in common]
        example = f"{odd[0]}={common[0] if common else odd[-1]}" if odd else "OLD=NEW"
        raise IdentityError(
            f"The videos name their animals differently ({lines}); an identity model needs the same class names "
            "in every video.",
            hint=f"Rename the tracks so that they match, or map them when training: --identity-map {example} "
                 "(one OLD=NEW per name that differs).")
    class_names = sorted({str(n) for n in names[has_name]})
    index = {n: i for i, n in enumerate(class_names)}
    labels = np.asarray([index[n] if n else -1 for n in names], np.int64)
    counts = {n: int((labels == i).sum()) for n, i in index.items()}
    few = {n: c for n, c in counts.items() if c < min_instances}
    if few:
        what = ", ".join(f"{n!r} has {c}" for n, c in sorted(few.items()))
        raise IdentityError(
            f"Identity class(es) with too few labeled instances: {what} (at least {min_instances} each are needed; "
            f"counts: {counts}).",
            hint="Label more frames of those animals, or rename/merge the track if it is a typo of another class "
                 "(--identity-map OLD=NEW).")
    for vid, fidx, rows in lab.frame_groups():
        sub = labels[rows]
        n_animals = int((sub >= 0).sum())
        if n_animals > len(class_names):
            raise IdentityError(
                f"Frame {fidx} of {_video_name(dataset, vid)} has {n_animals} named animals but there are only "
                f"{len(class_names)} identity classes {class_names}.",
                hint="Every animal needs its own class: fix the track names in that frame.")
        named_sub = sub[sub >= 0]
        if len(np.unique(named_sub)) < len(named_sub):
            dup = [class_names[c] for c in np.unique(named_sub) if (named_sub == c).sum() > 1]
            raise IdentityError(
                f"Frame {fidx} of {_video_name(dataset, vid)} has more than one instance of class {dup}; each named "
                "animal appears at most once per frame.",
                hint="Fix the track assignment in that frame (Labeling dock track tools), or map the names apart.")
    return IdentitySpec(class_names, labels, counts, int((~has_name).sum()))


def check_identity_map_kind(identity_map, kind) -> None:
    """Raise :class:`IdentityError` when an identity map is given for a model kind that learns no identities
    (the map would be silently ignored)."""
    if identity_map and str(kind) not in IDENTITY_KINDS:
        raise IdentityError(
            f"--identity-map renames track names to identity classes, but --model {kind} learns no identities "
            f"(the identity models are {list(IDENTITY_KINDS)}).",
            hint="Train --model topdown-id or bottomup-id to use the map, or drop --identity-map.")


def check_model_classes(model_classes, project_classes, *, model: str = "the model",
                        project: str = "the project") -> None:
    """Raise :class:`IdentityError` when ``model_classes`` has a class that ``project_classes`` lacks.

    An empty ``project_classes`` (a project without track names yet) accepts any model.
    """
    project_classes = [str(c) for c in project_classes or []]
    if not project_classes:
        return
    extra = [str(c) for c in model_classes if str(c) not in project_classes]
    if extra:
        raise IdentityError(
            f"{model.capitalize()} predicts identity classes {list(model_classes)}, but {project} has the tracks "
            f"{project_classes}: {extra} would be new identities.",
            hint="Predict into a new output, rename the project's tracks to the model's classes, or retrain the "
                 "model on this project's labels.")


def assign_identities(probs: np.ndarray) -> np.ndarray:
    """Class of each instance of one frame, no two instances sharing a class.

    Parameters
    ----------
    probs : ndarray (I, C)
        Class probabilities of the I instances of one frame.

    Returns
    -------
    ndarray (I,) int64
        Class index per instance; -1 for instances left over when there are more instances
        than classes (the least likely ones). Hungarian matching maximises the summed
        log-probability.
    """
    from scipy.optimize import linear_sum_assignment

    probs = np.asarray(probs, np.float64)
    out = np.full(probs.shape[0], -1, np.int64)
    if probs.size == 0:
        return out
    cost = -np.log(np.clip(np.nan_to_num(probs, nan=0.0), 1e-9, 1.0))
    rows, cols = linear_sum_assignment(cost)
    out[rows] = cols
    return out


def identity_accuracy(true_class: np.ndarray, pred_class: np.ndarray, class_names) -> dict:
    """Per-class identity accuracy of matched instances.

    Parameters
    ----------
    true_class, pred_class : ndarray (M,) int
        Class of each ground-truth instance and of the prediction matched to it (-1 = the
        prediction has no class, or no prediction was matched: counts as wrong).

    Returns
    -------
    dict : ``{"per_class": {name: accuracy}, "n": {name: count}, "accuracy": overall}``
        (NaN where a class has no instance).
    """
    t = np.asarray(true_class, np.int64)
    p = np.asarray(pred_class, np.int64)
    per, n = {}, {}
    for i, name in enumerate(class_names):
        sel = t == i
        n[str(name)] = int(sel.sum())
        per[str(name)] = float((p[sel] == i).mean()) if sel.any() else float("nan")
    valid = t >= 0
    overall = float((p[valid] == t[valid]).mean()) if valid.any() else float("nan")
    return {"per_class": per, "n": n, "accuracy": overall}


def class_probabilities(track_id: np.ndarray, tracking_score: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities (N, C) of identity-model predictions from their pose-table columns.

    An identity model writes the class into ``track_id`` and its probability into
    ``tracking_score``; the other classes share the rest equally (exact for two classes).
    Rows without a class (or without a score) get a uniform row.
    """
    t = np.asarray(track_id, np.int64)
    s = np.asarray(tracking_score, np.float64)
    c = int(n_classes)
    out = np.full((len(t), c), 1.0 / max(c, 1), np.float64)
    ok = (t >= 0) & (t < c) & np.isfinite(s)
    if c > 1 and ok.any():
        out[ok] = ((1.0 - s[ok]) / (c - 1))[:, None]
        out[np.flatnonzero(ok), t[ok]] = s[ok]
    return out


def align_classes(track_id: np.ndarray, class_names, project_tracks=()) -> tuple[np.ndarray, list]:
    """Track ids and names for identity predictions written into a project.

    ``track_id`` holds class indices into ``class_names``. With a project that already has
    track names (which must include every class: :func:`check_model_classes`), the ids are
    remapped onto the project's tracks; otherwise the tracks are the classes.
    """
    class_names = [str(c) for c in class_names]
    project_tracks = [str(t) for t in project_tracks or []]
    t = np.asarray(track_id, np.int32)
    if not project_tracks:
        return t, class_names
    check_model_classes(class_names, project_tracks)
    remap = np.asarray([project_tracks.index(c) for c in class_names] + [-1], np.int32)
    return remap[np.where((t >= 0) & (t < len(class_names)), t, -1)], project_tracks


def align_class_probs(probs: np.ndarray, class_names, track_names) -> np.ndarray:
    """Class probabilities (N, C) re-ordered as columns of ``track_names`` (the ``identity_probs`` column
    of a pose table follows the track names): column ``j`` is the probability of track ``j``; NaN for a
    track that is not one of the classes."""
    probs = np.asarray(probs, np.float32).reshape(len(probs), -1)
    class_names = [str(c) for c in class_names]
    out = np.full((len(probs), len(track_names)), np.nan, np.float32)
    for j, name in enumerate(str(t) for t in track_names):
        if name in class_names and class_names.index(name) < probs.shape[1]:
            out[:, j] = probs[:, class_names.index(name)]
    return out


def score_identities(gt, gt_names, pred, pred_names, *, threshold: float = 0.5) -> dict | None:
    """Identity accuracy per class of named predictions against named ground truth.

    Ground-truth and predicted instances are matched per frame (Hungarian on OKS >= ``threshold``,
    as the tracking metrics do); a ground-truth instance of track ``"F"`` is right when its match
    is in a predicted track also named ``"F"`` (unmatched: wrong). Returns None when no predicted
    track name is a ground-truth track name (the predictions do not name the animals).

    Returns
    -------
    dict : ``per_class``, ``n``, ``accuracy`` (see :func:`identity_accuracy`).
    """
    from .metrics.tracking import match_frame

    gt_names = [str(n) for n in gt_names]
    pred_names = [str(n) for n in pred_names]
    if not set(gt_names) & set(pred_names):
        return None
    to_class = np.asarray([gt_names.index(n) if n in gt_names else -1 for n in pred_names] + [-1], np.int64)
    true, got = [], []
    pred_keys = {}
    for r in range(len(pred)):
        pred_keys.setdefault((int(pred.video_id[r]), int(pred.frame_idx[r])), []).append(r)
    for vid, fidx, rows in gt.frame_groups():
        rows = rows[gt.track_id[rows] >= 0]
        if not len(rows):
            continue
        prow = np.asarray(pred_keys.get((vid, fidx), []), np.int64)
        matched = {}
        if len(prow):
            gi, pi, _ = match_frame(gt.points[rows], pred.points[prow], threshold=threshold)
            matched = {int(a): int(prow[b]) for a, b in zip(gi, pi)}
        for j, r in enumerate(rows):
            true.append(int(gt.track_id[r]))
            p = matched.get(j)
            got.append(int(to_class[pred.track_id[p]]) if p is not None and pred.track_id[p] >= 0 else -1)
    return identity_accuracy(np.asarray(true), np.asarray(got), gt_names)
