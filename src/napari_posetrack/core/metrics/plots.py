"""Matplotlib (Agg) figures for pose metrics: error distributions and a validation grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_error_distributions", "plot_validation_grid", "plot_history"]


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_error_distributions(metrics: dict, path=None, *, max_px: float | None = None):
    """Box plots of per-node pixel errors and the PCK curve.

    Parameters
    ----------
    metrics : dict from :func:`~napari_posetrack.core.metrics.pose.pose_metrics` (needs ``distances``)
    path : file to write (PNG), optional

    Returns
    -------
    matplotlib Figure
    """
    names = list(metrics["per_node"].keys())
    dists = [np.asarray(d, float) for d in metrics.get("distances", [[] for _ in names])]
    fig = _figure((max(6, 0.5 * len(names) + 4), 4))
    ax1, ax2 = fig.add_gridspec(1, 2, width_ratios=[3, 1]).subplots()
    ax1.boxplot([d if len(d) else [np.nan] for d in dists], showfliers=False)
    ax1.set_xticks(range(1, len(names) + 1), names, rotation=60, ha="right", fontsize=8)
    ax1.set_ylabel("error (px)")
    ax1.set_title("per-node error")
    if max_px:
        ax1.set_ylim(0, max_px)
    ts = sorted(metrics["pck"])
    ax2.plot(ts, [metrics["pck"][t] for t in ts], "o-")
    ax2.set_xlabel("threshold (px)")
    ax2.set_ylabel("PCK")
    ax2.set_ylim(0, 1)
    ax2.set_title(f"mAP {metrics['oks_map']:.3f}")
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(path))
    return fig


def plot_validation_grid(images, gt, pred, path=None, *, edges=(), n_cols: int = 4, titles=None):
    """A grid of frames with ground truth (green) and predictions (magenta) drawn.

    Parameters
    ----------
    images : sequence of (H, W) or (H, W, C) arrays
    gt, pred : sequences (per image) of (N, K, 2) point arrays (NaN = missing)
    edges : list of (i, j) node pairs to draw as lines
    """
    n = len(images)
    n_cols = max(1, min(n_cols, n))
    n_rows = max(1, int(np.ceil(n / n_cols)))
    fig = _figure((3 * n_cols, 3 * n_rows))
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= n:
            continue
        im = np.asarray(images[i])
        ax.imshow(im[..., 0] if im.ndim == 3 and im.shape[-1] == 1 else im, cmap="gray")
        for pts, color in ((gt[i], "lime"), (pred[i], "magenta")):
            pts = np.asarray(pts, float).reshape(-1, np.asarray(pts).shape[-2] if np.asarray(pts).ndim >= 2 else 1,
                                                 2)
            for inst in pts:
                ax.plot(inst[:, 0], inst[:, 1], "o", ms=2.5, color=color)
                for a, b in edges:
                    ax.plot(inst[[a, b], 0], inst[[a, b], 1], "-", lw=0.8, color=color)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(path))
    return fig


def plot_history(history: list[dict], path=None):
    """Train/validation loss per epoch (log scale) from a training ``history.json``."""
    fig = _figure((5, 3))
    ax = fig.subplots()
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["train_loss"] for h in history], label="train")
    ax.plot(ep, [h["val_loss"] for h in history], label="val")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(Path(path)))
    return fig
