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


def _median_latency(read, frames) -> tuple[float, float]:
    """Median seconds per read and the fraction of frames that carried the right number."""
    from napari_posetrack.core.synthetic import read_frame_number

    times, ok = [], 0
    for i in frames:
        t = time.perf_counter()
        img = read(int(i))
        times.append(time.perf_counter() - t)
        ok += read_frame_number(np.asarray(img)) == int(i)
    return statistics.median(times), ok / len(frames)


def _fps(iterate, n) -> float:
    t = time.perf_counter()
    count = 0
    for _ in iterate(n):
        count += 1
    return count / (time.perf_counter() - t)


def bench_ours(path, frames, n_seq):
    from napari_posetrack.core.video import open_video

    t = time.perf_counter()
    reader = open_video(path)
    open_s = time.perf_counter() - t
    lat, acc = _median_latency(lambda i: reader[i], frames)
    fps = _fps(lambda n: reader.iter_frames(0, n), n_seq)
    reader.close()
    return {"open_s": open_s, "random_s": lat, "accuracy": acc, "seq_fps": fps}


def bench_sleap_io(path, frames, n_seq, plugin=None):
    import sleap_io as sio

    kwargs = {"plugin": plugin} if plugin else {}
    t = time.perf_counter()
    video = sio.load_video(str(path), **kwargs)
    _ = video.shape
    open_s = time.perf_counter() - t
    name = getattr(video.backend, "plugin", "?")
    lat, acc = _median_latency(lambda i: video[i], frames)
    video.close()
    video = sio.load_video(str(path), **kwargs)

    def seq(n):
        for i in range(n):
            yield video[i]

    fps = _fps(seq, n_seq)
    video.close()
    return name, {"open_s": open_s, "random_s": lat, "accuracy": acc, "seq_fps": fps}


def bench_raw_pyav(path, n_seq, thread_type=None):
    import av

    def seq(n):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if thread_type:
                stream.thread_type = thread_type
            for k, frame in enumerate(container.decode(stream)):
                if k >= n:
                    break
                yield frame.to_ndarray(format="rgb24")

    return {"seq_fps": _fps(seq, n_seq)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="test video path (built if missing; default: a temp file)")
    parser.add_argument("--frames", type=int, default=3000, help="frames in the test video")
    parser.add_argument("--gop", type=int, default=250, help="keyframe interval")
    parser.add_argument("--size", default="1080x1920", help="HEIGHTxWIDTH")
    parser.add_argument("--random", type=int, default=30, help="random frames to time per reader")
    parser.add_argument("--seq", type=int, default=500, help="frames to decode for the sequential figure")
    parser.add_argument("--skip-sleap-pyav", action="store_true", help="do not time sleap-io's pyav plugin")
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

    rows = {}
    print("timing napari-posetrack ...", flush=True)
    rows["napari-posetrack"] = bench_ours(path, frames, n_seq)
    print("timing sleap-io (default backend) ...", flush=True)
    name, res = bench_sleap_io(path, frames, n_seq)
    rows[f"sleap-io ({name}, default)"] = res
    if not args.skip_sleap_pyav:
        print("timing sleap-io (pyav plugin) ...", flush=True)
        name, res = bench_sleap_io(path, frames, n_seq, plugin="pyav")
        rows[f"sleap-io ({name})"] = res
    print("timing raw PyAV ...", flush=True)
    rows["raw PyAV (default threads)"] = bench_raw_pyav(path, n_seq)
    rows["raw PyAV (thread_type=AUTO)"] = bench_raw_pyav(path, n_seq, "AUTO")

    print()
    print(f"| reader | open (s) | median random frame (ms) | right frame | sequential (frames/s) |")
    print("|---|---:|---:|---:|---:|")
    for key, r in rows.items():
        rnd = f"{r['random_s'] * 1e3:.1f}" if "random_s" in r else "-"
        acc = f"{r['accuracy'] * 100:.0f}%" if "accuracy" in r else "-"
        op = f"{r['open_s']:.3f}" if "open_s" in r else "-"
        print(f"| {key} | {op} | {rnd} | {acc} | {r['seq_fps']:.1f} |")
    ours = rows["napari-posetrack"]
    print()
    for key, r in rows.items():
        if key.startswith("sleap-io"):
            ratio = ours["random_s"] / r["random_s"]
            print(f"random latency ours / {key}: {ratio:.2f}x (target <= 0.30x) {'OK' if ratio <= 0.3 else 'MISSED'}")
    raw = max(rows["raw PyAV (default threads)"]["seq_fps"], rows["raw PyAV (thread_type=AUTO)"]["seq_fps"])
    ratio = ours["seq_fps"] / raw
    print(f"sequential ours / best raw PyAV: {ratio:.2f}x (target >= 0.90x) {'OK' if ratio >= 0.9 else 'MISSED'}")
    probe = probe_video(path, n_checks=4, max_span=2 * args.gop + 1)
    print(f"seek self-test: seek_ok={probe['seek_ok']} ({probe['seek_message'][:100]}...)")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
