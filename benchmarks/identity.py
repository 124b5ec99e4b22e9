"""Supervised identity on the flies: who is F and who is M, without (and with) temporal tracking.

Usage::

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/identity.py --minutes 20 --out /tmp/identity

Train ``topdown-id`` and ``bottomup-id`` (``--model``, one or both; default settings,
``train.max_minutes`` CPU-minutes each with ``time_clock: cpu`` and ``--threads`` torch threads) on
two_flies frames 0-95 (tracks F and M), predict frames 96-127 and score them against the F/M ground
truth (``--test-frames 0-31`` holds back another stretch and trains on the rest):

* ``identity only``: each frame on its own, classes by Hungarian matching on the class
  probabilities (tracks named after the classes);
* ``tracker only``: the same poses tracked by the ``simple`` tracker (max 2 tracks), identity
  ignored (its tracks have no names, so no identity accuracy);
* ``tracker + identity (post-step)``: the tracker-only tracklets stitched to the named identities and
  each frame decided on ``(1 - W) * track + W * appearance`` (``--identity-weight``, default 0.5);
* ``tracker with identity cost``: what ``posetrack track --identity-weight W`` does: the class
  probabilities are a cost term of the online tracker (``(1 - W) * pose + W * identity``), then the
  same stitching names the tracklets.

Each row: identity accuracy per class (ground-truth instances matched at OKS >= 0.5 whose
prediction carries their class), the identity of the detections per class (predictions of a class
whose nearest ground-truth animal, by median node distance, is of that class: the identity apart
from the pose quality), IDF1, ID switches and MOTA (core.metrics.tracking, OKS >= 0.5), PCK@5px
(core.metrics.pose). The same is repeated on the test frames in a shuffled order (what a
video with cuts looks like): identity-only figures must not change, a temporal tracker's do.
Each model is written to ``OUT/<model>`` and its rows to ``OUT/identity_<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSETRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
FLIES = SHARED / "flies" / "two_flies.slp"


def split(ds, test=(96, 127)):
    """Labels of frames ``test`` (first, last) held back; the other frames train."""
    from napari_posetrack.core.dataset import PoseDataset

    lab = ds.labels
    held = (lab.frame_idx >= test[0]) & (lab.frame_idx <= test[1])
    tr = lab.take(~held)
    te = lab.take(held)
    return (PoseDataset(ds.skeleton, ds.videos, list(ds.track_names), tr),
            PoseDataset(ds.skeleton, ds.videos, list(ds.track_names), te))


def train(train_ds, out: Path, minutes: float, threads: int, kind: str = "topdown-id") -> dict:
    import torch

    from napari_posetrack.nn.train import iter_train

    torch.set_num_threads(threads)
    ov = {"train": {"max_minutes": minutes, "time_clock": "cpu"}}
    t0, c0 = time.time(), time.process_time()
    gen = iter_train(train_ds, kind, out, overrides=ov)
    steps = 0
    try:
        while True:
            ev = next(gen)
            steps += ev.stage == "train"
            if ev.message and ev.stage in ("setup", "stage", "validate"):
                print(f"    {ev.message}", flush=True)
    except StopIteration as stop:
        res = stop.value
    return {"wall_s": time.time() - t0, "cpu_s": time.process_time() - c0, "steps": steps, "result": res}


def predict(model_dir: Path, video_path, frame_order) -> tuple:
    """Predict the frames in ``frame_order`` (in that order, 4 per batch); frame_idx = position in the order."""
    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.core.video import open_video
    from napari_posetrack.nn.inference.predictors import load_predictor

    pred = load_predictor(model_dir, "cpu")
    reader = open_video(video_path)
    tables = []
    t0 = time.time()
    for lo in range(0, len(frame_order), 4):
        chunk = frame_order[lo:lo + 4]
        frames = np.stack([np.asarray(reader[int(f)]) for f in chunk])
        tables.append(pred.predict_frames(frames, frame_idx=np.arange(lo, lo + len(chunk))))
    close = getattr(reader, "close", None)
    if close:
        close()
    table = PoseTable.concat(tables, pred.n_nodes)
    return table, table.identity_probs, pred.class_names, time.time() - t0


def identity_scores(gt, pred, class_names) -> dict:
    from napari_posetrack.core.identity import identity_accuracy
    from napari_posetrack.core.metrics.tracking import match_frame

    true, got = [], []
    for f in np.unique(gt.frame_idx):
        g, p = gt.for_frame(int(f)), pred.for_frame(int(f))
        r, c, _ = match_frame(g.points, p.points) if len(p) else (np.zeros(0, int), np.zeros(0, int), None)
        matched = dict(zip(r.tolist(), c.tolist()))
        for i in range(len(g)):
            true.append(int(g.track_id[i]))
            got.append(int(p.track_id[matched[i]]) if i in matched else -1)
    return identity_accuracy(np.asarray(true), np.asarray(got), class_names)


def detection_identity(gt, pred, class_names) -> dict:
    """Identity of the detections, apart from pose quality: each predicted instance is compared with the
    ground-truth animal nearest to it in its frame (smallest median node distance, any pose quality);
    ``{"per_class": {class: right / predictions of that class}, "n": {class: count}, "median_px": ...}``.

    The identity accuracy of :func:`score` counts a ground-truth animal without a prediction at OKS >= 0.5
    as wrong, so a poor pose reads as a wrong identity there; this says whether the named animal is the
    right one."""
    right = {c: 0 for c in class_names}
    n = {c: 0 for c in class_names}
    dist = []
    for f in np.unique(pred.frame_idx):
        g, p = gt.for_frame(int(f)), pred.for_frame(int(f))
        if not len(g):
            continue
        for j in range(len(p)):
            if not 0 <= p.track_id[j] < len(class_names):
                continue
            with np.errstate(invalid="ignore"):
                d = np.nanmedian(np.linalg.norm(g.points - p.points[j][None], axis=-1), axis=1)
            if not np.isfinite(d).any():
                continue
            i = int(np.nanargmin(d))
            c = class_names[int(p.track_id[j])]
            n[c] += 1
            right[c] += int(g.track_id[i] == p.track_id[j])
            dist.append(float(d[i]))
    return {"per_class": {c: right[c] / n[c] if n[c] else float("nan") for c in class_names}, "n": n,
            "median_node_px": float(np.median(dist)) if dist else float("nan")}


def score(name, gt, pred, class_names, named: bool) -> dict:
    from napari_posetrack.core.metrics.pose import pose_metrics
    from napari_posetrack.core.metrics.tracking import tracking_metrics

    tm = tracking_metrics(gt, pred)
    pm = pose_metrics(gt, pred)
    row = {"row": name, "idf1": tm["idf1"], "id_switches": tm["id_switches"], "mota": tm["mota"],
           "pck_5": pm["pck_5"]}
    if named:
        acc = identity_scores(gt, pred, class_names)
        row.update({f"acc_{c}": v for c, v in acc["per_class"].items()})
        row["acc"] = acc["accuracy"]
        det = detection_identity(gt, pred, class_names)
        row.update({f"det_{c}": v for c, v in det["per_class"].items()})
        row["det_n"] = det["n"]
    return row


def rows_for(gt, table, probs, class_names, weight: float) -> list:
    from napari_posetrack.core.tracking.identity import combine_identity_tracks
    from napari_posetrack.core.tracking.run import track_table

    out = [score("identity only", gt, table, class_names, True)]
    tracked = table.with_columns(track_id=np.full(len(table), -1, np.int32))
    if len(table):
        tracked = track_table(tracked, tracker="simple", max_tracks=len(class_names)).table
    out.append(score("tracker only", gt, tracked, class_names, False))
    comb = combine_identity_tracks(tracked, probs, weight=weight)
    out.append(score(f"tracker + identity post-step (W={weight:g})", gt,
                     tracked.with_columns(track_id=comb.track_id), class_names, True))
    out[-1]["flagged"] = int(comb.disagree.sum())
    if len(table):
        cost = track_table(table.with_columns(track_id=np.full(len(table), -1, np.int32), identity_probs=probs),
                           tracker="simple", max_tracks=len(class_names), identity_weight=weight,
                           class_names=class_names)
        out.append(score(f"tracker with identity cost (W={weight:g})", gt, cost.table, class_names, True))
        out[-1]["flagged"] = int(cost.identity_disagree.sum())
    return out


def print_rows(rows, class_names, title):
    print(f"\n{title}")
    cols = [f"acc_{c}" for c in class_names]
    cols += [f"det_{c}" for c in class_names]
    print(f"{'':40s} " + " ".join(f"{c:>8s}" for c in cols) + f" {'IDF1':>6s} {'IDsw':>5s} {'MOTA':>6s} {'PCK@5':>6s}")
    for r in rows:
        acc = " ".join(f"{r[c]:8.3f}" if c in r else f"{'n/a':>8s}" for c in cols)
        print(f"{r['row']:40s} {acc} {r['idf1']:6.3f} {r['id_switches']:5d} {r['mota']:6.3f} {r['pck_5']:6.3f}")
    print("acc_<class>: ground-truth animals of that class with a prediction at OKS >= 0.5 that carries the class; "
          "det_<class>: predictions of that class that sit on (are nearest to) an animal of that class")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="CPU-minutes of training per model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--identity-weight", type=float, default=0.5)
    ap.add_argument("--out", default="/tmp/identity_bench")
    ap.add_argument("--model", action="append", choices=["topdown-id", "bottomup-id"],
                    help="model kind to train and score (repeat for both; default both, one after the other)")
    ap.add_argument("--test-frames", default="96-127",
                    help="held-back frames FIRST-LAST (the others train; default 96-127, the issue's split)")
    ap.add_argument("--model-dir", help="score this already trained model (of the one --model) instead of training")
    args = ap.parse_args(argv)
    if not FLIES.is_file():
        print(f"needs {FLIES} (../shared/data)", file=sys.stderr)
        return 2
    from napari_posetrack.core.identity import identity_classes
    from napari_posetrack.core.io import load_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(FLIES, check_videos="ignore")
    lo, hi = (int(v) for v in args.test_frames.split("-"))
    train_ds, test_ds = split(ds, (lo, hi))
    what = f"two_flies frames {lo}-{hi}"
    trained_on = "the other frames" if (lo, hi) != (96, 127) else "frames 0-95"
    spec = identity_classes(test_ds)
    gt = test_ds.labels.with_columns(track_id=spec.labels.astype(np.int32))
    kinds = args.model or ["topdown-id", "bottomup-id"]
    if args.model_dir and len(kinds) != 1:
        ap.error("--model-dir scores one model: name its kind with one --model")
    test_frames = np.unique(gt.frame_idx)
    video = ds.videos[0].path
    for kind in kinds:
        report = {"model": kind, "minutes": args.minutes, "threads": args.threads, "test_frames": [lo, hi]}
        model_dir = Path(args.model_dir) if args.model_dir else out / kind
        if not args.model_dir:
            print(f"training {kind} on {trained_on} for {args.minutes:g} CPU-minutes ({args.threads} thread(s))")
            tr = train(train_ds, model_dir, args.minutes, args.threads, kind)
            report["train"] = {k: tr[k] for k in ("wall_s", "cpu_s", "steps")}
            print(f"  trained: {tr['steps']} steps, {tr['cpu_s'] / 60:.1f} CPU-min, {tr['wall_s'] / 60:.1f} wall-min")
        for label, order in (("in time order", test_frames),
                             ("shuffled in time", np.random.default_rng(0).permutation(test_frames))):
            table, probs, names, secs = predict(model_dir, video, order)
            pos = {int(f): i for i, f in enumerate(order)}
            g = gt.with_columns(frame_idx=np.asarray([pos[int(f)] for f in gt.frame_idx]))
            rows = rows_for(g, table, probs, names, args.identity_weight)
            print_rows(rows, names, f"{kind}: {what}, {label} ({len(order)} frames, predicted in "
                       f"{secs:.1f} s)")
            report[label] = rows
        path = out / f"identity_{kind}.json"
        path.write_text(json.dumps(report, indent=1, default=float))
        print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
