"""``posetrack eval``: score predictions against ground truth (pose and, if tracked, identity).

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_eval`).
"""

from __future__ import annotations


def _tables(path):
    from ..core.io import load_dataset

    ds = load_dataset(path, check_videos="ignore")
    return ds, ds.labels, (ds.predictions if len(ds.predictions) else ds.labels)


def eval(gt, pred, *, json_out=None, sigma=None, plots=None) -> dict:  # noqa: A001 - named like the command
    """Metrics dict: ``pose`` (see :func:`core.metrics.pose.pose_metrics`) and maybe ``tracking``."""
    import json
    from pathlib import Path

    from ..core.errors import SkeletonMismatchError
    from ..core.metrics.pose import DEFAULT_SIGMA, pose_metrics

    gt_ds, gt_table, _ = _tables(gt)
    pred_ds, _, pred_table = _tables(pred)
    if not gt_ds.skeleton.same_nodes(pred_ds.skeleton):
        mapping = pred_ds.skeleton.node_mapping(gt_ds.skeleton)
        if min(mapping) < 0:
            raise SkeletonMismatchError(
                f"GT nodes {gt_ds.skeleton.node_names} and prediction nodes {pred_ds.skeleton.node_names} differ.",
                hint="Evaluate predictions made with a model trained on the same skeleton.")
        pred_table = pred_table.remap_nodes(mapping, gt_ds.skeleton.n_nodes)
    gt_table = gt_table.with_columns(video_id=_video_ids(gt_ds, pred_ds, gt_table.video_id))
    result = {"pose": pose_metrics(gt_table, pred_table, sigmas=DEFAULT_SIGMA if sigma is None else sigma,
                                   node_names=gt_ds.skeleton.node_names)}
    if plots:
        from ..core.metrics.plots import plot_error_distributions

        Path(plots).mkdir(parents=True, exist_ok=True)
        plot_error_distributions(result["pose"], Path(plots) / "errors.png")
    if (gt_table.track_id >= 0).any() and (pred_table.track_id >= 0).any():
        try:
            from ..core.metrics.tracking import tracking_metrics
        except ImportError:
            result["tracking_note"] = "tracking metrics unavailable (core.metrics.tracking is not installed)"
        else:
            result["tracking"] = tracking_metrics(gt_table, pred_table)
            from ..core.identity import score_identities

            ident = score_identities(gt_table, gt_ds.track_names, pred_table, pred_ds.track_names)
            if ident is not None:  # the predictions name the animals (identity model): accuracy per class
                result["identity"] = ident
    distances = result["pose"].pop("distances", None)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1, default=float))
    result["pose"]["distances"] = distances
    return result


def _video_ids(gt_ds, pred_ds, ids):
    """Map GT video ids onto the prediction's by file name (same order when names do not match)."""
    import numpy as np
    from pathlib import Path

    names = [Path(v.path).name for v in pred_ds.videos]
    out = np.asarray(ids).copy()
    for i, v in enumerate(gt_ds.videos):
        n = Path(v.path).name
        if n in names:
            out[np.asarray(ids) == i] = names.index(n)
    return out

