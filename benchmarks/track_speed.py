"""Tracking speed (frames/s) against sleap-nn's tracker on the same predictions, and memory.

Run from the repository root::

    .venv/bin/python benchmarks/track_speed.py [--anchor /work/anchor-venv/bin/python] [--frames-mem 100000]

* 2 animals: the real predictions ``../shared/data/proofreading/centered_pair_predictions.slp``
  (1100 frames, 24 nodes, 2274 instances, track ids removed).
* 10 animals: the two real flies of that file copied 5 times each on a grid (moved copies of
  real poses), 1100 frames, 11000 instances.

Both trackers read the same ``.slp`` file (written once here); only the tracking call is timed
(loading is not). Ours: ``track_table`` (simple = Hungarian on OKS with a 5-frame window;
kalman). sleap-nn: ``sleap_nn.tracking.tracker.run_tracker`` with the same window and OKS
matching, in its own interpreter (subprocess).

Memory: tracking N synthetic frames of 2 animals, peak RSS of a fresh process (the whole
table in memory, ``track_table``) and of a pure streaming loop (``OnlineTracker.step`` on
frames generated one at a time), for 10k and N frames: bounded means the streaming peak does
not grow with N.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
VIDEO = DATA / "proofreading" / "centered_pair_low_quality.mp4"

ANCHOR_SCRIPT = r"""
import json, sys, time
import sleap_io as sio
from sleap_nn.tracking.tracker import run_tracker
labels = sio.load_slp(sys.argv[1])
lfs = labels.labeled_frames
for lf in lfs:
    for inst in lf.instances:
        inst.track = None
kw = json.loads(sys.argv[2])
t0 = time.perf_counter()
out = run_tracker(lfs, **kw)
dt = time.perf_counter() - t0
tracks = {id(i.track) for lf in out for i in lf.instances if i.track is not None}
print(json.dumps({"seconds": dt, "frames": len(lfs), "tracks": len(tracks)}))
"""


def _make_inputs(tmp: Path) -> dict[str, tuple[Path, int]]:
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.io import load_dataset, save_dataset
    from napari_posetrack.core.posetable import PoseTable

    ds = load_dataset(DATA / "proofreading" / "centered_pair_predictions.slp", check_videos="ignore")
    p = ds.predictions
    p = p.with_columns(track_id=np.full(len(p), -1))
    two = PoseDataset(ds.skeleton, ds.videos, [], predictions=p)
    two_path = save_dataset(two, tmp / "two.slp")
    core = ds.predictions.take(ds.predictions.track_id <= 1)  # the two real flies, every frame
    copies = []
    for k in range(5):
        dx, dy = 400.0 * (k % 3), 400.0 * (k // 3)
        copies.append(core.with_columns(points=core.points + np.array([dx, dy], np.float32),
                                        track_id=np.full(len(core), -1)))
    ten = PoseTable.concat(copies).sorted()
    ten_path = save_dataset(PoseDataset(ds.skeleton, ds.videos, [], predictions=ten), tmp / "ten.slp")
    return {"2 animals": (two_path, 2), "10 animals": (ten_path, 10)}


def _ours(path: Path, n: int, tracker: str, repeats: int = 3) -> dict:
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.tracking import track_table

    ds = load_dataset(path, check_videos="ignore")
    t = ds.predictions
    best = np.inf
    for _ in range(repeats if tracker != "flow" else 1):
        source = None
        if tracker == "flow":  # frames decoded while tracking, like the anchor does
            import sleap_io as sio

            video = sio.load_video(str(VIDEO))
            source = lambda vid: video  # noqa: E731
        t0 = time.perf_counter()
        res = track_table(t, tracker=tracker, max_tracks=n, window=5, frame_source=source)
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "frames": len(t.frames()), "tracks": res.n_tracks}


def _anchor(python: str, path: Path, kw: dict) -> dict:
    r = subprocess.run([python, "-c", ANCHOR_SCRIPT, str(path), json.dumps(kw)], capture_output=True, text=True,
                       timeout=3600)
    if r.returncode:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


MEM_SCRIPT = r"""
import sys, threading, time, numpy as np, psutil
mode, n = sys.argv[1], int(sys.argv[2])
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.tracking import TrackerConfig, make_tracker, track_table
proc = psutil.Process()
peak = [0]
def sample():
    while True:
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.005)
threading.Thread(target=sample, daemon=True).start()
rng = np.random.default_rng(0)
base = rng.normal(0, 15, (13, 2)).astype(np.float32)
def frame(f):
    c = np.array([[300 + 100 * np.sin(f / 50), 300], [300, 300 + 100 * np.cos(f / 40)]], np.float32)
    return base[None] + c[:, None] + rng.normal(0, 1, (2, 13, 2)).astype(np.float32)
tr = make_tracker(TrackerConfig(max_tracks=2))
tr.step(0, frame(0))
time.sleep(0.05)
before = proc.memory_info().rss
peak[0] = before
if mode == "table":
    pts = np.concatenate([frame(f) for f in range(n)])
    t = PoseTable.from_arrays(pts, frame_idx=np.repeat(np.arange(n), 2), source=1)
    mid = proc.memory_info().rss
    t0 = time.perf_counter()
    res = track_table(t, max_tracks=2)
    assert res.n_tracks == 2
else:
    mid = proc.memory_info().rss
    seen = set()
    t0 = time.perf_counter()
    for f in range(n):
        ids, _ = tr.step(f, frame(f))
        seen.update(ids.tolist())
    assert seen == {0, 1}
dt = time.perf_counter() - t0
time.sleep(0.05)
print(before / 2**20, mid / 2**20, peak[0] / 2**20, n / dt)
"""


def _memory(n: int, mode: str) -> tuple[float, float, float, float]:
    r = subprocess.run([sys.executable, "-c", MEM_SCRIPT, mode, str(n)], capture_output=True, text=True,
                       timeout=3600, cwd=ROOT)
    if r.returncode:
        raise RuntimeError(r.stderr)
    return tuple(float(x) for x in r.stdout.split()[-4:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchor", default="/work/anchor-venv/bin/python", help="python of the sleap-nn venv")
    ap.add_argument("--frames-mem", type=int, default=100_000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-speed", action="store_true", help="only the memory table")
    ap.add_argument("--animals", type=int, nargs="*", default=[2, 10], help="which speed cases to run (2, 10)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {} if args.skip_speed else _make_inputs(Path(tmp))
        for label, (path, n) in inputs.items():
            if n not in args.animals:
                continue
            a_fixed = _anchor(args.anchor, path, {"window_size": 5, "candidates_method": "fixed_window",
                                                  "features": "keypoints", "scoring_method": "oks",
                                                  "track_matching_method": "hungarian"})
            a_local = _anchor(args.anchor, path, {"window_size": 5, "candidates_method": "local_queues",
                                                  "max_tracks": n, "features": "keypoints",
                                                  "scoring_method": "oks", "track_matching_method": "hungarian"})
            for tracker in ("simple", "kalman"):
                o = _ours(path, n, tracker)
                rows.append((label, tracker, o, a_fixed, a_local))
            if n == 2:  # optical flow on the real video (frames decoded while tracking, both sides)
                flow_kw = {"window_size": 5, "features": "keypoints", "scoring_method": "oks",
                           "track_matching_method": "hungarian", "use_flow": True}
                a_ff = _anchor(args.anchor, path, {**flow_kw, "candidates_method": "fixed_window"})
                a_fl = _anchor(args.anchor, path, {**flow_kw, "candidates_method": "local_queues", "max_tracks": n})
                rows.append((label, "flow", _ours(path, n, "flow"), a_ff, a_fl))
    if rows:
        _print_speed(rows)
    if not args.skip_memory:
        _print_memory(args.frames_mem)
    return 0


def _print_speed(rows) -> None:
    print("\n## Tracking speed (frames/s; higher is better; same .slp predictions, tracking call only)\n")
    print("| animals | ours | ours fps | ours tracks | sleap-nn fixed_window fps (tracks) | "
          "sleap-nn local_queues+max_tracks fps (tracks) | ratio vs best sleap-nn |")
    print("|---|---|---|---|---|---|---|")
    for label, tracker, o, af, al in rows:
        fps = o["frames"] / o["seconds"]

        def fmt(a):
            if "error" in a:
                return f"error: {a['error']}", 0.0
            v = a["frames"] / a["seconds"]
            return f"{v:,.0f} ({a['tracks']})", v

        sf, vf = fmt(af)
        sl, vl = fmt(al)
        best = max(vf, vl)
        ratio = f"{fps / best:.1f}x" if best else "n/a"
        print(f"| {label} | {tracker} | {fps:,.0f} | {o['tracks']} | {sf} | {sl} | {ratio} |")


def _print_memory(frames_mem: int) -> None:
    print("\n## Memory (RSS of a fresh process, MiB; peak sampled every 5 ms while tracking)\n")
    print("stream: frames generated one at a time and fed to OnlineTracker.step (nothing kept);")
    print("table: the whole PoseTable built first, then track_table (input + output columns in memory).\n")
    print("| frames | mode | RSS before | RSS with input built | peak RSS while tracking | peak - before | fps |")
    print("|---|---|---|---|---|---|---|")
    for n in (10_000, frames_mem):
        for mode in ("stream", "table"):
            b, m, p, fps = _memory(n, mode)
            print(f"| {n:,} | {mode} | {b:.0f} | {m:.0f} | {p:.0f} | {p - b:.0f} | {fps:,.0f} |")


if __name__ == "__main__":
    sys.exit(main())
