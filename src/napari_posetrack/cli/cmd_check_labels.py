"""``posetrack check-labels``: draw every labeled frame with its skeleton, flag outlier labels."""

from __future__ import annotations

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


def check_labels(store, out, *, z: float = 3.5, suggest: bool = False, render: bool = True,
                 show_progress: bool = True):
    """Render labeled frames of ``store`` into ``out``; returns (paths, outliers)."""
    from ..core.progress import drain
    from ..core.qc import find_label_outliers, iter_render_labeled_frames, outlier_suggestions
    from ..core.store import ProjectStore
    from ..core.suggest import merge_suggestions

    with ProjectStore.open(store, mode="r+" if suggest else "r") as st:
        ds = st.load()
        paths = []
        if render:
            paths = drain(iter_render_labeled_frames(ds, out, st.open_video), desc="check-labels", show=show_progress)
        outliers = find_label_outliers(ds, z_threshold=z)
        if suggest and outliers:
            st.save(suggestions=merge_suggestions(ds.suggestions, outlier_suggestions(ds, z_threshold=z)))
    return paths, outliers


def run(args) -> int:
    paths, outliers = check_labels(args.store, args.out, z=args.z, suggest=args.suggest, render=not args.no_render)
    print(f"posetrack check-labels: wrote {len(paths)} PNG(s) to {args.out}")
    for d in outliers[:50]:
        print(f"  video {d['video_id']} frame {d['frame_idx']} (row {d['row']}): {'; '.join(d['reasons'])}")
    if len(outliers) > 50:
        print(f"  ... and {len(outliers) - 50} more")
    print(f"{len(outliers)} instance(s) to review" + (" (added to suggestions)" if args.suggest and outliers else ""))
    return 0
