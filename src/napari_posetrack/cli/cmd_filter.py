"""``posetrack filter``: smooth, threshold and gap-fill pose trajectories."""

from __future__ import annotations


from ..workflows.filter import filter

NAME = "filter"
HELP = "smooth (median, Savitzky-Golay, Kalman), threshold by score and interpolate gaps"
DESCRIPTION = (
    "Filter the trajectories of IN (predictions if it has any, else labels) per video, track and "
    "node, and write the result to OUT (format from its extension, or --format). Steps in order: "
    "nodes scored below --min-score are dropped; gaps of up to --max-gap frames are filled by "
    "linear interpolation; each track is smoothed with --method. Median, Savitzky-Golay, "
    "thresholding and interpolation use movement's filters (pip install 'napari-posetrack[analysis]'); "
    "the Kalman smoother (constant velocity, RTS) needs nothing extra."
)


def add_arguments(parser) -> None:
    parser.add_argument("input", metavar="IN", help="labels/predictions file (.slp, analysis .h5, .nc, DLC, ...)")
    parser.add_argument("--out", "-o", required=True, help="output file (.slp, .h5, .nc, .csv, .nwb, ...)")
    parser.add_argument("--method", default="median", choices=["median", "savgol", "kalman", "none"],
                        help="smoother (default median; none = only threshold/interpolate)")
    parser.add_argument("--window", type=int, default=5, help="median/Savitzky-Golay window in frames (default 5)")
    parser.add_argument("--polyorder", type=int, default=2, help="Savitzky-Golay polynomial order (default 2)")
    parser.add_argument("--min-score", type=float, default=None, help="drop nodes scored below this")
    parser.add_argument("--max-gap", type=int, default=0, help="interpolate gaps of up to N frames (default 0)")
    parser.add_argument("--process-noise", type=float, default=1.0,
                        help="Kalman: random acceleration std, px/frame^2 (default 1)")
    parser.add_argument("--measurement-noise", type=float, default=2.0,
                        help="Kalman: observation error std, px (default 2)")
    parser.add_argument("--instances", default="auto", choices=["auto", "predictions", "labels"],
                        help="which instances to filter (auto: predictions if any, else labels)")
    parser.add_argument("--format", default=None, help="output format name (default: from OUT's extension)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args) -> int:
    report = filter(args.input, args.out, method=args.method, window=args.window, polyorder=args.polyorder,
                    min_score=args.min_score, max_gap=args.max_gap, process_noise=args.process_noise,
                    measurement_noise=args.measurement_noise, instances=args.instances, format=args.format,
                    overwrite=args.overwrite)
    print(f"posetrack filter: {report.summary()}; wrote {args.out}")
    return 0
