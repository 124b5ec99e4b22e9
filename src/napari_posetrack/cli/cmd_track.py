"""``posetrack track``: assign identities to predictions (or re-track them)."""

from __future__ import annotations


from ..workflows.track import track

NAME = "track"
HELP = "assign identities (track ids) to predicted poses, or re-track them"
DESCRIPTION = (
    "Track (or re-track) the instances of PRED frame by frame and write the result to OUT. "
    "PRED and OUT are labels files (.slp, ...) or project stores (*.posetrack.zarr). "
    "With --max-tracks N the animals keep N identities (tracks are reused, never multiplied)."
)


def add_arguments(parser) -> None:
    parser.add_argument("pred", help="predictions: a .slp (or other labels file) or a project store")
    parser.add_argument("--out", "-o", required=True, help="output .slp file or project store")
    from ..core.tracking import COSTS, TRACKERS  # the registries (core: no torch, no napari)

    parser.add_argument("--tracker", default="simple", choices=TRACKERS.names(),
                        help="simple: Hungarian on a window of recent frames; flow: optical-flow shift; "
                             "kalman: constant-velocity motion model (default: simple)")
    parser.add_argument("--max-tracks", type=int, default=None, help="number of animals (reuse N tracks)")
    parser.add_argument("--window", type=int, default=5, help="frames of history used as candidates (default 5)")
    parser.add_argument("--cost", default="oks", choices=COSTS.names(), help="matching cost")
    parser.add_argument("--stitch", action="store_true",
                        help="link tracklets globally into --max-tracks identities after tracking")
    parser.add_argument("--min-track-length", type=int, default=0, help="drop tracks shorter than this")
    parser.add_argument("--identity-weight", type=float, default=None, metavar="W",
                        help="with identity-model predictions: weight W (0..1) of their class probabilities against "
                             "the poses in the tracker's cost; the tracks are then named after the animals. Default "
                             "0.5 when the instances have class probabilities; 0 tracks by the poses alone")
    parser.add_argument("--instances", default="auto", choices=["auto", "predictions", "labels"],
                        help="which instances to track (auto: predictions if any, else labels)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import sys

    result = track(args.pred, args.out, tracker=args.tracker, max_tracks=args.max_tracks, window=args.window,
                   cost=args.cost, stitch=args.stitch, min_track_length=args.min_track_length,
                   instances=args.instances, overwrite=args.overwrite, progress=not args.quiet,
                   identity_weight=args.identity_weight)
    for w in result.warnings:
        print(f"posetrack track: warning: {w}", file=sys.stderr)
    print(f"{result.n_tracks} tracks over {len(result.table)} instances -> {args.out}")
    return 0
