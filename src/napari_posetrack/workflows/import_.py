"""``posetrack import SRC... --out STORE [--skeleton FILE]``: bring labels into a project store.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_import`).

Python: ``import_(sources, out, skeleton=None) -> dict`` (a summary of what was imported).
Sources are any file :func:`napari_posetrack.core.io.load_dataset` reads (.slp, .pkg.slp,
DeepLabCut project / config.yaml / CollectedData CSV, NWB, analysis .h5, COCO, flat CSV,
movement netCDF, another store). See :mod:`napari_posetrack.core.io.merge` for how skeletons,
videos and tracks are merged. The store is written in one atomic commit.
"""

from __future__ import annotations

from pathlib import Path


def import_(sources, out, skeleton=None, *, format: str | None = None) -> dict:
    """Import ``sources`` into the store ``out`` (created when it does not exist).

    Returns
    -------
    dict
        ``store`` (path), ``sources``, ``labels``/``predictions`` (instances added),
        ``videos``, ``tracks``, ``added_nodes`` (nodes the skeleton gained),
        ``missing_videos`` (paths with candidates).
    """
    import warnings

    from ..core.io import load_dataset
    from ..core.io.merge import load_skeleton_file, merge_datasets
    from ..core.io.store_format import is_store
    from ..core.io.videos import MissingVideoWarning, missing_videos
    from ..core.skeleton import Skeleton

    if isinstance(sources, (str, Path)):
        sources = [sources]
    target = skeleton
    if target is not None and not isinstance(target, Skeleton):
        target = load_skeleton_file(target)
    out = Path(out)
    loaded, missing = [], []
    for src in sources:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingVideoWarning)
            ds = load_dataset(src, skeleton=target, format=format)
        missing += [{"source": str(src), "path": e.path, "candidates": e.candidates} for e in missing_videos(ds, src)]
        loaded.append(ds)
    from ..core.store import ProjectStore

    store = ProjectStore.open(out, mode="r+") if out.exists() and is_store(out) else None
    try:
        # an existing project is merged first, so its skeleton, videos and tracks keep their ids
        existing = store.load() if store is not None else None
        merged, report = merge_datasets(([existing] if existing is not None else []) + loaded, skeleton=target)
        n_before = (len(existing.labels), len(existing.predictions)) if existing is not None else (0, 0)
        if store is not None:
            store.save(merged)  # one atomic commit
            path = store.path
        else:
            with ProjectStore.create(out, merged.skeleton, videos=list(merged.videos), dataset=merged) as created:
                path = created.path
    finally:
        if store is not None:
            store.close()
    return {
        "store": str(path), "sources": [str(s) for s in sources],
        "labels": len(merged.labels) - n_before[0], "predictions": len(merged.predictions) - n_before[1],
        "videos": report["videos"], "tracks": report["tracks"], "added_nodes": report["added_nodes"],
        "skeleton": list(merged.skeleton.node_names), "missing_videos": missing,
    }

