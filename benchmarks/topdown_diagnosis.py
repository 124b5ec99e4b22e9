"""Where a top-down fly model loses accuracy: the whole pipeline against its crop stage alone.

Scores a top-down model directory on three_flies three ways:

* the pipeline, as ``learning_curve.py`` scores it (``max_instances`` 3);
* the centroid stage: distance from each ground-truth anchor to the nearest peak, and peaks per frame;
* the crop stage alone, fed with ground-truth anchors and ground-truth headings (per node, next to
  the pipeline's per-node figures).

Usage::

    .venv/bin/python benchmarks/topdown_diagnosis.py MODEL_DIR [--threads 1] [--crops-only]
        [--set recenter=false --set heading_check=0 ...]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning_curve as lc  # noqa: E402
import train_flies as tf  # noqa: E402


def _value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return float(text)
    except ValueError:
        return text


def main(argv=None) -> int:
    import torch

    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.nn.align import crop_affine, crop_input_side, heading_angles
    from napari_posetrack.nn.inference.predictors import load_predictor
    from napari_posetrack.nn.preprocess import convert_channels, scale_images

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crops-only", action="store_true", help="skip the pipeline and centroid figures")
    ap.add_argument("--batch", type=int, default=4, help="frames per predictor batch in the pipeline")
    ap.add_argument("--set", action="append", default=[], help="predictor setting NAME=VALUE (repeatable)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = dict(kv.split("=", 1) for kv in args.set)
    settings = {k: _value(v) for k, v in settings.items()}
    ds = tf.load_test()
    fs = tf.read_frames(ds)
    names = ds.skeleton.node_names
    k = len(names)
    pred = load_predictor(args.model_dir, "cpu", max_instances=3, **settings)
    st = pred.stages["centered_instance"]
    ai = pred.anchor_index if pred.anchor_index is not None else names.index("thorax")
    hi = pred.heading_index if pred.heading_index is not None else names.index("head")
    m = None
    if not args.crops_only:
        tables = []
        with torch.inference_mode():
            for i in range(0, len(fs), args.batch):
                sl = slice(i, i + args.batch)
                tables.append(pred.predict_frames(np.stack(fs.images[sl]), frame_idx=fs.keys[sl, 1]))
        m = lc.summarise(ds.labels, PoseTable.concat(tables, k), names)
        print(f"pipeline: OKS mAP {m['oks_map']:.3f} PCK@5 {m['pck_5']:.3f} median {m['error']['median']:.2f} "
              f"mean {m['error']['mean']:.2f} detected {m['detected']:.3f} instances {m['n_pred_instances']}")
        errs, peaks = [], []
        with torch.inference_mode():
            for i in range(len(fs)):
                b, axy, _, _, _ = pred.anchors(torch.from_numpy(np.stack([fs.images[i]])))
                peaks.append(len(b))
                for g in fs.points[i][:, ai]:
                    if np.isfinite(g).all() and len(b):
                        errs.append(float(np.min(np.hypot(*(axy.numpy() - g).T))))
        print(f"centroid: anchor error median {np.median(errs):.2f} px, p90 {np.percentile(errs, 90):.2f} px; "
              f"peaks per frame {np.mean(peaks):.2f} (flies per frame {np.mean([len(p) for p in fs.points]):.2f})")
    tables = []
    n_in = crop_input_side(pred.crop_size, st.scale, st.pad_to)
    fsc = st.scale if st.scale < 0.75 else 1.0
    with torch.inference_mode():
        for i in range(len(fs)):
            pts = fs.points[i]
            pts = pts[np.isfinite(pts[:, ai]).all(-1)]
            if not len(pts):
                continue
            f = torch.from_numpy(np.array(fs.images[i][None])).permute(0, 3, 1, 2).float() / 255.0
            f = convert_channels(f, st.channels)
            f = scale_images(f, fsc) if fsc != 1.0 else f
            phi = heading_angles(pts[:, ai], pts[:, hi])
            alpha = np.where(np.isfinite(phi), phi + math.pi / 2, 0.0) if pred.aligned else np.zeros(len(pts))
            A = crop_affine(torch.tensor(pts[:, ai]), torch.tensor(alpha, dtype=torch.float32), n_in, st.scale)
            p, v = pred._crop_predict(f, torch.zeros(len(pts), dtype=torch.long), A, n_in, fsc)
            p, v = p.numpy(), v.numpy()
            tables.append(pred.to_table([(p, np.where(np.isfinite(p).all(-1), v, np.nan))], [fs.keys[i, 1]]))
    g = lc.summarise(ds.labels, PoseTable.concat(tables, k), names)
    print(f"crops from ground-truth anchors and headings: OKS mAP {g['oks_map']:.3f} PCK@5 {g['pck_5']:.3f} "
          f"median {g['error']['median']:.2f} mean {g['error']['mean']:.2f}")
    print("| node | crops: median px | crops: PCK@5 | pipeline: median px | pipeline: PCK@5 |")
    print("|---|---:|---:|---:|---:|")
    for node, v in g["per_node"].items():
        pm = m["per_node"][node] if m else {}
        print(f"| {node} | {v['median']:.2f} | {v['pck_5']:.3f} | {pm.get('median', float('nan')):.2f} | "
              f"{pm.get('pck_5', float('nan')):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
