"""How the test flies' poses differ from the training flies', node by node, in the heading-aligned frame.

Usage::

    .venv/bin/python benchmarks/label_shift.py [--threshold 8]

Every labeled fly of two_flies + single_fly (training) and three_flies (test) is turned so that
thorax -> head points up, with the thorax at the origin. Per node it prints the median position
and, per split, the fraction of flies whose node lies more than ``--threshold`` px from the
midline, plus the wingL - wingR distance (three_flies' flies spread their wings; the training
flies keep them folded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_flies as tf  # noqa: E402


def aligned_points(files, anchor="thorax", heading="head"):
    """(M, K, 2) poses turned heading-up around the anchor, and the node names."""
    import sleap_io as sio

    out, names = [], None
    for f in files:
        lab = sio.load_slp(str(f))
        names = [n.name for n in lab.skeletons[0].nodes]
        ia, ih = names.index(anchor), names.index(heading)
        for lf in lab.labeled_frames:
            for inst in (lf.user_instances or lf.instances):
                p = inst.numpy()
                if np.isnan(p[[ia, ih]]).any():
                    continue
                h = p[ih] - p[ia]
                ang = -np.pi / 2 - np.arctan2(h[1], h[0])
                rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
                out.append((p - p[ia]) @ rot.T)
    return np.array(out), names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=8.0, help="px from the midline that counts as 'out'")
    args = ap.parse_args(argv)
    train, names = aligned_points([tf.DATA / "two_flies.slp", tf.DATA / "single_fly.slp"])
    test, _ = aligned_points([tf.DATA / "three_flies.slp"])
    print(f"{len(train)} training flies, {len(test)} test flies; aligned frame: thorax at 0, head up (-y)\n")
    print(f"| node | train median x, y | test median x, y | train > {args.threshold:g} px off midline | "
          f"test > {args.threshold:g} px off midline |")
    print("|---|---|---|---:|---:|")
    for k, n in enumerate(names):
        row = []
        for pts in (train, test):
            q = pts[:, k]
            q = q[np.isfinite(q).all(1)]
            row.append((np.median(q, 0), float((np.abs(q[:, 0]) > args.threshold).mean()) if len(q) else np.nan))
        print(f"| {n} | {row[0][0][0]:.1f}, {row[0][0][1]:.1f} | {row[1][0][0]:.1f}, {row[1][0][1]:.1f} | "
              f"{row[0][1]:.2f} | {row[1][1]:.2f} |")
    if "wingL" in names and "wingR" in names:
        iL, iR = names.index("wingL"), names.index("wingR")
        for label, pts in (("train", train), ("test", test)):
            d = np.linalg.norm(pts[:, iL] - pts[:, iR], axis=-1)
            d = d[np.isfinite(d)]
            print(f"\nwingL - wingR distance, {label}: median {np.median(d):.1f} px, 90th percentile "
                  f"{np.percentile(d, 90):.1f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
