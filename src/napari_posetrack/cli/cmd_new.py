"""``posetrack new STORE --video V... [--skeleton FILE]``: create a project store.

The skeleton can come from a SLEAP ``.slp``/``.pkg.slp`` file, a DeepLabCut ``config.yaml``,
a JSON or YAML skeleton file, or another project store.
"""

from __future__ import annotations


from ..workflows.new import load_skeleton, new

NAME = "new"
HELP = "create a project store from videos (and a skeleton)"
DESCRIPTION = (
    "Create a napari-posetrack project store (NAME.posetrack.zarr, or a project folder holding one) "
    "from video files or image folders. --skeleton takes a .slp, a DeepLabCut config.yaml, a JSON/YAML "
    "skeleton ({node_names|nodes, edges, symmetries}) or another store."
)

__all__ = ["new", "load_skeleton", "NAME", "HELP", "add_arguments", "run"]


def add_arguments(parser) -> None:
    parser.add_argument("store", help="the store to create: NAME.posetrack.zarr or a project folder")
    parser.add_argument("--video", "-v", nargs="+", action="extend", default=[], metavar="VIDEO",
                        help="video files or image folders (repeatable)")
    parser.add_argument("--skeleton", "-s", metavar="FILE",
                        help=".slp, DeepLabCut config.yaml, JSON/YAML skeleton, or another store")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store")


def run(args) -> int:
    store = new(args.store, args.video, args.skeleton, overwrite=args.overwrite)
    sk = store.skeleton
    print(f"Created {store.path}")
    print(f"  skeleton {sk.name!r}: {sk.n_nodes} nodes {sk.node_names}, {len(sk.edges)} edges")
    for i, v in enumerate(store.videos):
        print(f"  video {i}: {v.path} ({v.n_frames} frames, {v.width}x{v.height}x{v.channels}, {v.fps:g} fps)")
    if not store.videos:
        print("  no videos yet: add them in napari or with ProjectStore.add_video")
    return 0
