"""``posetrack import SRC... --out STORE [--skeleton FILE]``: bring labels into a project store.

Python: ``import_(sources, out, skeleton=None) -> dict`` (a summary of what was imported).
Sources are any file :func:`napari_posetrack.core.io.load_dataset` reads (.slp, .pkg.slp,
DeepLabCut project / config.yaml / CollectedData CSV, NWB, analysis .h5, COCO, flat CSV,
movement netCDF, another store). See :mod:`napari_posetrack.core.io.merge` for how skeletons,
videos and tracks are merged. The store is written in one atomic commit.
"""

from __future__ import annotations


from . import readable_formats
from ..workflows.import_ import import_

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
    parser.add_argument("--format", default=None,
                        help="format of the sources, when it cannot be guessed: " + ", ".join(readable_formats()))


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
