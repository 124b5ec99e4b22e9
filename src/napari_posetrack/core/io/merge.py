"""Skeleton files, and merging several datasets into one (for ``posetrack import``).

Merging rules:

* **skeleton**: with a target skeleton, every source is mapped onto it by node name (a source
  node the target lacks is an error). Without one, sources with other nodes extend the
  skeleton (:meth:`Skeleton.merge`: existing nodes keep their index, new nodes are appended and
  are "not labeled" in rows that lack them);
* **videos**: the same file (same resolved path, or same image list) is one video; others
  are appended and the rows' ``video_id`` renumbered;
* **tracks**: tracks with the same name are the same identity; new names are appended and the
  rows' ``track_id`` renumbered;
* labels, predictions, suggestions and negative frames are concatenated (suggestions and
  negative frames without duplicates).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..dataset import PoseDataset
from ..errors import FormatError
from ..posetable import PoseTable
from ..skeleton import Skeleton

__all__ = ["load_skeleton_file", "merge_datasets"]


def load_skeleton_file(path) -> Skeleton:
    """A skeleton from a file.

    Accepts our JSON (``Skeleton.to_dict``), SLEAP skeleton JSON/YAML (``sleap_io.load_skeleton``),
    a DeepLabCut ``config.yaml`` (body parts and ``skeleton`` edges), or any labels file
    :func:`load_dataset` reads (its skeleton).
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(f"Skeleton file {path} does not exist.", path=path, hint="Check the --skeleton path.")
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "node_names" in data:
            return Skeleton.from_dict(data)
    if suffix in (".yaml", ".yml"):
        import yaml

        cfg = yaml.safe_load(path.read_text())
        if isinstance(cfg, dict) and ("bodyparts" in cfg or "multianimalbodyparts" in cfg):
            from .dlc import config_bodyparts

            names = config_bodyparts(cfg)
            edges = [tuple(e) for e in (cfg.get("skeleton") or []) if len(e) == 2 and e[0] in names and e[1] in names]
            return Skeleton.from_names(names, edges, name=str(cfg.get("Task") or path.stem))
    if suffix in (".json", ".yaml", ".yml"):
        import sleap_io as sio

        from .sleap_convert import skeleton_from_sleap

        try:
            sk = sio.load_skeleton(str(path))
        except Exception as exc:  # noqa: BLE001
            hint = "Use a SLEAP skeleton JSON/YAML, a DeepLabCut config.yaml, or a labels file."
            raise FormatError(f"Could not read a skeleton from {path}: {exc}", path=path, hint=hint) from exc
        return skeleton_from_sleap(sk[0] if isinstance(sk, list) else sk)
    from . import load_dataset

    return load_dataset(path, check_videos="ignore").skeleton


def _video_key(info) -> tuple:
    if info.kind == "images" and info.image_paths:
        return ("images",) + tuple(str(Path(p).resolve()) for p in info.image_paths)
    try:
        return (info.kind, str(Path(info.path).resolve()))
    except OSError:
        return (info.kind, str(info.path))


def _unique_pairs(arrays) -> np.ndarray:
    a = np.concatenate([np.asarray(x, np.int64).reshape(-1, 2) for x in arrays]) if arrays else np.zeros((0, 2))
    if not len(a):
        return a.reshape(0, 2).astype(np.int64)
    _, idx = np.unique(a, axis=0, return_index=True)
    return a[np.sort(idx)]


def merge_datasets(datasets, *, skeleton: Skeleton | None = None) -> tuple[PoseDataset, dict]:
    """Merge ``datasets`` (the first may be an existing project) into one.

    Returns
    -------
    dataset : PoseDataset
    report : dict
        ``added_nodes`` (list of str), ``videos`` (number), ``new_videos``, ``tracks``, ``new_tracks``.
    """
    datasets = [d for d in datasets if d is not None]
    if not datasets:
        raise FormatError("Nothing to merge.", hint="Give at least one source.")
    target = skeleton
    added: list[str] = []
    if target is None:
        target = next((d.skeleton for d in datasets if d.skeleton.n_nodes), datasets[0].skeleton)
        for d in datasets:
            if d.skeleton.n_nodes and not target.same_nodes(d.skeleton):
                new = [n for n in d.skeleton.node_names if n not in target.node_names]
                target, _ = target.merge(d.skeleton)
                added += new
            elif d.skeleton.n_nodes:
                target, _ = target.merge(d.skeleton)  # same nodes: picks up extra edges/symmetries
    k = target.n_nodes
    videos, video_ids = [], {}
    tracks: list[str] = []
    labels, preds, suggestions, negatives = [], [], [], []
    for d in datasets:
        vmap = []
        for info in d.videos:
            key = _video_key(info)
            if key not in video_ids:
                video_ids[key] = len(videos)
                videos.append(info)
            vmap.append(video_ids[key])
        tmap = []
        for name in d.track_names:
            if name not in tracks:
                tracks.append(name)
            tmap.append(tracks.index(name))
        vmap_a, tmap_a = np.array(vmap + [0], np.int64), np.array(tmap + [-1], np.int64)
        mapping = target.node_mapping(d.skeleton)
        if d.skeleton.n_nodes and any(m < 0 for m in mapping):
            missing = [n for n, m in zip(d.skeleton.node_names, mapping) if m < 0]
            from ..errors import SkeletonMismatchError

            raise SkeletonMismatchError(
                f"A source has nodes {missing} that the skeleton {target.name!r} {target.node_names} lacks.",
                hint="Add them to the skeleton file (--skeleton), or import without --skeleton.")

        def remap(t: PoseTable, mapping=mapping, tmap_a=tmap_a, vmap_a=vmap_a) -> PoseTable:
            if not len(t):
                return PoseTable.empty(k)
            t = t if (t.n_nodes == k and mapping == list(range(k))) else t.remap_nodes(mapping, k)
            tid = np.where(t.track_id >= 0, tmap_a[np.clip(t.track_id, 0, None)], -1)
            return t.with_columns(video_id=vmap_a[t.video_id], track_id=tid)

        labels.append(remap(d.labels))
        preds.append(remap(d.predictions))
        for src, dst in ((d.suggestions, suggestions), (d.negative_frames, negatives)):
            s = np.asarray(src, np.int64).reshape(-1, 2).copy()
            if len(s):
                s[:, 0] = vmap_a[s[:, 0]]
            dst.append(s)
    merged = PoseDataset(
        skeleton=target, videos=videos, track_names=tracks,
        labels=PoseTable.concat(labels, n_nodes=k), predictions=PoseTable.concat(preds, n_nodes=k),
        suggestions=_unique_pairs(suggestions), negative_frames=_unique_pairs(negatives),
    )
    first = datasets[0]
    report = {"added_nodes": added, "videos": len(videos), "new_videos": len(videos) - len(first.videos),
              "tracks": len(tracks), "new_tracks": len(tracks) - len(first.track_names)}
    return merged, report
