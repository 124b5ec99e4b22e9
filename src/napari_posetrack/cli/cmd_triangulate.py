"""``posetrack triangulate``: 3D poses from the 2D poses of a calibrated multi-camera session."""

from __future__ import annotations


from ..workflows.triangulate import triangulate

NAME = "triangulate"
HELP = "triangulate 3D poses from the 2D poses of a calibrated multi-camera session"
DESCRIPTION = (
    "Triangulate every labelled node seen by two or more cameras (weighted DLT, RANSAC over views to drop a wrong "
    "2D point, then refinement of the pixel error) and write the 3D poses to OUT: .csv (one row per frame, animal and "
    "node, with reprojection error, number of views and status), .nc (movement netCDF, 3 space dims) and/or .nwb "
    "(ndx-pose). Every "
    "labelled point without a 3D position gets a message saying why."
)


def add_arguments(parser) -> None:
    parser.add_argument("session", help="session folder or session .toml/.yaml")
    parser.add_argument("--out", "-o", nargs="+", required=True, help="output file(s): .csv, .nc and/or .nwb")
    parser.add_argument("--views", nargs="+", help="cameras to use (default: all)")
    parser.add_argument("--calibration", help="calibration.toml (default: the session's)")
    parser.add_argument("--store", help="read the calibration recorded in this project store instead")
    parser.add_argument("--max-error-px", type=float, default=20.0,
                        help="reprojection error above which a 2D point is an outlier (default 20)")
    parser.add_argument("--no-ransac", action="store_true", help="use every available view, reject none")
    parser.add_argument("--min-score", type=float, default=0.0, help="ignore 2D points scored at or below this")
    parser.add_argument("--table", default="auto", choices=["auto", "labels", "predictions"],
                        help="which 2D poses (auto: user labels, predictions where there is no label)")
    parser.add_argument("--allow-unequal-frames", action="store_true",
                        help="use the frames all cameras share when their counts differ")
    parser.add_argument("--estimate-offsets", type=int, nargs="?", const=30, default=None, metavar="MAX_SHIFT",
                        help="find the frame offsets that make the views agree best (shifts up to MAX_SHIFT frames, "
                             "default 30) and use them; needs a moving animal")
    parser.add_argument("--bone-tolerance", type=float, default=None,
                        help="drop a 3D point that makes a bone longer/shorter than (1 +- this) x its median length")
    parser.add_argument("--smooth", type=int, default=0, help="running median over this many frames (0: none)")
    parser.add_argument("--fps", type=float, default=None, help="frame rate for the netCDF time axis")
    parser.add_argument("--messages", help="write every per-point message to this text file")
    parser.add_argument("--suspects", metavar="CSV",
                        help="write the reprojection suspects to this CSV: every 2D label more than --max-error-px "
                             "from the other cameras' 3D point (camera, frame, individual, node, error_px, rejected), "
                             "worst first")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")


def run(args) -> int:
    import numpy as np

    poses = triangulate(args.session, args.out, views=args.views, calibration=args.calibration, store=args.store,
                        max_error_px=args.max_error_px, ransac=not args.no_ransac, min_score=args.min_score,
                        table=args.table, allow_unequal=args.allow_unequal_frames,
                        bone_tolerance=args.bone_tolerance, smooth=args.smooth,
                        estimate_offsets=args.estimate_offsets, fps=args.fps,
                        messages=args.messages, suspects=args.suspects, overwrite=args.overwrite)
    counts = poses.counts()
    if args.estimate_offsets:
        print("estimated frame offsets: " + ", ".join(f"{c} {o}" for c, o in poses.offsets.items()))
    if not args.quiet:
        msgs = poses.messages(limit=21)
        for m in msgs[:20]:
            print(m)
        if len(msgs) > 20:
            print("... more messages: see the status column of the CSV" + (f" and {args.messages}" if args.messages
                                                                             else " or pass --messages FILE"))
    med = float(np.nanmedian(poses.error_px)) if np.isfinite(poses.error_px).any() else float("nan")
    print(f"{counts['ok']} points triangulated from {len(poses.cameras)} cameras ({', '.join(poses.cameras)}), "
          f"median reprojection error {med:.2f} px; {counts['too few views']} seen in fewer than 2 views, "
          f"{counts['views disagree']} with disagreeing views; {int(poses.rejected.sum())} 2D points rejected "
          f"-> {', '.join(args.out)}")
    if args.suspects:
        n = sum(1 for _ in open(args.suspects)) - 1
        print(f"{n} reprojection suspect{'s' if n != 1 else ''} (labels more than {args.max_error_px:g} px from the "
              f"other cameras) -> {args.suspects}")
    return 0
