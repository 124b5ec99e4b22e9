"""Random-access latency and sequential throughput: napari-posetrack vs sleap-io vs raw PyAV.

Builds (or reuses) a long-GOP 1080p H.264 test video with PyAV, then, on the same file and in
the same run, measures:

- the median latency of reading a random frame (the same random frames for every reader,
  fresh readers, cold caches), and whether the frame returned is the one asked for (each
  frame carries its number in binary blocks, see ``core.synthetic.read_frame_number``);
- sequential throughput (frames/s, decoded to RGB arrays).

Targets (issue 2): random-access latency <= 0.3x sleap-io's; sequential >= 0.9x raw PyAV.

Usage::

    python benchmarks/video_seek.py                      # 3,000 frames, keyframe every 250
    python benchmarks/video_seek.py --frames 600 --random 15 --video /tmp/seek.mp4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _open_ours(path):
    from napari_posetrack.core.video import open_video

    return open_video(path)


def _open_sleap(path, plugin=None):
    import sleap_io as sio

    video = sio.load_video(str(path), **({"plugin": plugin} if plugin else {}))
    _ = video.shape
    return video


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def time_random(readers: dict, frames) -> dict:
    """Per frame, every reader in turn (so they share the machine's load): median latency, accuracy."""
    from napari_posetrack.core.synthetic import read_frame_number

    times = {k: [] for k in readers}
    right = {k: 0 for k in readers}
    for i in frames:
        for key, reader in readers.items():
            img, dt = _timed(lambda: reader[int(i)])
            times[key].append(dt)
            right[key] += read_frame_number(np.asarray(img)) == int(i)
    return {k: {"random_s": statistics.median(v), "accuracy": right[k] / len(frames)} for k, v in times.items()}


def _seq_ours(path, n):
    reader = _open_ours(path)
    for _, frame in reader.iter_frames(0, n):
        yield frame
    reader.close()


def _seq_sleap(path, n, plugin=None):
    video = _open_sleap(path, plugin)
    for i in range(n):
        yield video[i]
    video.close()


def _seq_raw(path, n, thread_type=None):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if thread_type:
            stream.thread_type = thread_type
        for k, frame in enumerate(container.decode(stream)):
            if k >= n:
                break
            yield frame.to_ndarray(format="rgb24")


def time_sequential(makers: dict, n: int, rounds: int) -> dict:
    """Frames/s of each sequential decoder; rounds alternate between them, best round kept.

    Also the CPU time per frame (all threads), steadier than wall time on a shared machine.
    The clock starts after each decoder's first frame: steady-state throughput.
    """
    best = {k: 0.0 for k in makers}
    cpu = {k: float("inf") for k in makers}
    for _ in range(rounds):
        for key, make in makers.items():
            frames = make(n + 1)
            next(frames)  # start-up (open, first frame) is timed in the "open" column instead
            t, c = time.perf_counter(), time.process_time()
            count = sum(1 for _ in frames)
            best[key] = max(best[key], count / (time.perf_counter() - t))
            cpu[key] = min(cpu[key], (time.process_time() - c) / count)
    return {k: (best[k], cpu[k]) for k in makers}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="test video path (built if missing; default: a temp file)")
    parser.add_argument("--frames", type=int, default=3000, help="frames in the test video")
    parser.add_argument("--gop", type=int, default=250, help="keyframe interval")
    parser.add_argument("--size", default="1080x1920", help="HEIGHTxWIDTH")
    parser.add_argument("--random", type=int, default=30, help="random frames to time per reader")
    parser.add_argument("--seq", type=int, default=500, help="frames to decode for the sequential figure")
    parser.add_argument("--skip-sleap-pyav", action="store_true", help="do not time sleap-io's pyav plugin")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the sequential timing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from napari_posetrack.core.synthetic import make_synthetic_video

    h, w = (int(v) for v in args.size.lower().split("x"))
    tmp = None
    path = args.video
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "seek_test.mp4"
    if not path.exists():
        t = time.perf_counter()
        print(f"writing {args.frames} frames {w}x{h}, keyframe every {args.gop} -> {path}", flush=True)
        make_synthetic_video(path, args.frames, (h, w), gop=args.gop, color=True, noise=12, crf=23, preset="veryfast")
        print(f"  written in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    from napari_posetrack.core.video import probe_video
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n_total = s.frames
        print(f"video: {s.codec_context.name} {s.width}x{s.height} {s.codec_context.pix_fmt}, {n_total} frames, "
              f"B-frames: {bool(s.codec_context.has_b_frames)}")
    rng = np.random.default_rng(args.seed)
    frames = rng.choice(n_total, size=min(args.random, n_total), replace=False)
    n_seq = min(args.seq, n_total)

    parser_rounds = args.rounds
    print("opening ...", flush=True)
    readers, opens = {}, {}
    readers["napari-posetrack"], opens["napari-posetrack"] = _timed(lambda: _open_ours(path))
    video, dt = _timed(lambda: _open_sleap(path))
    key = f"sleap-io ({video.backend.plugin}, default)"
    readers[key], opens[key] = video, dt
    if not args.skip_sleap_pyav:
        video, dt = _timed(lambda: _open_sleap(path, "pyav"))
        readers["sleap-io (pyav)"], opens["sleap-io (pyav)"] = video, dt
    print(f"timing {len(frames)} random frames, readers interleaved ...", flush=True)
    rows = time_random(readers, frames)
    for key, reader in readers.items():
        rows[key]["open_s"] = opens[key]
        reader.close()
    print(f"timing sequential decoding of {n_seq} frames, {parser_rounds} alternating rounds ...", flush=True)
    makers = {"napari-posetrack": lambda n: _seq_ours(path, n)}
    default_key = next(k for k in rows if k.endswith("default)"))
    makers[default_key] = lambda n: _seq_sleap(path, n)
    if not args.skip_sleap_pyav:
        makers["sleap-io (pyav)"] = lambda n: _seq_sleap(path, n, "pyav")
    makers["raw PyAV (default threads)"] = lambda n: _seq_raw(path, n)
    makers["raw PyAV (thread_type=AUTO)"] = lambda n: _seq_raw(path, n, "AUTO")
    for key, (fps, cpu) in time_sequential(makers, n_seq, parser_rounds).items():
        rows.setdefault(key, {}).update(seq_fps=fps, seq_cpu_ms=cpu * 1e3)

    print()
    print("| reader | open (s) | median random frame (ms) | right frame | sequential (frames/s) "
          "| sequential CPU (ms/frame) |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, r in rows.items():
        rnd = f"{r['random_s'] * 1e3:.1f}" if "random_s" in r else "-"
        acc = f"{r['accuracy'] * 100:.0f}%" if "accuracy" in r else "-"
        op = f"{r['open_s']:.3f}" if "open_s" in r else "-"
        print(f"| {key} | {op} | {rnd} | {acc} | {r['seq_fps']:.1f} | {r['seq_cpu_ms']:.1f} |")
    ours = rows["napari-posetrack"]
    print()
    for key, r in rows.items():
        if key.startswith("sleap-io"):
            ratio = ours["random_s"] / r["random_s"]
            print(f"random latency ours / {key}: {ratio:.2f}x (target <= 0.30x) {'OK' if ratio <= 0.3 else 'MISSED'}")
    raw = max(rows["raw PyAV (default threads)"]["seq_fps"], rows["raw PyAV (thread_type=AUTO)"]["seq_fps"])
    ratio = ours["seq_fps"] / raw
    print(f"sequential ours / best raw PyAV: {ratio:.2f}x (target >= 0.90x) {'OK' if ratio >= 0.9 else 'MISSED'}")
    raw_cpu = rows["raw PyAV (thread_type=AUTO)"]["seq_cpu_ms"]
    print(f"sequential CPU per frame, raw PyAV (AUTO) / ours: {raw_cpu / ours['seq_cpu_ms']:.2f}x")
    probe = probe_video(path, n_checks=4, max_span=2 * args.gop + 1)
    print(f"seek self-test: seek_ok={probe['seek_ok']} ({probe['seek_message'][:100]}...)")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
