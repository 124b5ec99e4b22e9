"""Draw a fly model's predictions and the ground truth on held-back three_flies frames (to look at).

Usage::

    .venv/bin/python benchmarks/draw_predictions.py MODEL_DIR --frames 0,40,80,120 --out held_back.png

Magenta: the model's nodes and edges (points larger where the score is higher); green: the proofread
labels. Each panel is a crop around the labeled flies, at full resolution, titled with the frame and
how many flies were labeled and predicted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_flies as tf  # noqa: E402


def draw_frame(ax, img, labels, predictions, edges, tags=()) -> None:
    """A grey frame with labeled poses (green) and predicted ones (magenta), edges and, if given, node tags."""
    ax.imshow(np.asarray(img).squeeze(), cmap="gray")
    for inst, colour in [(g, "lime") for g in labels] + [(p, "magenta") for p in predictions]:
        for a, b in edges:
            if np.isfinite(inst[[a, b]]).all():
                ax.plot(inst[[a, b], 0], inst[[a, b], 1], "-", color=colour, lw=0.8)
        ax.plot(inst[:, 0], inst[:, 1], "o", color=colour, ms=2.5)
    for p in predictions:
        for j, tag in enumerate(tags):
            if np.isfinite(p[j]).all():
                ax.text(p[j, 0] + 4, p[j, 1], tag, color="magenta", fontsize=7)
    ax.axis("off")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--frames", default="0,40,80,120", help="three_flies frame indices, comma separated")
    ap.add_argument("--out", default="held_back.png")
    ap.add_argument("--max-instances", type=int, default=3)
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_posetrack.nn.inference.predictors import load_predictor

    ds = tf.load_test()
    fs = tf.read_frames(ds)
    edges = [tuple(e) for e in ds.skeleton.edges]  # node indices
    pred = load_predictor(args.model_dir, "cpu", max_instances=args.max_instances)
    wanted = [int(f) for f in args.frames.split(",")]
    keys = fs.keys[:, 1]
    fig, axes = plt.subplots(1, len(wanted), figsize=(5 * len(wanted), 5), squeeze=False)
    for ax, f in zip(axes[0], wanted):
        i = int(np.flatnonzero(keys == f)[0]) if (keys == f).any() else None
        if i is None:
            ax.set_title(f"frame {f}: not labeled")
            ax.axis("off")
            continue
        img = np.asarray(fs.images[i])
        table = pred.predict_frames(img[None], frame_idx=np.array([f]), video_id=0)
        gt = np.asarray(fs.points[i], float).reshape(-1, len(ds.skeleton.node_names), 2)
        ok = np.isfinite(gt).all(-1)
        lo = np.nanmin(gt[ok], 0) - 60 if ok.any() else np.zeros(2)
        hi = np.nanmax(gt[ok], 0) + 60 if ok.any() else np.array(img.shape[1::-1], float)
        draw_frame(ax, img, gt, table.points, edges)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(hi[1], lo[1])
        ax.set_title(f"frame {f}: {len(gt)} labeled, {len(table)} predicted")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
