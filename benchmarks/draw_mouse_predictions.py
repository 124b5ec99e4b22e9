"""Draw a single-instance mouse model's predictions on held-back mouse-openfield frames (to look at).

Usage::

    .venv/bin/python benchmarks/draw_mouse_predictions.py MODEL_DIR --out held_back_mouse.png

The split is learning_curve.py's few-shot case (40 labeled frames chosen with seed 0 train the model;
the other 76 are held back). Green: the labels; magenta: the model's nodes, each tagged with the first
letters of its name. Six held-back frames, spread over the test set.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from draw_predictions import draw_frame  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSETRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--out", default="held_back_mouse.png")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.nn.data import collect_frames
    from napari_posetrack.nn.inference.predictors import load_predictor

    ds = load_dataset(SHARED / "mouse-openfield" / "config.yaml", check_videos="ignore")
    lab = ds.labels
    frames = np.unique(lab.frame_idx)
    train_frames = np.sort(np.random.default_rng(0).choice(frames, 40, replace=False))
    test = PoseDataset(ds.skeleton, ds.videos, [], lab.take(np.flatnonzero(~np.isin(lab.frame_idx, train_frames))))
    fs = collect_frames(test, use_negatives=False)
    pred = load_predictor(args.model_dir, "cpu", max_instances=1)
    k = ds.skeleton.n_nodes
    tags = [n[:2] for n in ds.skeleton.node_names]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, i in zip(axes.flat, np.linspace(0, len(fs) - 1, 6).astype(int)):
        img = np.asarray(fs.images[i])
        table = pred.predict_frames(img[None], frame_idx=np.array([0]), video_id=0)
        gt = np.asarray(fs.points[i], float).reshape(-1, k, 2)[0]
        draw_frame(ax, img, [gt], table.points, ds.skeleton.edges, tags)
        ax.set_title(f"held-back frame {int(fs.keys[i, 1])}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
