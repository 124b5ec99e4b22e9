"""Accuracy per minute of CPU training: the default settings a user gets, against sleap-nn.

Usage::

    .venv/bin/python benchmarks/learning_curve.py --minutes 5,10,20,30 --out /tmp/lc \\
        [--pipelines topdown,topdown-unaligned,bottomup] [--skip-anchor] [--mouse]

Case 1 (flies): train on two_flies + single_fly, evaluate on the unseen three_flies video, for
each CPU budget (``train.max_minutes`` with ``time_clock: cpu``: CPU time of this process, all
threads) and pipeline:

* ``topdown``: ``posetrack train --model topdown`` with nothing changed (heading-aligned crops:
  the fly skeleton names thorax and head, so the defaults pick them);
* ``topdown-unaligned``: the same with ``model.heading_node: ""`` (what alignment buys, alone);
* ``bottomup``: ``posetrack train --model bottomup`` with nothing changed;
* ``sleap-nn`` (``--anchor``): sleap-nn's own automatic config (``ConfigGenerator.auto()``)
  trained in its own venv (``ANCHOR_PYTHON``) on the same file until it has used the same CPU
  time, then ``sleap-nn track`` on three_flies; scored with our metrics.

Case 2 (``--mouse``): single-instance on the mouse-openfield DeepLabCut project, 40 labeled
frames chosen with seed 0 for training, the other 76 for testing, 10 CPU-minutes.

Prints one table per case: OKS mAP (sigma 0.025), PCK@5px, median and mean px error, the
fraction of ground-truth animals detected, and per node the fraction predicted and the error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_flies as tf  # noqa: E402  (shared helpers: data, sleap-nn runner)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSETRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))

PIPELINES = {
    "topdown": ("topdown", {}),
    "topdown-unaligned": ("topdown", {"model": {"heading_node": ""}}),
    "bottomup": ("bottomup", {}),
    "single": ("single", {}),
}


def train_ours(kind: str, extra: dict, train_inputs, minutes: float, out: Path, threads: int) -> dict:
    import torch

    from napari_posetrack.nn.train import iter_train

    torch.set_num_threads(threads)
    ov = {"train": {"max_minutes": minutes, "time_clock": "cpu"}}
    for k, v in extra.items():
        ov.setdefault(k, {}).update(v)
    t0, c0 = time.time(), time.process_time()
    gen = iter_train(train_inputs, kind, out, overrides=ov)
    steps, notes = 0, []
    try:
        while True:
            ev = next(gen)
            if ev.stage == "train":
                steps += 1
            elif ev.message and ev.stage in ("setup", "validate", "stage"):
                notes.append(ev.message)
                print(f"    {ev.message}", flush=True)
    except StopIteration as stop:
        res = stop.value
    return {"train_s": time.time() - t0, "cpu_s": time.process_time() - c0, "steps": steps, "notes": notes,
            "result": res}


def predict_ours(model_dir: Path, fs, n_nodes: int, max_instances: int | None):
    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.nn.inference.predictors import load_predictor

    pred = load_predictor(model_dir, "cpu", max_instances=max_instances)
    t0 = time.time()
    tables = []
    for i in range(0, len(fs), 4):
        frames = np.stack(fs.images[i:i + 4])
        tables.append(pred.predict_frames(frames, frame_idx=fs.keys[i:i + 4, 1], video_id=0))
    return PoseTable.concat(tables, n_nodes), time.time() - t0


def summarise(gt, pred, names) -> dict:
    from napari_posetrack.core.metrics.pose import pose_metrics

    m = pose_metrics(gt, pred, node_names=names)
    m.pop("distances", None)
    m["detected"] = m["n_matched"] / max(1, m["n_gt_instances"])
    return m


def _merge(extra: dict, settings) -> dict:
    """``extra`` plus ``--set section.key=value`` overrides (values parsed as YAML: numbers, booleans, text)."""
    import yaml

    out = {k: dict(v) for k, v in extra.items()}
    for item in settings or []:
        key, _, value = item.partition("=")
        *sections, name = key.split(".")
        d = out
        for section in sections:  # model.backbone.norm=batch -> {"model": {"backbone": {"norm": "batch"}}}
            d = d.setdefault(section, {})
        d[name] = yaml.safe_load(value)
    return out


def row(case, who, minutes, m, cpu_s, steps) -> dict:
    return {"case": case, "who": who, "minutes": minutes, "oks_map": m["oks_map"], "pck_5": m["pck_5"],
            "median": m["error"]["median"], "mean": m["error"]["mean"], "detected": m["detected"],
            "n_pred": m["n_pred_instances"], "cpu_s": cpu_s, "steps": steps,
            "per_node": {k: (v.get("detected"), v.get("median"), v.get("pck_5")) for k, v in m["per_node"].items()}}


def print_table(rows, title):
    print(f"\n### {title}\n")
    print("| pipeline | CPU min | OKS mAP | PCK@5px | median px | mean px | animals detected | train steps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['who']} | {r['minutes']:g} | {r['oks_map']:.3f} | {r['pck_5']:.3f} | {r['median']:.2f} | "
              f"{r['mean']:.2f} | {r['detected']:.3f} | {r['steps']} |")
    for r in rows:
        print(f"\nper node, {r['who']} at {r['minutes']:g} CPU-min (fraction predicted / median px / PCK@5):")
        print("| node | predicted | median px | PCK@5 |\n|---|---:|---:|---:|")
        for node, (det, med, pck) in r["per_node"].items():
            f = (lambda v, d=3: "nan" if v is None or not np.isfinite(v) else f"{v:.{d}f}")
            print(f"| {node} | {f(det)} | {f(med, 2)} | {f(pck)} |")


def flies(args, out: Path):
    test_ds = tf.load_test()
    test_fs = tf.read_frames(test_ds)
    names = test_ds.skeleton.node_names
    train_file = tf.merged_training_file(out)
    rows = []
    for minutes in [float(m) for m in args.minutes.split(",")]:
        for name in [p for p in args.pipelines.split(",") if p]:
            kind, extra = PIPELINES[name]
            d = out / f"{name}_{minutes:g}"
            print(f"== ours {name}, {minutes:g} CPU-min", flush=True)
            r = train_ours(kind, _merge(extra, args.set), [train_file], minutes, d, args.threads)
            table, _ = predict_ours(d, test_fs, len(names), 3)
            m = summarise(test_ds.labels, table, names)
            rows.append(row("flies", name, minutes, m, r["cpu_s"], r["steps"]))
            print(f"   {name} {minutes:g} min: mAP {m['oks_map']:.3f} PCK@5 {m['pck_5']:.3f} median "
                  f"{m['error']['median']:.2f} detected {m['detected']:.3f}", flush=True)
        if not args.skip_anchor:
            for kind in args.anchor_kinds.split(","):
                print(f"== sleap-nn {kind}, {minutes:g} CPU-min", flush=True)
                r = tf.run_anchor(kind, minutes * 60, out / f"anchor_{minutes:g}", args.threads, test_ds, train_file,
                                  auto=True)
                if r["table"] is None:
                    print("   sleap-nn produced no predictions", flush=True)
                    continue
                m = summarise(test_ds.labels, r["table"], names)
                rows.append(row("flies", f"sleap-nn {kind}", minutes, m, r["cpu_s"], -1))
                print(f"   sleap-nn {kind}: mAP {m['oks_map']:.3f} PCK@5 {m['pck_5']:.3f} detected "
                      f"{m['detected']:.3f}", flush=True)
        (out / "results_flies.json").write_text(json.dumps(rows, default=float, indent=1))
    print_table(rows, "flies: train two_flies + single_fly, test three_flies")
    return rows


def mouse(args, out: Path):
    """Single-instance, 40 labeled frames (seed 0) for training, the other 76 for testing."""
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.nn.data import collect_frames

    ds = load_dataset(SHARED / "mouse-openfield" / "config.yaml", check_videos="ignore")
    lab = ds.labels
    frames = np.unique(lab.frame_idx)
    rng = np.random.default_rng(0)
    train_frames = np.sort(rng.choice(frames, 40, replace=False))
    is_train = np.isin(lab.frame_idx, train_frames)
    tr = PoseDataset(ds.skeleton, ds.videos, [], lab.take(np.flatnonzero(is_train)))
    te = PoseDataset(ds.skeleton, ds.videos, [], lab.take(np.flatnonzero(~is_train)))
    test_fs = collect_frames(te, use_negatives=False)
    d = out / "mouse_single"
    r = train_ours("single", _merge({}, args.set), tr, args.mouse_minutes, d, args.threads)
    table, _ = predict_ours(d, test_fs, ds.skeleton.n_nodes, 1)
    m = summarise(te.labels, table, ds.skeleton.node_names)
    rows = [row("mouse", "single (ours)", args.mouse_minutes, m, r["cpu_s"], r["steps"])]
    if not args.skip_anchor:
        rows += mouse_anchor(args, out, tr, te)
    print_table(rows, f"mouse-openfield single-instance: 40 training frames, {len(test_fs)} test frames")
    (out / "results_mouse.json").write_text(json.dumps(rows, default=float, indent=1))
    return rows


def mouse_anchor(args, out: Path, tr, te) -> list:
    """sleap-nn's own automatic single-instance config on the same 40 frames and CPU time, scored on the 76."""
    import sleap_io as sio

    from napari_posetrack.core.io import save_dataset
    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    d = out / "anchor_mouse"
    d.mkdir(parents=True, exist_ok=True)
    train_file = save_dataset(tr, d / "mouse_train.pkg.slp", "pkg.slp", overwrite=True)
    test_file = save_dataset(te, d / "mouse_test.pkg.slp", "pkg.slp", overwrite=True)
    print(f"== sleap-nn single, {args.mouse_minutes:g} CPU-min", flush=True)
    r = tf.run_anchor("single", args.mouse_minutes * 60, d, args.threads, None, train_file, auto=True,
                      test_path=test_file, max_instances=1)
    if r["table"] is None:
        print("   sleap-nn produced no predictions", flush=True)
        return []
    test_labels = labels_to_dataset(sio.load_slp(str(test_file))).labels
    m = summarise(test_labels, r["table"], te.skeleton.node_names)
    return [row("mouse", "sleap-nn single", args.mouse_minutes, m, r["cpu_s"], -1)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="5,10,20,30", help="CPU-minute budgets, comma separated")
    ap.add_argument("--pipelines", default="topdown,topdown-unaligned,bottomup")
    ap.add_argument("--anchor-kinds", default="topdown,bottomup")
    ap.add_argument("--skip-anchor", action="store_true")
    ap.add_argument("--skip-flies", action="store_true")
    ap.add_argument("--mouse", action="store_true", help="also run the few-shot mouse case")
    ap.add_argument("--mouse-minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/learning_curve")
    ap.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                    help="override a default for an ablation, e.g. --set augment.patch_size=-1 (repeatable)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.skip_flies:
        flies(args, out)
    if args.mouse:
        mouse(args, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
