"""``posetrack check-labels``: draw every labeled frame with its skeleton, flag outlier labels."""

from __future__ import annotations

from ..workflows.check_labels import check_labels

NAME = "check-labels"
HELP = "render every labeled frame with its skeleton to PNG and list labels that look wrong"
DESCRIPTION = (
    "Write one PNG per labeled frame of STORE into --out (dots for visible nodes, rings for "
    "occluded ones, skeleton edges in white), like DeepLabCut's check_labels. Also lists instances "
    "whose bone lengths or joint angles are far from the rest (robust z-score above --z) and "
    "likely left/right swaps; --suggest adds their frames to the project's suggestions."
)


def add_arguments(parser) -> None:
    parser.add_argument("store", metavar="STORE", help="posetrack project (.posetrack.zarr or its folder)")
    parser.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the PNGs")
    parser.add_argument("--z", type=float, default=3.5, help="robust z-score above which a label is flagged")
    parser.add_argument("--suggest", action="store_true", help="add the flagged frames to the suggestions")
    parser.add_argument("--no-render", action="store_true", help="only list outliers, write no PNG")


def run(args) -> int:
    paths, outliers = check_labels(args.store, args.out, z=args.z, suggest=args.suggest, render=not args.no_render)
    print(f"posetrack check-labels: wrote {len(paths)} PNG(s) to {args.out}")
    for d in outliers[:50]:
        print(f"  video {d['video_id']} frame {d['frame_idx']} (row {d['row']}): {'; '.join(d['reasons'])}")
    if len(outliers) > 50:
        print(f"  ... and {len(outliers) - 50} more")
    print(f"{len(outliers)} instance(s) to review" + (" (added to suggestions)" if args.suggest and outliers else ""))
    return 0
