"""Inference speed: ours vs sleap-nn on three_flies.mp4 (1024x1024), for each model type.

End to end = decode + model + peaks + grouping + write (ours: streamed into a project store;
sleap-nn: ``predict`` writing a .slp). Both tools get the same architecture (UNet, 16 filters,
4 down blocks, rate 2, output stride 4) at the same input scale, trained briefly on the same
data (``--train-steps`` steps, batch 4) so that their outputs, and so the number of peaks to
group, are of the same kind. Also prints our single-frame latency.

sleap-nn runs in ``/work/anchor-venv``. Its PyPI torchvision cannot load its C ops beside the
CPU torch build; sleap-nn's pose code does not use them, so a ``sitecustomize`` shim (written
to the work dir, passed by PYTHONPATH to the anchor processes only) skips their registration.

    .venv/bin/python benchmarks/infer_speed.py --threads 2 [--kinds single,bottomup,topdown]
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
DATA = ROOT.parent / "shared" / "data" / "flies"
ANCHOR = Path("/work/anchor-venv/bin")
VIDEO = DATA / "three_flies.mp4"
ARCH = {"filters": 16, "filters_rate": 2.0, "down_blocks": 4, "output_stride": 4}
SCALES = {"single": 0.5, "bottomup": 0.5, "centroid": 0.25, "centered_instance": 1.0}
CROP = 128
TRAIN_DATA = {"single": "single_fly.slp", "bottomup": "two_flies.slp", "topdown": "two_flies.slp"}

SHIM = '''import sys, types
for _m in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
    sys.modules.setdefault(_m, types.ModuleType(_m))
'''

ANCHOR_CFG = r'''
import sys, yaml
from omegaconf import OmegaConf
from sleap_nn.config_generator.generator import ConfigGenerator
kind, out, slp, steps, filters, rate, max_stride, stride, crop = sys.argv[1:10]
scales = {"single": 0.5, "bottomup": 0.5, "centroid": 0.25, "centered_instance": 1.0}
g = ConfigGenerator.from_slp(slp).auto(view="top").max_epochs(1).batch_size(4)
if kind == "topdown":
    g.pipeline("centered_instance")
    cfgs = {"centroid": g.build_centroid(), "centered_instance": g.build_centered_instance()}
elif kind == "single":
    g.pipeline("single_instance")
    cfgs = {"single": g.build()}
else:
    g.pipeline("bottomup")
    cfgs = {"bottomup": g.build()}
for name, c in cfgs.items():
    c = OmegaConf.to_container(c, resolve=True)
    pre = c["data_config"]["preprocessing"]
    pre["scale"] = scales[name]
    if name == "centered_instance":
        pre["crop_size"] = int(crop)
    c["data_config"]["validation_fraction"] = 0.1
    u = c["model_config"]["backbone_config"]["unet"]
    u.update(filters=int(filters), filters_rate=float(rate), max_stride=int(max_stride), output_stride=int(stride))
    for head in c["model_config"]["head_configs"].values():
        if head:
            for part in head.values():
                if isinstance(part, dict) and "output_stride" in part:
                    part["output_stride"] = int(stride)
    t = c["trainer_config"]
    t["trainer_accelerator"] = "cpu"; t["trainer_devices"] = 1; t["save_ckpt"] = True
    t["ckpt_dir"] = out; t["run_name"] = name; t["max_epochs"] = 1
    t["min_train_steps_per_epoch"] = int(steps); t["train_steps_per_epoch"] = int(steps)
    t["visualize_preds_during_training"] = False; t["use_wandb"] = False
    t["train_data_loader"]["num_workers"] = 0; t["val_data_loader"]["num_workers"] = 0
    open(f"{out}/{name}.yaml", "w").write(yaml.safe_dump(c))
    print(name)
'''

ANCHOR_PREDICT = r'''
import json, sys, time
t0 = time.perf_counter()
from sleap_nn.inference.run import predict
import torch
torch.set_num_threads(int(sys.argv[4]))
t_import = time.perf_counter() - t0
video, out, models, threads, n, batch, max_inst = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4], \
    int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
t1 = time.perf_counter()
labels = predict(video, model_paths=models, device="cpu", batch_size=batch, frames=list(range(n)),
                 max_instances=max_inst, output_path=out)
dt = time.perf_counter() - t1
print(json.dumps({"seconds": dt, "import_s": t_import, "instances": sum(len(lf.instances) for lf in labels)}))
'''


def anchor_env(work: Path, threads: int) -> dict:
    shim = work / "shim"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "sitecustomize.py").write_text(SHIM)
    return dict(os.environ, PYTHONPATH=str(shim), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def train_ours(kind: str, out: Path, steps: int):
    from napari_posetrack.core.progress import drain
    from napari_posetrack.nn.train import iter_train

    if (out / "config.yaml").exists():
        return out
    a = ARCH
    common = {"model": {"output_stride": a["output_stride"], "crop_size": CROP,
                        "backbone": {"name": "unet", "filters": a["filters"], "filters_rate": a["filters_rate"],
                                     "down_blocks": a["down_blocks"]}},
              "train": {"epochs": 1, "steps_per_epoch": steps, "batch_size": 4, "val_fraction": 0.1,
                        "eval_every": 0, "device": "cpu"}}
    if kind == "topdown":
        over = {"centroid": {**common, "preprocess": {"input_scale": SCALES["centroid"]}},
                "centered_instance": {**common, "preprocess": {"input_scale": SCALES["centered_instance"]}}}
        drain(iter_train([DATA / TRAIN_DATA[kind]], kind, out, stage_overrides=over), show=False)
    else:
        drain(iter_train([DATA / TRAIN_DATA[kind]], kind, out,
                         overrides={**common, "preprocess": {"input_scale": SCALES[kind]}}), show=False)
    return out


def train_anchor(kind: str, work: Path, steps: int, threads: int) -> list[str]:
    d = work / f"sleapnn_{kind}"
    d.mkdir(parents=True, exist_ok=True)
    env = anchor_env(work, threads)
    a = ARCH
    names = subprocess.run([str(ANCHOR / "python"), "-c", ANCHOR_CFG, kind, str(d), str(DATA / TRAIN_DATA[kind]),
                            str(steps), str(a["filters"]), str(a["filters_rate"]), str(2 ** a["down_blocks"]),
                            str(a["output_stride"]), str(CROP)], env=env, check=True, capture_output=True,
                           text=True).stdout.split()
    for name in names:
        if not (d / name / "best.ckpt").exists():
            with open(d / f"{name}.log", "w") as log:
                subprocess.run([str(ANCHOR / "sleap-nn"), "train", "--config", str(d / f"{name}.yaml")], env=env,
                               stdout=log, stderr=subprocess.STDOUT, cwd=d, check=True)
    return [str(d / n) for n in names]


def time_ours(model_dir: Path, n: int, batch: int, max_inst: int, work: Path, cpu_bf16: bool = False) -> dict:
    import torch

    from napari_posetrack.core.progress import drain
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.core.video import open_video
    from napari_posetrack.nn.inference.pipeline import iter_predict
    from napari_posetrack.nn.inference.predictors import load_predictor

    pred = load_predictor(model_dir, "cpu", max_instances=max_inst, cpu_bf16=cpu_bf16)
    with open_video(VIDEO) as r:
        frame = r[0][None]
        info = r.info()
    with torch.inference_mode():  # warm-up and latency (one frame, numpy in -> table out)
        pred.predict_frames(frame)
        lat = []
        for _ in range(5):
            t = time.perf_counter()
            pred.predict_frames(frame)
            lat.append(time.perf_counter() - t)
    store_path = work / f"ours_{model_dir.name}_{time.time_ns()}.posetrack.zarr"
    store = ProjectStore.create(store_path, pred.skeleton, videos=[info])
    t0 = time.perf_counter()
    res = drain(iter_predict(pred, VIDEO, store=store, frames=(0, n), batch_size=batch, flush_every=64),
                show=False)
    dt = time.perf_counter() - t0
    assert len(store.predicted_frames(0)) == n
    return {"seconds": dt, "fps": n / dt, "latency_ms": 1000 * float(np.median(lat)), "instances": res.n_instances}


def time_anchor(models: list[str], n: int, batch: int, max_inst: int, work: Path, threads: int) -> dict:
    env = anchor_env(work, threads)
    out = work / f"anchor_{Path(models[0]).parent.name}_{time.time_ns()}.slp"
    t0 = time.perf_counter()
    r = subprocess.run([str(ANCHOR / "python"), "-c", ANCHOR_PREDICT, str(VIDEO), str(out), ",".join(models),
                        str(threads), str(n), str(batch), str(max_inst)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        return {}
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d.update(fps=n / d["seconds"], wall_s=wall)
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="single,bottomup,topdown")
    ap.add_argument("--frames", type=int, default=128, help="frames of three_flies.mp4 to predict (max 128)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--work", default="/tmp/posetrack_infer_speed")
    ap.add_argument("--skip-anchor", action="store_true")
    ap.add_argument("--cpu-bf16", action="store_true",
                    help="also time ours with bfloat16 on the CPU (posetrack predict --cpu-bf16)")
    ap.add_argument("--from-train", default="",
                    help="time the models that benchmarks/train_flies.py trained in this folder (ours_<kind>, "
                         "sleapnn_<kind>/<stage>: same architecture and input scale, and trained long enough "
                         "to find the flies, so grouping and crops do real work) instead of training briefly")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind in args.kinds.split(","):
        max_inst = 1 if kind == "single" else 3
        t = time.perf_counter()
        trained = Path(args.from_train) if args.from_train else None
        if trained is not None:
            ours_dir = trained / f"ours_{kind}"
        else:
            ours_dir = train_ours(kind, work / f"ours_{kind}", args.train_steps)
        print(f"[{kind}] our model ready ({time.perf_counter() - t:.0f} s)", flush=True)
        ours = time_ours(ours_dir, args.frames, args.batch_size, max_inst, work)
        print(f"[{kind}] ours: {ours}", flush=True)
        if args.cpu_bf16:
            ours_bf = time_ours(ours_dir, args.frames, args.batch_size, max_inst, work, cpu_bf16=True)
            print(f"[{kind}] ours --cpu-bf16: {ours_bf}", flush=True)
            ours["fps_bf16"] = ours_bf["fps"]
            ours["instances_bf16"] = ours_bf["instances"]
        anchor = {}
        if not args.skip_anchor:
            t = time.perf_counter()
            if trained is not None:
                stages = ["centroid", "centered_instance"] if kind == "topdown" else [kind]
                models = [str(trained / f"sleapnn_{kind}" / st) for st in stages]
            else:
                models = train_anchor(kind, work, args.train_steps, args.threads)
            print(f"[{kind}] sleap-nn model ready ({time.perf_counter() - t:.0f} s)", flush=True)
            anchor = time_anchor(models, args.frames, args.batch_size, max_inst, work, args.threads)
            print(f"[{kind}] sleap-nn: {anchor}", flush=True)
        rows.append((kind, ours, anchor))
    arch = (f"models from {args.from_train}" if args.from_train else
            f"UNet f{ARCH['filters']} x{2 ** ARCH['down_blocks']} stride {ARCH['output_stride']}, scales {SCALES}")
    print(f"\nthree_flies.mp4 1024x1024, {args.frames} frames, CPU, {args.threads} threads, batch {args.batch_size}; "
          f"{arch}")
    print(f"{'model':<10} {'ours fps':>9} {'sleap-nn fps':>13} {'ratio':>7} {'ours 1-frame ms':>16} "
          f"{'ours inst':>10} {'sleap-nn inst':>14} {'sleap-nn wall s (import+load)':>30}")
    for kind, o, a in rows:
        ratio = o["fps"] / a["fps"] if a.get("fps") else float("nan")
        print(f"{kind:<10} {o['fps']:>9.2f} {a.get('fps', float('nan')):>13.2f} {ratio:>6.2f}x "
              f"{o['latency_ms']:>16.0f} {o['instances']:>10} {a.get('instances', '-'):>14} "
              f"{a.get('wall_s', float('nan')):>30.1f}")
    if args.cpu_bf16:
        print(f"{'model':<10} {'ours bf16 fps':>14} {'ratio to sleap-nn':>18} {'bf16 inst':>10}")
        for kind, o, a in rows:
            r = o["fps_bf16"] / a["fps"] if a.get("fps") else float("nan")
            print(f"{kind:<10} {o['fps_bf16']:>14.2f} {r:>17.2f}x {o['instances_bf16']:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
