"""``posetrack suggest``: pick frames to label and store them as suggestions.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_suggest`).
"""

from __future__ import annotations


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

