"""``posetrack export STORE --format F --out PATH [--overwrite] [--video I]``.

Python: ``export(store, format, out, overwrite=False, video=None) -> Path``. The input is a
project store or any labels file :func:`napari_posetrack.core.io.load_dataset` reads. The
write is atomic and refuses an existing file unless ``overwrite``.
"""

from __future__ import annotations

from pathlib import Path

NAME = "export"
HELP = "export a project or labels file to slp, dlc, nwb, coco, analysis, csv, netcdf, dlc-h5, ..."
DESCRIPTION = (
    "Write the labels and predictions of a project store (or any labels file) in another format. "
    "See docs/formats.md for what each format keeps (occlusion, scores, tracks, images)."
)

__all__ = ["export", "NAME", "HELP", "add_arguments", "run"]


def _writable_formats() -> list[str]:
    from ..core.io import FORMATS

    return [n for n, s in FORMATS.items() if s.save is not None]


def add_arguments(parser) -> None:
    parser.add_argument("store", help="project store or labels file")
    parser.add_argument("--format", "-f", required=True, metavar="FORMAT",
                        help="one of: " + ", ".join(_writable_formats()))
    parser.add_argument("--out", "-o", required=True, metavar="PATH", help="output file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--video", type=int, default=None, metavar="I",
                        help="export only video I (formats that hold one video use video 0 by default)")


def export(store, format: str, out, overwrite: bool = False, video: int | None = None) -> Path:
    """Export ``store`` (a project store or labels file) to ``out`` in ``format``; returns ``out``."""
    import warnings

    from ..core.io import get_format, load_dataset, save_dataset
    from ..core.io.videos import MissingVideoWarning

    from ..core.io._atomic import check_writable

    spec = get_format(format, kind="write")  # unknown names fail before any loading
    if spec.atomic:
        check_writable(out, overwrite=overwrite, format_name=format)  # fail before loading a big project
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingVideoWarning)
        ds = load_dataset(store)
    options = {} if video is None else {"video": int(video)}
    return save_dataset(ds, out, format=format, overwrite=overwrite, **options)


def run(args) -> int:
    out = export(args.store, args.format, args.out, overwrite=args.overwrite, video=args.video)
    print(f"wrote {out} ({args.format})")
    return 0
