"""Memory over a long inference run: RSS must stay flat however long the video.

Writes a synthetic video (``core.synthetic.make_synthetic_video``, small frames so it is
quick), predicts every frame with a tiny single-instance UNet streamed into a project store, and
samples the process RSS (psutil) every ``--every`` frames. Prints the samples and the growth
between the first sample after warm-up and the end.

    .venv/bin/python benchmarks/infer_memory.py --frames 100000          # the full check
    .venv/bin/python benchmarks/infer_memory.py --frames 20000 --every 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=5000, help="RSS sample interval in frames")
    ap.add_argument("--size", type=int, nargs=2, default=(64, 64), metavar=("H", "W"))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--flush-every", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default=None)
    ap.add_argument("--kind", default="single", choices=["single", "bottomup"])
    args = ap.parse_args(argv)

    import psutil
    import torch

    from napari_posetrack.core.progress import ProgressEvent
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.core.synthetic import make_synthetic_video
    from napari_posetrack.nn.inference.pipeline import iter_predict
    from napari_posetrack.nn.inference.predictors import load_predictor
    from napari_posetrack.nn.inference.toy import save_random_checkpoint

    torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="posetrack_mem_"))
    work.mkdir(parents=True, exist_ok=True)
    video = work / f"synthetic_{args.frames}.mp4"
    t = time.perf_counter()
    if not video.exists():
        make_synthetic_video(video, n_frames=args.frames, size=tuple(args.size))
    print(f"video: {video} ({args.frames} frames {args.size[0]}x{args.size[1]}, written in "
          f"{time.perf_counter() - t:.0f} s)", flush=True)
    sk = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])
    # a tiny single-instance UNet (random weights, head bias 1: one instance of 3 nodes per frame,
    # so every frame writes a row); --kind bottomup adds PAF grouping of random peaks (slower)
    model = save_random_checkpoint(work / f"model_{args.kind}", args.kind, sk, head_bias=1.0)
    from napari_posetrack.core.video import open_video

    with open_video(video) as r:
        info = r.info()
    pred = load_predictor(model, "cpu", max_instances=2, peak_threshold=0.0)
    store_path = work / f"mem_{time.time_ns()}.posetrack.zarr"
    store = ProjectStore.create(store_path, sk, videos=[info])
    proc = psutil.Process(os.getpid())
    samples = []
    t0 = time.perf_counter()
    next_sample = 0
    gen = iter_predict(pred, video, store=store, batch_size=args.batch_size, flush_every=args.flush_every,
                       progress_every=0.0, threads=args.threads)
    try:
        while True:
            ev = next(gen)
            if isinstance(ev, ProgressEvent) and ev.step >= next_sample:
                rss = proc.memory_info().rss / 2**20
                samples.append((ev.step, rss, time.perf_counter() - t0))
                print(f"frame {ev.step:>7}  RSS {rss:8.1f} MiB  {time.perf_counter() - t0:7.1f} s", flush=True)
                next_sample += args.every
    except StopIteration as stop:
        res = stop.value
    rss = proc.memory_info().rss / 2**20
    samples.append((res.n_frames, rss, time.perf_counter() - t0))
    print(f"frame {res.n_frames:>7}  RSS {rss:8.1f} MiB  {time.perf_counter() - t0:7.1f} s (end)")
    n_pred = len(store.predicted_frames(0))
    warm = samples[min(1, len(samples) - 1)]
    print(f"\n{res.n_frames} frames in {res.seconds:.0f} s ({res.fps:.0f} frames/s), {res.n_instances} instances, "
          f"{n_pred} frames recorded in the store")
    print(f"RSS after warm-up (frame {warm[0]}): {warm[1]:.1f} MiB; at the end: {rss:.1f} MiB; "
          f"growth {rss - warm[1]:+.1f} MiB; peak sampled {max(s[1] for s in samples):.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
