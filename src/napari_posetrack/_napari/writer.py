"""napari writer: save keypoint Points layers into a project store (created if needed).

Layers must carry the features of :mod:`napari_posetrack._napari.convert` (at least ``node``
and ``instance``): a plain Points layer cannot be turned into poses, and is refused with an
error that says so. Layers read from a store (or made by the labeling dock) carry a
``video_id`` and ``posetrack_kind`` in their metadata: a layer replaces the labels (or the
predictions) of its video; everything else in the store is kept. All layers are written in
one atomic save.

The editable session is the source of truth. When a layer belongs to a viewer's session (the
Labeling dock's keypoints layer, ``metadata["posetrack_session"]``), or a session is open on
the store being written, the writer saves that session (into ``path``: its own store, or a
new store there) instead of the layers: a layer that shows one frame, or a stale copy read
earlier, can never overwrite newer edits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_points"]


def _layer_skeleton(layers):
    from ..core.skeleton import Skeleton

    for _, attrs in layers:
        meta = attrs.get("metadata") or {}
        if meta.get("skeleton"):
            return Skeleton.from_dict(meta["skeleton"])
        if meta.get("node_names"):
            return Skeleton.from_names(meta["node_names"])
    n = 0
    for _, attrs in layers:
        f = attrs.get("features")
        if f is not None and len(f):
            n = max(n, int(np.max(f["node"])) + 1)
    return Skeleton.from_names([f"node{i}" for i in range(n)])


def _check_features(name: str, attrs: dict) -> None:
    from ..core.errors import PoseTrackError

    f = attrs.get("features")
    missing = [c for c in ("node", "instance") if f is None or c not in getattr(f, "columns", [])]
    if missing:
        raise PoseTrackError(
            f"The Points layer {name!r} has no {' and '.join(repr(m) for m in missing)} feature, so its points "
            "cannot be grouped into poses.",
            hint="Save keypoint layers made by napari-posetrack (labeling dock or a project store), or add "
                 "'node' (skeleton node index) and 'instance' features to the layer.",
        )


def _source_store(layers):
    for _, attrs in layers:
        src = (attrs.get("metadata") or {}).get("posetrack_store")
        if src:
            return src
    return None


def _same_path(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _save_open_session(path, layer_data) -> list[str] | None:
    """Save the viewer session behind the layers (or open on ``path``); None if there is none."""
    from ..core.store import ProjectStore, find_store
    from .session import open_shells, shell_by_token

    shell = None
    for _, attrs, _ in layer_data:
        shell = shell_by_token((attrs.get("metadata") or {}).get("posetrack_session"))
        if shell is not None and shell.session is not None:
            break
    else:
        shell = None
    try:
        target = find_store(path) if Path(path).exists() else Path(path)
    except Exception:  # noqa: BLE001 - not a store: a new one is made there
        target = Path(path)
    if shell is None:  # a stale copy of a store that a viewer is editing: save the edits instead
        for sh in open_shells():
            st = sh.session.store if sh.session is not None else None
            if st is not None and _same_path(st.path, target):
                shell = sh
                break
    if shell is None:
        return None
    session = shell.session
    if session.store is not None and _same_path(session.store.path, target):
        shell.save(ask=False)
        return [str(session.store.path)]
    if session.store is None and (shell.save_target is None or _same_path(shell.save_target, target)
                                  or not Path(path).exists()):
        shell.save_target = Path(path)
        shell.save(ask=False)
        return [str(session.store.path)]
    created = ProjectStore.create(path, dataset=session.dataset)  # "save as": a copy of the session
    out = str(created.path)
    created.close()
    return [out]


def write_points(path: str, layer_data: list) -> list[str]:
    """Write keypoint Points layers into the store at ``path``; return ``[store path]``.

    Parameters
    ----------
    path : str
        A ``*.posetrack.zarr`` store (or project folder): updated; any other new path: a store
        is created there (videos and track names copied from the layers' source store).
    layer_data : list of (data, attributes, layer_type)
        napari layer data tuples; ``data`` is ``(M, 3)`` (frame, y, x).
    """
    from ..core.dataset import PoseDataset
    from ..core.errors import PoseTrackError
    from ..core.posetable import PREDICTED, PoseTable
    from ..core.store import ProjectStore, is_store_dir
    from .convert import points_to_table

    saved = _save_open_session(path, layer_data)
    if saved is not None:
        return saved
    layers = [(d, a) for d, a, t in layer_data if t == "points"]
    if not layers:
        raise PoseTrackError("There is no Points layer to save.", hint="Select keypoint Points layers to save.")
    for _data, attrs in layers:
        _check_features(attrs.get("name", "points"), attrs)
    p = Path(path)
    existing = p.exists() and (is_store_dir(p) or any(c.name.endswith(".posetrack.zarr") for c in p.iterdir()))
    store = ProjectStore.open(p) if existing else None
    skeleton = store.skeleton if store is not None else _layer_skeleton(layers)
    layer_skel = _layer_skeleton(layers)
    if store is not None and layer_skel.n_nodes and store.skeleton.n_nodes:
        store.skeleton.require_match(layer_skel, source="the layer")

    labels = store.labels if store is not None else PoseTable.empty(skeleton.n_nodes)
    predictions = store.predictions if store is not None else PoseTable.empty(skeleton.n_nodes)
    new = {"labels": [], "predictions": []}
    replace = {"labels": set(), "predictions": set()}
    replace_all = {"labels": False, "predictions": False}
    for data, attrs in layers:
        meta = attrs.get("metadata") or {}
        kind = "predictions" if meta.get("posetrack_kind") == "predictions" else "labels"
        table = points_to_table(np.asarray(data), attrs["features"], skeleton.n_nodes)
        vid = meta.get("video_id")
        if vid is not None:
            table = table.with_columns(video_id=np.full(len(table), int(vid), np.int32))
            replace[kind].add(int(vid))
        elif len(table):
            replace[kind].update(int(v) for v in np.unique(table.video_id))
        else:
            replace_all[kind] = True
        if kind == "predictions":
            table = table.with_columns(source=np.full(len(table), PREDICTED, np.uint8))
        new[kind].append(table)

    def merged(old: PoseTable, kind: str) -> PoseTable | None:
        if not new[kind]:
            return None
        keep = old.take(np.zeros(len(old), bool)) if replace_all[kind] else \
            old.take(~np.isin(old.video_id, sorted(replace[kind])))
        return PoseTable.concat([keep] + new[kind], n_nodes=skeleton.n_nodes).sorted()

    out_labels, out_preds = merged(labels, "labels"), merged(predictions, "predictions")
    if store is not None:
        store.save(labels=out_labels, predictions=out_preds)
        return [str(store.path)]
    videos, track_names = [], []
    src = _source_store(layers)
    if src:
        try:
            s = ProjectStore.open(src, mode="r")
            videos, track_names = s.videos, s.track_names
        except PoseTrackError:
            pass
    for t in (out_labels, out_preds):
        if t is not None and len(t):
            track_names += [f"track_{i}" for i in range(len(track_names), int(t.track_id.max()) + 1)]
    ds = PoseDataset(skeleton, videos=videos, track_names=track_names, labels=out_labels, predictions=out_preds)
    created = ProjectStore.create(p, dataset=ds)
    return [str(created.path)]
