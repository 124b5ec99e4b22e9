"""``posetrack demo``: the whole loop on a synthetic clip, with no download.

Generates a clip of two moving animals with exact ground truth, keeps the poses of every
third frame as "labels" (what a user would have labeled), trains a small top-down model on
the CPU for about a minute, predicts every frame, tracks the identities, scores pose (OKS
mAP, PCK) and identity (IDF1) against the ground truth of the frames it never saw, saves a
project store, and opens napari on it with the docks. ``--no-gui`` stops after the metrics
and exits non-zero if they are below the thresholds, so CI runs the real pipeline.
"""

from __future__ import annotations

import os
import sys

from .._napari.demo import demo
from ..workflows.demo import DEFAULT_MIN_IDF1, DEFAULT_MIN_MAP

NAME = "demo"
HELP = "generate a synthetic clip, train, predict, track, score and open napari (no download)"
DESCRIPTION = (
    "Run the whole pipeline on a synthetic two-animal clip: label subset -> top-down model "
    "trained for --minutes on the CPU -> predictions -> tracks -> metrics against the ground "
    "truth (OKS mAP, PCK@5px, IDF1) -> project store in --out, then open napari with the video, "
    "labels, predictions, tracks and the docks. --no-gui prints the metrics and exits with status 1 "
    "when mAP or IDF1 is below --min-map / --min-idf1."
)


def add_arguments(parser) -> None:
    parser.add_argument("--no-gui", action="store_true", help="run headless, print metrics, exit 1 below thresholds")
    parser.add_argument("--out", "-o", default="posetrack-demo", help="output folder (default ./posetrack-demo)")
    parser.add_argument("--minutes", type=float, default=1.0, help="training time in minutes (default 1)")
    parser.add_argument("--frames", type=int, default=150, help="frames in the synthetic clip (default 150)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip and the training (default 0)")
    parser.add_argument("--min-map", type=float, default=DEFAULT_MIN_MAP,
                        help=f"--no-gui fails below this OKS mAP (default {DEFAULT_MIN_MAP})")
    parser.add_argument("--min-idf1", type=float, default=DEFAULT_MIN_IDF1,
                        help=f"--no-gui fails below this IDF1 (default {DEFAULT_MIN_IDF1})")
    parser.add_argument("--overwrite", action="store_true", help="reuse a non-empty --out folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _has_display() -> bool:
    """False on Linux without an X or Wayland display (Qt would abort the interpreter there)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args) -> int:
    if not args.no_gui and not _has_display():
        print("posetrack demo: no display found (DISPLAY is not set), so napari cannot open; running "
              "headless as with --no-gui. To see the viewer, run it on a desktop or under "
              "`xvfb-run -a posetrack demo`.", file=sys.stderr)
        args.no_gui = True
    s = demo(args.out, minutes=args.minutes, n_frames=args.frames, seed=args.seed, gui=not args.no_gui,
             min_map=args.min_map, min_idf1=args.min_idf1, overwrite=args.overwrite, quiet=args.quiet)
    m = s["metrics"]
    print(f"pose (held-out frames): mAP {m['map']:.3f}  mAR {m['mar']:.3f}  PCK@5px {m['pck_5']:.3f}  "
          f"median error {m['median_error_px']:.2f} px")
    print(f"identity: IDF1 {m['idf1']:.3f}  ID switches {m['id_switches']}  MOTA {m['mota']:.3f}")
    print(f"project: {s['store']}   predictions: {s['predictions']}   model: {s['model']}")
    if not args.no_gui:
        return 0
    if not s["passed"]:
        print(f"posetrack demo: FAILED: mAP {m['map']:.3f} (min {args.min_map}) / IDF1 {m['idf1']:.3f} "
              f"(min {args.min_idf1})", file=sys.stderr)
        return 1
    print(f"posetrack demo: passed (mAP >= {args.min_map}, IDF1 >= {args.min_idf1})")
    return 0
