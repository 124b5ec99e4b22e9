"""Accuracy benchmark: train on two_flies + single_fly, evaluate on three_flies; ours vs sleap-nn.

Usage::

    .venv/bin/python benchmarks/train_flies.py --minutes 6 --out /tmp/bench_train [--skip-anchor]

For each of top-down and bottom-up:

1. ours: ``posetrack``'s trainer (:func:`napari_posetrack.nn.train.iter_train`) with the config
   printed below, stopped by its own CPU-time limit (``train.max_minutes``, ``time_clock: cpu``);
2. the anchor: ``sleap-nn train`` (separate venv ``/work/anchor-venv``) with a config from
   ``sleap-nn``'s own ``ConfigGenerator(...).auto()`` with the architecture and training
   settings overridden to match ours (UNet filters/rate/stride, input scale, sigma, crop size,
   batch size, learning rate, rotation/scale augmentation; see ``stage_configs``), killed after
   the same CPU time as ours used in total (its best checkpoint is saved every epoch), then
   ``sleap-nn track`` on three_flies.slp's labeled frames;
3. both predictions scored with our metrics (:func:`core.metrics.pose.pose_metrics`, OKS
   sigma 0.025 for every node).

Both use the same threads (``--threads``) and the same training files; each holds out 10%
of the training frames for validation with its own seeded split.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POSETRACK_SHARED_DATA", ROOT.parent / "shared" / "data")) / "flies"
# The anchor venv's own torchvision 0.28 does not import beside torch 2.13+cpu; point
# ANCHOR_PYTHON at an interpreter where `import sleap_nn.cli` works (see the report).
ANCHOR_PYTHON = os.environ.get("ANCHOR_PYTHON", "/work/anchor-venv/bin/python")
SLEAP_NN = ["-c", "import sys; sys.argv[0] = 'sleap-nn'; from sleap_nn.cli import cli; cli()"]

# Sized for a 2-core CPU. Fly skeleton: 13 nodes, no symmetries declared, so no flip
# augmentation (a flip without swapping left/right nodes would teach wrong labels). Full
# rotation: the training videos show the flies mostly side-on, three_flies in every direction
# (with +/-15 degrees both tools scored PCK@5 ~0.1 on it, even from ground-truth anchors).
# The centroid model sees 1/4 scale: at 1/8 the touching flies of three_flies merge.
# sigma / paf_width are in pixels of the scaled network input. sleap-nn multiplies its confidence
# map sigma by the output stride (its sigma is in output-grid cells), so it is handed
# sigma / output_stride: both draw Gaussians of the same width. (Run 4 of this benchmark gave
# both the same number, so sleap-nn's maps were twice as wide as ours; see docs/training.md.)
OURS = {
    "topdown": {
        "centroid": {"model": {"sigma": 4.0, "output_stride": 2, "backbone": {"filters": 16, "down_blocks": 4}},
                     "preprocess": {"input_scale": 0.25}, "train": {"batch_size": 8}},
        "centered_instance": {"model": {"sigma": 5.0, "output_stride": 2, "offsets": True, "crop_size": 224,
                                        "backbone": {"filters": 16, "down_blocks": 4}},
                              "preprocess": {"input_scale": 0.5}, "train": {"batch_size": 8}},
    },
    "bottomup": {"bottomup": {"model": {"sigma": 4.0, "paf_width": 2.0, "output_stride": 2, "offsets": True,
                                        "backbone": {"filters": 16, "down_blocks": 4}},
                              "preprocess": {"input_scale": 0.25}, "train": {"batch_size": 4}}},
}
COMMON = {"augment": {"rotation": 180.0, "flip": 0.0, "scale_min": 0.9, "scale_max": 1.1},
          "train": {"learning_rate": 1e-3, "scheduler": "cosine", "patience": 0, "eval_every": 0, "val_fraction": 0.1,
                    "epochs": 10000, "steps_per_epoch": 50, "seed": 0}}


def stage_configs(kind: str) -> dict:
    """{stage name: merged settings} for ``kind``, as handed to both tools."""
    out = {}
    for stage, ov in OURS[kind].items():
        m = ov["model"]
        out[stage] = {"scale": ov["preprocess"]["input_scale"], "sigma": m["sigma"] / m["output_stride"],
                      "paf_width": m.get("paf_width", 0),
                      "output_stride": m["output_stride"], "filters": m["backbone"]["filters"], "filters_rate": 2.0,
                      "max_stride": 2 ** m["backbone"]["down_blocks"], "crop_size": m.get("crop_size", 0),
                      "batch_size": ov["train"]["batch_size"], "lr": COMMON["train"]["learning_rate"],
                      "rotation": COMMON["augment"]["rotation"], "scale_min": COMMON["augment"]["scale_min"],
                      "scale_max": COMMON["augment"]["scale_max"], "steps": COMMON["train"]["steps_per_epoch"]}
    return out


def merged_training_file(out: Path) -> Path:
    """two_flies + single_fly as one .slp with one skeleton object (sleap-nn needs that)."""
    import sleap_io as sio

    a = sio.load_slp(str(DATA / "two_flies.slp"))
    b = sio.load_slp(str(DATA / "single_fly.slp"))
    sk = a.skeletons[0]
    assert [n.name for n in sk.nodes] == [n.name for n in b.skeletons[0].nodes]
    for lf in b.labeled_frames:
        for inst in lf.instances:
            inst.skeleton = sk
    lab = sio.Labels(labeled_frames=a.labeled_frames + b.labeled_frames, videos=a.videos + b.videos,
                     skeletons=[sk], tracks=a.tracks + b.tracks)
    path = out / "flies_train.slp"
    lab.save(str(path))
    return path


def load_test():
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    ds = labels_to_dataset(sio.load_slp(str(DATA / "three_flies.slp")))
    return ds


def read_frames(ds):
    from napari_posetrack.nn.data import collect_frames

    fs = collect_frames(ds, use_negatives=False)
    return fs


def score(gt_labels, pred_table, names):
    from napari_posetrack.core.metrics.pose import pose_metrics

    return pose_metrics(gt_labels, pred_table, node_names=names)


def run_ours(kind, minutes, out, threads, test_ds, test_fs, train_file):
    import torch

    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.nn.inference.predictors import load_predictor
    from napari_posetrack.nn.train import iter_train

    torch.set_num_threads(threads)
    ov = json.loads(json.dumps(COMMON))
    ov["train"]["max_minutes"] = minutes
    ov["train"]["time_clock"] = "cpu"
    model_dir = out / f"ours_{kind}"
    t0 = time.time()
    c0 = time.process_time()
    gen = iter_train([train_file], kind, model_dir, overrides=ov,
                     stage_overrides=OURS[kind])
    steps = 0
    try:
        while True:
            ev = next(gen)
            if ev.stage == "train":
                steps += 1
            if ev.stage == "epoch" and ev.step % 10 == 0:
                print(f"  ours {kind} {ev.message}", flush=True)
    except StopIteration:
        pass
    train_s = time.time() - t0
    cpu_s = time.process_time() - c0
    pred = load_predictor(model_dir, "cpu", max_instances=3)
    t1 = time.time()
    tables = []
    for i in range(0, len(test_fs), 8):
        frames = np.stack(test_fs.images[i:i + 8])
        tables.append(pred.predict_frames(frames, frame_idx=test_fs.keys[i:i + 8, 1]))
    table = PoseTable.concat(tables, test_ds.skeleton.n_nodes)
    infer_s = time.time() - t1
    return {"train_s": train_s, "cpu_s": cpu_s, "infer_s": infer_s, "steps": steps, "table": table}


ANCHOR_CFG = r'''
import json, sys, yaml
from omegaconf import OmegaConf
from sleap_nn.config_generator.generator import ConfigGenerator
kind, out, tr1, stages = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
g = ConfigGenerator.from_slp(tr1).auto(view="top").max_epochs(10000)
if kind == "topdown":
    g.pipeline("centered_instance")
    cfgs = {"centroid": g.build_centroid(), "centered_instance": g.build_centered_instance()}
elif kind == "single":
    g.pipeline("single_instance")
    cfgs = {"single_instance": g.build()}
else:
    g.pipeline("bottomup")
    cfgs = {"bottomup": g.build()}
for name, c in cfgs.items():
    s = stages.get(name)
    c = OmegaConf.to_container(c, resolve=True)
    d = c["data_config"]
    d["train_labels_path"] = [tr1]
    d["validation_fraction"] = 0.1
    t = c["trainer_config"]
    if s:  # matched settings (train_flies); without them sleap-nn keeps its own automatic config
        d["preprocessing"]["scale"] = s["scale"]
        if name == "centered_instance":
            d["preprocessing"]["crop_size"] = s["crop_size"]
        geo = d["augmentation_config"]["geometric"]
        geo.update(rotation_min=-s["rotation"], rotation_max=s["rotation"], scale_min=s["scale_min"],
                   scale_max=s["scale_max"])
        u = c["model_config"]["backbone_config"]["unet"]
        u.update(filters=s["filters"], filters_rate=s["filters_rate"], max_stride=s["max_stride"],
                 output_stride=s["output_stride"])
        for head in c["model_config"]["head_configs"].values():
            for part_name, part in (head or {}).items():
                if isinstance(part, dict) and "output_stride" in part:
                    part["output_stride"] = s["output_stride"]
                    part["sigma"] = s["paf_width"] if part_name == "pafs" else s["sigma"]
        t["optimizer"]["lr"] = s["lr"]
        t["train_data_loader"]["batch_size"] = s["batch_size"]
        t["min_train_steps_per_epoch"] = s["steps"]; t["train_steps_per_epoch"] = s["steps"]
    t["trainer_accelerator"] = "cpu"; t["trainer_devices"] = 1; t["save_ckpt"] = True
    t["ckpt_dir"] = out; t["run_name"] = name
    t["max_epochs"] = 10000; t["visualize_preds_during_training"] = False
    t["train_data_loader"]["num_workers"] = 0; t["val_data_loader"]["num_workers"] = 0
    t["use_wandb"] = False
    if t.get("early_stopping"):
        t["early_stopping"]["stop_training_on_plateau"] = False
    open(f"{out}/{name}.yaml", "w").write(yaml.safe_dump(c))
    print(name)
'''


def _wait_cpu(p, cpu_budget: float, wall_cap: float) -> float:
    """Wait until process ``p`` has used ``cpu_budget`` CPU seconds (or ended); return CPU seconds used."""
    import psutil

    proc = psutil.Process(p.pid)
    t0 = time.time()
    used = 0.0
    while p.poll() is None:
        try:
            ct = proc.cpu_times()
            used = ct.user + ct.system
        except psutil.Error:
            break
        if used >= cpu_budget or time.time() - t0 > wall_cap:
            p.terminate()
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
            break
        time.sleep(1.0)
    return used


def run_anchor(kind, cpu_seconds, out, threads, test_ds, train_file, auto: bool = False, test_path=None,
               max_instances: int = 3):
    """Train sleap-nn until it used ``cpu_seconds`` CPU time, predict three_flies; ``auto`` keeps sleap-nn's own
    automatic config (the defaults a sleap-nn user gets) instead of our matched settings."""
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import labels_to_dataset

    d = out / f"sleapnn_{kind}"
    d.mkdir(parents=True, exist_ok=True)
    from infer_speed import anchor_env  # skips torchvision's C-op registration, which fails beside CPU torch

    env = anchor_env(out, threads)
    names = subprocess.run([ANCHOR_PYTHON, "-c", ANCHOR_CFG, kind, str(d), str(train_file),
                            json.dumps({} if auto else stage_configs(kind))], env=env,
                           check=True,
                           capture_output=True, text=True).stdout.split()
    t0 = time.time()
    share = {"centroid": 0.4, "centered_instance": 0.6, "bottomup": 1.0, "single_instance": 1.0}
    cpu_used = 0.0
    for name in names:
        budget = cpu_seconds * share[name]
        log = open(d / f"{name}.log", "w")
        p = subprocess.Popen([ANCHOR_PYTHON, *SLEAP_NN, "train", "--config", str(d / f"{name}.yaml")], env=env,
                             stdout=log, stderr=subprocess.STDOUT, cwd=d)
        cpu_used += _wait_cpu(p, budget, wall_cap=budget * 8)
        log.close()
    train_s = time.time() - t0
    pred_path = d / "pred.slp"
    t1 = time.time()
    cmd = [ANCHOR_PYTHON, *SLEAP_NN, "track", "--data_path", str(test_path or DATA / "three_flies.slp"), "-o",
           str(pred_path), "-d", "cpu", "--only_labeled_frames", "-n", str(max_instances)]
    for name in names:
        cmd += ["-m", str(d / name)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    infer_s = time.time() - t1
    if not pred_path.is_file():
        print(r.stdout[-2000:], r.stderr[-3000:])
        return {"train_s": train_s, "cpu_s": cpu_used, "infer_s": infer_s, "table": None}
    pds = labels_to_dataset(sio.load_slp(str(pred_path)))
    return {"train_s": train_s, "cpu_s": cpu_used, "infer_s": infer_s,
            "table": pds.predictions if len(pds.predictions) else pds.labels}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=6.0,
                    help="CPU-time budget per pipeline for ours (training loop); the anchor gets the CPU time ours "
                         "used in total, setup included")
    ap.add_argument("--out", default="/tmp/bench_train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kinds", default="topdown,bottomup")
    ap.add_argument("--skip-anchor", action="store_true")
    ap.add_argument("--skip-ours", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test_ds = load_test()
    test_fs = read_frames(test_ds)
    train_file = merged_training_file(out)
    names = test_ds.skeleton.node_names
    rows = []
    for kind in args.kinds.split(","):
        print(f"ours {kind} config: {json.dumps(OURS[kind])} + {json.dumps(COMMON)}", flush=True)
        runs = []
        cpu_budget = args.minutes * 60
        if not args.skip_ours:
            ours = run_ours(kind, args.minutes, out, args.threads, test_ds, test_fs, train_file)
            runs.append(("ours", ours))
            cpu_budget = ours["cpu_s"]  # the anchor gets exactly the CPU time ours used (setup included)
        if not args.skip_anchor:
            runs.append(("sleap-nn", run_anchor(kind, cpu_budget, out, args.threads, test_ds, train_file)))
        for who, r in runs:
            if r["table"] is None:
                nan = float("nan")
                rows.append((kind, who, nan, nan, nan, r["cpu_s"], r["train_s"], r["infer_s"]))
                continue
            m = score(test_ds.labels, r["table"], names)
            rows.append((kind, who, m["oks_map"], m["pck_5"], m["error"]["mean"], r["cpu_s"], r["train_s"],
                         r["infer_s"]))
            print(f"  {who} {kind}: mAP {m['oks_map']:.3f} PCK@5 {m['pck_5']:.3f} err {m['error']['mean']:.2f}",
                  flush=True)
    print("\n| pipeline | who | OKS mAP | PCK@5px | mean px err | train CPU s | train wall s | infer wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.2f} | {r[5]:.0f} | {r[6]:.0f} | {r[7]:.1f} |")
    (out / "results.json").write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
