"""``posetrack import SRC... --out STORE [--skeleton FILE]``: bring labels into a project store.

Python: ``import_(sources, out, skeleton=None) -> dict`` (a summary of what was imported).
Sources are any file :func:`napari_posetrack.core.io.load_dataset` reads (.slp, .pkg.slp,
DeepLabCut project / config.yaml / CollectedData CSV, NWB, analysis .h5, COCO, flat CSV,
movement netCDF, another store). See :mod:`napari_posetrack.core.io.merge` for how skeletons,
videos and tracks are merged. The store is written in one atomic commit.
"""

from __future__ import annotations

from pathlib import Path

NAME = "import"
HELP = "import labels/predictions (SLEAP, DeepLabCut, NWB, COCO, ...) into a project store"
DESCRIPTION = (
    "Import one or more labels or predictions files into a new or existing project store. Skeletons are "
    "merged by node name (or mapped onto --skeleton), videos and tracks are matched by path and name. "
    "Videos that are not where the files say are reported with same-named files found nearby."
)

__all__ = ["import_", "NAME", "HELP", "add_arguments", "run"]


def add_arguments(parser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC", help="labels files, DeepLabCut projects, stores")
    parser.add_argument("--out", "-o", required=True, metavar="STORE",
                        help="the project store (NAME.posetrack.zarr or project folder); created if absent")
    parser.add_argument("--skeleton", "-s", metavar="FILE",
                        help="map every source onto this skeleton (JSON/YAML, DeepLabCut config.yaml or labels file)")
    parser.add_argument("--format", default=None, help="format of the sources, when it cannot be guessed")


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


def run(args) -> int:
    r = import_(args.sources, args.out, skeleton=args.skeleton, format=args.format)
    print(f"imported {len(r['sources'])} source(s) into {r['store']}: {r['labels']} labeled instances, "
          f"{r['predictions']} predicted instances; project has {r['videos']} video(s), {r['tracks']} track(s), "
          f"skeleton {r['skeleton']}")
    if r["added_nodes"]:
        print(f"the skeleton gained nodes {r['added_nodes']} (unlabeled in rows that lack them)")
    for m in r["missing_videos"]:
        cands = ", ".join(m["candidates"][:3]) or "none found nearby"
        print(f"warning: video {m['path']} (from {m['source']}) is not there; candidates: {cands}")
    return 0
