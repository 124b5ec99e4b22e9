"""``posetrack calibrate``: calibrate a multi-camera rig from ChArUco/checkerboard images."""

from __future__ import annotations


from ..workflows.calibrate import calibrate

NAME = "calibrate"
HELP = "calibrate the cameras of a multi-camera session from board images (anipose calibration.toml)"
DESCRIPTION = (
    "Detect the board in each camera's calibration images (or calibration video), estimate every camera's "
    "intrinsics and distortion, the extrinsics relative to the reference camera, refine all of it by bundle "
    "adjustment and write anipose's calibration.toml. SESSION is a session folder (one sub-folder per camera) or a "
    "session .toml/.yaml file. Prints the reprojection error per camera and the detections it dropped."
)


def add_arguments(parser) -> None:
    parser.add_argument("session", help="session folder or session .toml/.yaml")
    parser.add_argument("--board", help="board description (anipose board.toml); default: the session's board.toml")
    parser.add_argument("--out", "-o", help="calibration file to write (default: calibration.toml in the session)")
    parser.add_argument("--store", help="also record the calibration in this project store (*.posetrack.zarr)")
    parser.add_argument("--reference", help="camera whose frame is the world frame (default: the first)")
    parser.add_argument("--distortion", choices=["k1", "k1k2"], default="k1k2", help="radial terms to fit")
    parser.add_argument("--fix-principal-point", action="store_true",
                        help="keep the principal point at the image centre")
    parser.add_argument("--min-views", type=int, default=3, help="board images each camera needs (default 3)")
    parser.add_argument("--min-corners", type=int, default=8, help="corners a detection needs (default 8)")
    parser.add_argument("--report", help="write the per-camera and per-view errors to this JSON file")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")


def run(args) -> int:
    group, rep = calibrate(args.session, args.board, args.out, store=args.store, reference=args.reference,
                           distortion=args.distortion, fix_principal_point=args.fix_principal_point,
                           min_views=args.min_views, min_corners=args.min_corners, report=args.report,
                           overwrite=args.overwrite)
    if not args.quiet:
        print(rep.summary())
    worst = max(r["median_px"] for r in rep.per_camera)
    print(f"{len(group)} cameras calibrated (worst median reprojection error {worst:.2f} px) -> "
          f"{args.out or 'calibration.toml in the session'}")
    return 0
