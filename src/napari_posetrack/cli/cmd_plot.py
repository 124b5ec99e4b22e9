"""``posetrack plot``: trajectory, coordinate, jump and bone plots (PNG) and bone features (CSV)."""

from __future__ import annotations

from ..workflows.plot import plot

NAME = "plot"
HELP = "plot trajectories, coordinates/scores, jumps and bone features per video and track"
DESCRIPTION = (
    "Write, for each video of PRED (or only --video I): video<I>_trajectories.png (x against y per "
    "track), video<I>_coordinates.png (x, y and score over time), video<I>_jumps.png (histogram of "
    "frame-to-frame displacements), video<I>_bones.png (bone lengths and orientations over time) "
    "and video<I>_skeleton_features.csv (one row per frame, track and bone) into the folder OUT."
)


def add_arguments(parser) -> None:
    parser.add_argument("pred", metavar="PRED", help="predictions or labels file (.slp, .h5, .nc, store, ...)")
    parser.add_argument("--out", "-o", required=True, help="output folder")
    parser.add_argument("--video", type=int, default=None, help="only this video index (default: all)")
    parser.add_argument("--instances", default="auto", choices=["auto", "predictions", "labels"],
                        help="which instances to plot (auto: predictions if any, else labels)")
    parser.add_argument("--max-tracks", type=int, default=6, help="plot the N longest tracks (default 6)")
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution (default 100)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing plot files")


def run(args) -> int:
    paths = plot(args.pred, args.out, video=args.video, instances=args.instances, max_tracks=args.max_tracks,
                 dpi=args.dpi, overwrite=args.overwrite)
    for p in paths:
        print(p)
    return 0
