"""``posetrack export STORE --format F --out PATH [--overwrite] [--video I]``.

Python: ``export(store, format, out, overwrite=False, video=None) -> Path``. The input is a
project store or any labels file :func:`napari_posetrack.core.io.load_dataset` reads. The
write is atomic and refuses an existing file unless ``overwrite``.
"""

from __future__ import annotations


from . import writable_formats
from ..workflows.export import export

NAME = "export"
HELP = "export a project or labels file to slp, dlc, nwb, coco, analysis, csv, netcdf, dlc-h5, ..."
DESCRIPTION = (
    "Write the labels and predictions of a project store (or any labels file) in another format. "
    "See docs/formats.md for what each format keeps (occlusion, scores, tracks, images)."
)

__all__ = ["export", "NAME", "HELP", "add_arguments", "run"]


def add_arguments(parser) -> None:
    parser.add_argument("store", help="project store or labels file")
    parser.add_argument("--format", "-f", required=True, metavar="FORMAT",
                        help="one of: " + ", ".join(writable_formats()))
    parser.add_argument("--out", "-o", required=True, metavar="PATH", help="output file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--video", type=int, default=None, metavar="I",
                        help="export only video I (formats that hold one video use video 0 by default)")


def run(args) -> int:
    out = export(args.store, args.format, args.out, overwrite=args.overwrite, video=args.video)
    print(f"wrote {out} ({args.format})")
    return 0
