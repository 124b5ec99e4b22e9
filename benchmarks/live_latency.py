"""Live latency: replayed fly videos through `posetrack live`'s loop, torch float32 / bf16 / onnxruntime.

Sources (1024x1024, 25 frames/s, replayed at their frame rate as a simulated camera, looped):
``single_fly.mp4`` for single-instance models, ``two_flies.mp4`` for top-down. For each model
and backend the loop runs for ``--seconds`` and reports:

* latency from frame arrival (decoded by the grabber thread) to the pose callback: p50/p95/p99;
* sustained frames/s (processed over wall time: at most the source's 25 fps) and dropped frames;
* the unpaced throughput (every frame, as fast as the model goes) as frames/s.

Models (UNet, 16 filters, 4 down blocks, output stride 2, as in benchmarks/train_flies.py):

* ``single@512``: single-instance at input scale 0.5 (512x512 network input);
* ``single@192``: single-instance at 192x192 input (scale 0.1875), the DeepLabCut-Live setting;
* ``single@192-lite``: the same input with a lighter UNet (8 filters, 3 down blocks);
* ``single@192-tiny``: the lightest measured: 8 filters, 3 down blocks, one convolution per
  block, no normalisation, output stride 4, offsets head (docs/live.md: its accuracy after a short training);
* ``topdown``: centroid at scale 0.25 (256x256) + centred-instance on 224 px crops at scale 0.5
  (112x112), max 2 animals;
* ``topdown-default``: the scales ``posetrack train`` picks by default on these videos (input
  scale auto, docs/training.md): centroid at 1/8 (128x128) + 192 px crops at 1/2 (96x96).

Latency does not depend on accuracy, except through the number of top-down crops, so the
single-instance weights and the centred-instance weights are random (a global peak is read
per node whatever the weights), and the centroid model is fitted for ``--centroid-steps`` Adam
steps on two_flies.slp (thorax targets) so that it finds the two flies (about 2 crops a frame;
the table reports the mean number of animals found).

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/live_latency.py --threads 1 --seconds 20

``--busy-wait on`` turns on live mode's busy wait (the inference thread polls for each frame
instead of sleeping; off by default, as in live mode), ``both`` times each case both ways; each
row says how much of a core the polling took.

``--threads auto`` (the default, as in live mode) lets the live predictor measure 1 thread against
all cores on the replayed frames and keep the faster (nn/live/threads.py); the row says what it chose.

``--breakdown N`` also predicts N frames per case unpaced under cProfile with the thread's CPU
clock (so a busy machine slows it less than wall time) and prints where each frame's time goes:
frame input, preprocessing (float conversion, resize), the networks, crops, peak finding, rest.

bf16: torch autocast bfloat16 on the CPU. It pays off only on CPUs with AVX512-BF16 or AMX;
elsewhere it is emulated (``POSETRACK_CPU_BF16=1`` forces it here so that it can be timed).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "flies"
ARCH = {"filters": 16, "down_blocks": 4}
LITE = {"filters": 8, "down_blocks": 3}  # a lighter network for the 192x192 (DeepLabCut-Live-style) setting
# the lightest one measured: one convolution per level, no normalisation, output stride 4 (48x48 maps at 192x192),
# with an offsets head (sub-cell refinement; more accurate after a short training, docs/live.md)
TINY = {"filters": 8, "down_blocks": 3, "convs_per_block": 1, "norm": "none"}


def _config(kind, skeleton, scale, crop_size=0, offsets=False, arch=None, stride=2):
    from napari_posetrack.nn.config import TrainingConfig

    return TrainingConfig.from_dict({
        "model": {"type": kind, "output_stride": stride, "crop_size": crop_size, "offsets": offsets, "sigma": 4.0,
                  "backbone": {"name": "unet", **(arch or ARCH)}},
        "preprocess": {"input_scale": scale, "channels": 1},
        "skeleton": skeleton.to_dict(), "data": {"channels": 1, "crop_size": crop_size}})


def _fit_centroid(model, cfg, steps: int, seed: int = 0):
    """Adam on thorax Gaussians of two_flies.slp at the centroid model's scale (a few dozen steps)."""
    import torch

    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.video import open_video

    ds = load_dataset(DATA / "two_flies.slp")
    lab = ds.labels
    frames = np.unique(lab.frame_idx)
    rng = np.random.default_rng(seed)
    scale, stride = float(cfg.preprocess.input_scale), int(cfg.model.output_stride)
    with open_video(ds.videos[0].path) as r:
        imgs = r.read_frames(frames)
    x_all = torch.from_numpy(np.ascontiguousarray(imgs[..., :1])).permute(0, 3, 1, 2).float() / 255
    x_all = torch.nn.functional.interpolate(x_all, scale_factor=scale, mode="bilinear", antialias=True)
    side = x_all.shape[-1] // stride
    yy, xx = np.mgrid[0:side, 0:side]
    thorax = ds.skeleton.node_names.index("thorax")
    targets = np.zeros((len(frames), 1, side, side), np.float32)
    for i, f in enumerate(frames):
        for x, y in lab.points[lab.frame_idx == f][:, thorax]:
            gx, gy = ((x + 0.5) * scale - 0.5) / stride, ((y + 0.5) * scale - 0.5) / stride
            g = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * (cfg.model.sigma / stride) ** 2))
            targets[i, 0] = np.maximum(targets[i, 0], g)
    y_all = torch.from_numpy(targets)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    model.train()
    for step in range(steps):
        idx = torch.from_numpy(rng.choice(len(frames), 4, replace=False))
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x_all[idx])["centroids"], y_all[idx])
        loss.backward()
        opt.step()
        if step % 20 == 0 or step == steps - 1:
            print(f"  centroid fit step {step + 1}/{steps}: loss {loss.item():.5f}", flush=True)
    return model.eval()


def build_models(work: Path, centroid_steps: int, cases=None) -> dict:
    import torch

    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.nn.checkpoint import save_checkpoint, write_pipeline
    from napari_posetrack.nn.model import build_model

    sk = load_dataset(DATA / "single_fly.slp").skeleton
    out = {}
    torch.manual_seed(0)
    for name, scale, arch in (("single@512", 0.5, None), ("single@192", 0.1875, None),
                              ("single@192-lite", 0.1875, LITE)):
        d = work / name.replace("@", "_")
        if not (d / "config.yaml").is_file():
            cfg = _config("single", sk, scale, arch=arch)
            save_checkpoint(d, build_model(cfg), cfg, which=("best",))
        out[name] = d
    d = work / "topdown"
    if not (d / "config.yaml").is_file():
        cfg = _config("centroid", sk, 0.25)
        save_checkpoint(d / "centroid", _fit_centroid(build_model(cfg), cfg, centroid_steps), cfg, which=("best",))
        cfg = _config("centered_instance", sk, 0.5, crop_size=224, offsets=True)
        save_checkpoint(d / "centered_instance", build_model(cfg), cfg, which=("best",))
        write_pipeline(d, "topdown")
    out["topdown"] = d
    d = work / "single_192-tiny"
    if not (d / "config.yaml").is_file():
        torch.manual_seed(2)  # its own seed, after the others: the models above stay as they were
        cfg = _config("single", sk, 0.1875, arch=TINY, stride=4, offsets=True)
        model = build_model(cfg)
        with torch.no_grad():  # random weights leave its maps under the threshold: every node found, as when trained
            model.heads["confmaps"].bias.fill_(1.0)
        save_checkpoint(d, model, cfg, which=("best",))
    out["single@192-tiny"] = d
    d = work / "topdown-default"
    if cases is not None and "topdown-default" not in cases:
        return out
    if not (d / "config.yaml").is_file():
        torch.manual_seed(1)  # after the others, with its own seed: the four models above stay as they were
        cfg = _config("centroid", sk, 0.125)
        save_checkpoint(d / "centroid", _fit_centroid(build_model(cfg), cfg, centroid_steps), cfg, which=("best",))
        cfg = _config("centered_instance", sk, 0.5, crop_size=192, offsets=True)
        save_checkpoint(d / "centered_instance", build_model(cfg), cfg, which=("best",))
        write_pipeline(d, "topdown")
    out["topdown-default"] = d
    return out


def run_case(model_dir, video, backend: str, half: bool, seconds: float, threads: int, unpaced_frames: int,
             device: str = "cpu", busy_wait: bool = False):
    from napari_posetrack.nn.live import LiveSession
    from napari_posetrack.nn.live.predictor import load_live_predictor
    from napari_posetrack.nn.live.sources import VideoFileSource

    lp = load_live_predictor(model_dir, backend=backend, device=device, half=half, threads=threads,
                             max_instances=2)
    animals = []

    def on_pose(pose):
        animals.append(pose.n_animals)

    src = VideoFileSource(video, realtime=True, loop=True, gray=True)
    st = LiveSession(lp, src, on_pose=on_pose, duration=seconds, warmup=3, busy_wait=busy_wait).run()
    fast = LiveSession(lp, VideoFileSource(video, realtime=False, gray=True, max_frames=unpaced_frames),
                       warmup=0).run()
    return {"backend": backend, "precision": st.precision, "p50_ms": st.p50, "p95_ms": st.p95, "p99_ms": st.p99,
            "max_ms": max(st.latency_ms), "infer_p50_ms": float(np.percentile(st.infer_ms, 50)),
            "sustained_fps": st.fps, "source_fps": st.source_fps, "arrived": st.n_arrived,
            "processed": st.n_processed, "dropped": st.n_dropped, "unpaced_fps": fast.fps,
            "mean_animals": float(np.mean(animals)) if animals else 0.0, "seconds": st.duration_s,
            "threads": st.threads, "busy_wait": st.busy_wait,
            "busy_wait_core_pct": 100 * st.busy_wait_s / st.duration_s if st.duration_s else 0.0}


#: parts of a frame's time in --breakdown: label -> the (file, function) pairs whose cumulative time counts
PARTS = {"input": (("live/predictor.py", "_input"),),
         "preprocess": (("inference/predictors.py", "prepare"), ("inference/topdown.py", "crop_source")),
         "network": (("inference/predictors.py", "forward"),),
         "crops": (("nn/align.py", "sample_crops"),),
         "peaks": (("inference/decode.py", "global_points"), ("inference/decode.py", "local_points"))}


def breakdown(model_dir, video, backend: str, threads: int, frames: int) -> dict:
    """CPU milliseconds per frame in each part of LivePredictor.predict (cProfile, thread CPU clock)."""
    import cProfile
    import pstats

    from napari_posetrack.core.video import open_video
    from napari_posetrack.nn.live.predictor import load_live_predictor

    lp = load_live_predictor(model_dir, backend=backend, device="cpu", threads=threads, max_instances=2)
    with open_video(video) as r:
        imgs = np.ascontiguousarray(r.read_frames(np.arange(min(frames, 20)))[..., :1])
    for im in imgs[:3]:
        lp.predict(im)
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    for i in range(frames):
        lp.predict(imgs[i % len(imgs)])
    prof.disable()
    stats = pstats.Stats(prof).stats

    def cum(pairs):
        return sum(ct for (f, _, name), (_, _, _, ct, _) in stats.items()
                   if any(f.replace("\\", "/").endswith(suffix) and name == fn for suffix, fn in pairs))

    out = {"total": cum((("live/predictor.py", "predict"),))}
    out.update({label: cum(pairs) for label, pairs in PARTS.items()})
    out["rest"] = out["total"] - sum(out[label] for label in PARTS)
    return {k: v * 1e3 / frames for k, v in out.items()}


def _model_kind(folder: Path) -> str:
    """``single`` or ``topdown`` for a trained model folder (refused otherwise: live mode runs those two)."""
    if (folder / "centroid").is_dir() and (folder / "centered_instance").is_dir():
        return "topdown"
    import yaml

    kind = (yaml.safe_load((folder / "config.yaml").read_text()) or {}).get("model", {}).get("type")
    if kind != "single":
        raise SystemExit(f"--model {folder}: live mode runs single-instance and top-down models, not {kind!r}")
    return kind


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/posetrack-live-bench", help="folder for the models and exports")
    ap.add_argument("--seconds", type=float, default=20.0, help="replay time per case")
    ap.add_argument("--threads", default="auto",
                    help="torch / onnxruntime threads: a count, or auto (live mode's default: measured per frame)")
    ap.add_argument("--centroid-steps", type=int, default=60, help="Adam steps fitting the centroid model")
    ap.add_argument("--unpaced-frames", type=int, default=40, help="frames for the unpaced throughput")
    ap.add_argument("--cases", default="single@192-lite,single@192,single@512,topdown")
    ap.add_argument("--backends", default="torch,torch-bf16,onnx")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                    help="also time a trained model (a `posetrack train` folder): single-instance models on "
                         "single_fly.mp4, top-down on two_flies.mp4 (repeatable)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine (bf16 there means float16)")
    ap.add_argument("--busy-wait", choices=("off", "on", "both"), default="off",
                    help="live mode's busy wait (polling for frames instead of sleeping; off by default, as in "
                         "live mode); both: one row each")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--breakdown", type=int, default=0, metavar="N",
                    help="also profile N unpaced frames per case and print where the time goes (CPU ms per frame)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: the fly data folder {DATA} is absent", file=sys.stderr)
        return 0
    import torch

    from napari_posetrack.nn.live.threads import parse_threads

    args.threads = parse_threads(args.threads)
    torch.set_num_threads(args.threads if args.threads != "auto" else os.cpu_count() or 1)  # model building
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    cases = [c for c in args.cases.split(",") if c]
    models = build_models(work, args.centroid_steps, cases) if cases else {}
    print(f"models ready in {time.perf_counter() - t:.0f} s", flush=True)
    videos = {"single@512": DATA / "single_fly.mp4", "single@192": DATA / "single_fly.mp4",
              "single@192-lite": DATA / "single_fly.mp4", "single@192-tiny": DATA / "single_fly.mp4",
              "topdown": DATA / "two_flies.mp4",
              "topdown-default": DATA / "two_flies.mp4"}
    for spec in args.model:
        name, _, folder = spec.partition("=")
        kind = _model_kind(Path(folder))
        models[name], videos[name] = Path(folder), DATA / ("single_fly.mp4" if kind == "single" else "two_flies.mp4")
        cases.append(name)
    rows = []
    waits = {"off": (False,), "on": (True,), "both": (False, True)}[args.busy_wait]
    for case, b, busy in itertools.product(cases, args.backends.split(","), waits):
        backend, half = ("torch", True) if b == "torch-bf16" else (b, False)
        if half:
            os.environ["POSETRACK_CPU_BF16"] = "1"  # time it even where it is emulated
        r = run_case(models[case], videos[case], backend, half, args.seconds, args.threads,
                     args.unpaced_frames, device=args.device, busy_wait=busy)
        os.environ.pop("POSETRACK_CPU_BF16", None)
        r["case"] = case
        if args.breakdown and not half and not busy:
            r["breakdown_cpu_ms"] = breakdown(models[case], videos[case], backend, args.threads, args.breakdown)
        rows.append(r)
        print(f"{case:11s} {b:10s} p50 {r['p50_ms']:7.1f}  p95 {r['p95_ms']:7.1f}  p99 {r['p99_ms']:7.1f} ms  "
              f"{r['sustained_fps']:5.1f} fps sustained  dropped {r['dropped']}/{r['arrived']}  "
              f"unpaced {r['unpaced_fps']:5.1f} fps  animals {r['mean_animals']:.2f}  threads {r['threads']}  "
              f"busy wait {'on' if r['busy_wait'] else 'off'} ({r['busy_wait_core_pct']:.0f}% of a core)",
              flush=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"\nCPU: {cpu}, {os.cpu_count()} cores, {args.threads} thread(s); torch {torch.__version__}; "
          f"python {platform.python_version()}")
    print("| model | backend | p50 ms | p95 ms | p99 ms | sustained fps | dropped / arrived | unpaced fps "
          "| busy wait (% of a core) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['backend']} {r['precision']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
              f"{r['p99_ms']:.1f} | {r['sustained_fps']:.1f} | {r['dropped']} / {r['arrived']} | "
              f"{r['unpaced_fps']:.1f} | {'on' if r['busy_wait'] else 'off'} ({r['busy_wait_core_pct']:.0f}%) |")
    if args.breakdown:
        print(f"\nwhere a frame's time goes (CPU ms per frame, {args.breakdown} unpaced frames under cProfile):")
        labels = ["total", *PARTS, "rest"]
        print("| model | backend | " + " | ".join(labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for r in rows:
            if "breakdown_cpu_ms" in r:
                b = r["breakdown_cpu_ms"]
                print(f"| {r['case']} | {r['backend']} | " + " | ".join(f"{b[k]:.1f}" for k in labels) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps({"cpu": cpu, "threads": args.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
