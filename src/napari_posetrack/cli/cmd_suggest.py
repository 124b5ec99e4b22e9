"""``posetrack suggest``: pick frames to label and store them as suggestions."""

from __future__ import annotations

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


def suggest(store, *, method: str = "uniform", n: int = 20, range: str | None = None,  # noqa: A002
            video=None, seed: int = 0, jump: float | None = None, min_score: float | None = None,
            replace: bool = False, show_progress: bool = True):
    """Add suggested frames to ``store``; returns the new (M, 2) ``[video_id, frame_idx]`` rows."""
    import numpy as np

    from ..core.errors import ConfigError
    from ..core.progress import drain
    from ..core.store import ProjectStore
    from ..core.suggest import iter_suggest_frames, merge_suggestions, parse_range

    start, stop = parse_range(range)
    with ProjectStore.open(store, mode="r+") as st:
        ds = st.load()
        if method == "outliers":
            try:
                from ..core.outliers import find_outlier_frames
            except ImportError:
                raise ConfigError(
                    "Outlier frame selection is not available in this installation (core.outliers is missing).",
                    hint="Update napari-posetrack, or use --method uniform/random/kmeans.",
                ) from None
            if not len(ds.predictions):
                raise ConfigError(f"{store} has no predictions to look for outliers in.",
                                  hint="Run `posetrack predict` first, or use another --method.")
            table = ds.predictions
            if video is not None:
                table = table.take(np.isin(table.video_id, video))
            if start is not None or stop is not None:
                lo, hi = start or 0, stop if stop is not None else np.iinfo(np.int64).max
                table = table.take((table.frame_idx >= lo) & (table.frame_idx < hi))
            new = np.asarray(find_outlier_frames(table, jump=jump, min_score=min_score, n=n), np.int64).reshape(-1, 2)
        else:
            gen = iter_suggest_frames(ds, method, n, video_ids=video, start=start, stop=stop, seed=seed,
                                      open_reader=st.open_video)
            new = drain(gen, desc="suggest", show=show_progress)
        merged = new if replace else merge_suggestions(ds.suggestions, new)
        st.save(suggestions=merged)
    return new


def run(args) -> int:
    new = suggest(args.store, method=args.method, n=args.n, range=args.range, video=args.video, seed=args.seed,
                  jump=args.jump, min_score=args.min_score, replace=args.replace)
    per_video = {}
    for v, _ in new:
        per_video[int(v)] = per_video.get(int(v), 0) + 1
    detail = ", ".join(f"video {v}: {k}" for v, k in sorted(per_video.items())) or "none"
    print(f"posetrack suggest: {len(new)} frame(s) suggested ({detail}); saved in {args.store}")
    return 0
