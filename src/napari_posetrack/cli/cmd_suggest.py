"""``posetrack suggest``: pick frames to label and store them as suggestions."""

from __future__ import annotations

from ..workflows.suggest import suggest

NAME = "suggest"
HELP = "suggest frames to label (uniform, random, k-means on thumbnails, or prediction outliers)"
DESCRIPTION = (
    "Pick frames to label in the project STORE and add them to its suggestions. uniform/random "
    "sample -n frames per video in --range; kmeans clusters small grey thumbnails (PCA + k-means, "
    "streamed, so long videos need little memory) and keeps one frame per cluster; outliers ranks "
    "the frames whose predictions look wrong (big jumps, low scores) and keeps the -n worst."
)


def add_arguments(parser) -> None:
    parser.add_argument("store", metavar="STORE", help="posetrack project (.posetrack.zarr or its folder)")
    parser.add_argument("--method", default="uniform", choices=["uniform", "random", "kmeans", "outliers"],
                        help="how to pick frames (default uniform)")
    parser.add_argument("-n", type=int, default=20, help="frames per video (default 20)")
    parser.add_argument("--range", default=None, metavar="A:B", help="only frames A <= f < B")
    parser.add_argument("--video", type=int, action="append", default=None, metavar="I",
                        help="only this video index (repeatable; default all)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (random, kmeans)")
    parser.add_argument("--jump", type=float, default=None, metavar="PX",
                        help="outliers: flag a node moving more than PX pixels between frames")
    parser.add_argument("--min-score", type=float, default=None, metavar="P",
                        help="outliers: flag a node or instance scored below P")
    parser.add_argument("--replace", action="store_true", help="replace the existing suggestions instead of adding")


def run(args) -> int:
    new = suggest(args.store, method=args.method, n=args.n, range=args.range, video=args.video, seed=args.seed,
                  jump=args.jump, min_score=args.min_score, replace=args.replace)
    per_video = {}
    for v, _ in new:
        per_video[int(v)] = per_video.get(int(v), 0) + 1
    detail = ", ".join(f"video {v}: {k}" for v, k in sorted(per_video.items())) or "none"
    print(f"posetrack suggest: {len(new)} frame(s) suggested ({detail}); saved in {args.store}")
    return 0
