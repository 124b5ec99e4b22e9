"""Where a bottom-up fly model loses accuracy: its confidence-map peaks against the PAF grouping.

Scores a bottom-up model directory on three_flies:

* the pipeline, as ``learning_curve.py`` scores it (``max_instances`` 3), with any predictor
  settings given by ``--set`` (e.g. ``--set paf_method=greedy --set paf_min_fraction=0.5``);
* the peaks alone: for each labeled node, whether a peak *of that node* lies within 5 px (what a
  perfect grouping could reach), whether the nearest peak of its mirror-image node (wingL for
  wingR) lies within 5 px instead, and the peaks per frame of each node (3 flies: 3 is right).

Per node, next to the pipeline's PCK@5px: a node whose peaks are there but whose pipeline PCK is
low loses in the grouping; a node without peaks loses in the maps.

Usage::

    .venv/bin/python benchmarks/bottomup_diagnosis.py MODEL_DIR [--threads 1] [--set NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning_curve as lc  # noqa: E402
import topdown_diagnosis as td  # noqa: E402
import train_flies as tf  # noqa: E402


def _mirror(names: list[str]) -> dict[int, int]:
    """Node index -> index of its mirror-image node: the name with one L swapped for R or back (wingL <-> wingR)."""
    out = {}
    for i, n in enumerate(names):
        for pos, ch in enumerate(n):
            if ch in "LR":
                other = n[:pos] + ("R" if ch == "L" else "L") + n[pos + 1:]
                if other in names:
                    out[i] = names.index(other)
    return out


def main(argv=None) -> int:
    import torch

    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.nn.inference.predictors import _unscale_np, load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=2, help="frames per predictor batch")
    ap.add_argument("--px", type=float, default=5.0, help="distance counted as right (original px)")
    ap.add_argument("--set", action="append", default=[], help="predictor setting NAME=VALUE (repeatable)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = {k: td._value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    ds = tf.load_test()
    fs = tf.read_frames(ds)
    names = ds.skeleton.node_names
    k = len(names)
    pred = load_predictor(args.model_dir, "cpu", max_instances=3, **settings)
    st = pred.stages["bottomup"]
    mirror = _mirror(names)
    tables = []
    hit = np.zeros(k)
    mirror_hit = np.zeros(k)
    total = np.zeros(k)
    n_peaks = np.zeros(k)
    with torch.inference_mode():
        for i in range(0, len(fs), args.batch):
            sl = slice(i, i + args.batch)
            frames = np.stack(fs.images[sl])
            tables.append(pred.predict_frames(frames, frame_idx=fs.keys[sl, 1]))
            _, b, c, xy, _ = pred._peaks(torch.from_numpy(frames))
            b, c = b.numpy(), c.numpy()
            xy = _unscale_np(xy.float().numpy(), st)
            for j in range(len(frames)):
                gt = fs.points[i + j]  # (animals, K, 2)
                for node in range(k):
                    mine = xy[(b == j) & (c == node)]
                    n_peaks[node] += len(mine)
                    other = xy[(b == j) & (c == mirror.get(node, -1))]
                    for g in gt[:, node]:
                        if not np.isfinite(g).all():
                            continue
                        total[node] += 1
                        d = np.hypot(*(mine - g).T) if len(mine) else np.array([np.inf])
                        hit[node] += d.min() <= args.px
                        if node in mirror and d.min() > args.px and len(other):
                            mirror_hit[node] += np.hypot(*(other - g).T).min() <= args.px
    m = lc.summarise(ds.labels, PoseTable.concat(tables, k), names)
    print(f"pipeline {settings or '(defaults)'}: OKS mAP {m['oks_map']:.3f} PCK@5 {m['pck_5']:.3f} median "
          f"{m['error']['median']:.2f} mean {m['error']['mean']:.2f} detected {m['detected']:.3f} "
          f"instances {m['n_pred_instances']}")
    print(f"peaks: a peak of the node within {args.px:g} px of {hit.sum() / total.sum():.3f} of the labeled nodes "
          f"(the grouping's ceiling); flies per frame {np.mean([len(p) for p in fs.points]):.2f}")
    print(f"| node | peak within {args.px:g} px | only the mirror node's peak | peaks per frame | "
          "pipeline median px | pipeline PCK@5 |")
    print("|---|---:|---:|---:|---:|---:|")
    for node, name in enumerate(names):
        pm = m["per_node"][name]
        mh = f"{mirror_hit[node] / total[node]:.3f}" if node in mirror else "-"
        print(f"| {name} | {hit[node] / total[node]:.3f} | {mh} | {n_peaks[node] / len(fs):.2f} | "
              f"{pm['median']:.2f} | {pm['pck_5']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
