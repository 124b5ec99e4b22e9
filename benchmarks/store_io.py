"""Project store I/O against sleap-io's .slp on the same predictions.

Builds a 100k-instance prediction table (13 nodes, 2 animals x 50k frames, tracks and scores)
and measures, in one run:

* ``save``: one atomic save of the whole table (ours: new generation + fsync + pointer
  switch) against ``sleap_io.save_slp`` of the same labels;
* ``load``: reading it back in a fresh process-like state (ours: open + ``.predictions``)
  against ``sleap_io.load_slp`` (+ our conversion to a PoseTable, which any user of the
  table needs);
* ``append``: streaming the same rows in batches (``append_predictions``; each batch is a
  durable commit) against what a .slp needs for the same: re-saving the whole file after
  every batch (estimated from one full save, the cheapest possible re-save).

    python benchmarks/store_io.py [--instances 100000] [--nodes 13] [--batch 1000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def build(n_instances: int, n_nodes: int):
    from napari_posetrack.core.dataset import PoseDataset, VideoInfo
    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.core.skeleton import Skeleton

    rng = np.random.default_rng(0)
    n_animals = 2
    n_frames = n_instances // n_animals
    pts = rng.uniform(0, 1000, (n_instances, n_nodes, 2)).astype(np.float32)
    table = PoseTable.from_arrays(
        pts, frame_idx=np.repeat(np.arange(n_frames), n_animals), score=rng.random((n_instances, n_nodes)),
        instance_score=rng.random(n_instances), track_id=np.tile(np.arange(n_animals), n_frames),
        tracking_score=rng.random(n_instances), source=1,
    )
    sk = Skeleton([f"n{i}" for i in range(n_nodes)], [(i, i + 1) for i in range(n_nodes - 1)], name="bench")
    ds = PoseDataset(sk, [VideoInfo("video.mp4", n_frames, 1024, 1024, 1, 30.0)], ["a", "b"], predictions=table)
    return ds


def timed(fn, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None) -> None:
    import sleap_io as sio

    from napari_posetrack.core.io.sleap_convert import dataset_to_labels, labels_to_dataset
    from napari_posetrack.core.store import ProjectStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=13)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    ds = build(args.instances, args.nodes)
    table = ds.predictions
    work = Path(tempfile.mkdtemp(prefix="store_io_"))
    try:
        store = ProjectStore.create(work / "bench.posetrack.zarr", ds.skeleton, videos=ds.videos,
                                    track_names=ds.track_names)
        state = {"i": 0}

        def our_save():
            state["i"] += 1  # a different table each time, so the save is never skipped as unchanged
            return store.save(predictions=table.with_columns(instance_score=table.instance_score + state["i"]))

        t_save, _ = timed(our_save, args.repeat)
        t_load, back = timed(lambda: ProjectStore.open(store.path, mode="r").predictions, args.repeat)
        assert len(back) == len(table)

        t_conv = time.perf_counter()
        labels = dataset_to_labels(ds)
        t_conv = time.perf_counter() - t_conv
        slp = work / "bench.slp"
        t_slp_save, _ = timed(lambda: sio.save_slp(labels, str(slp)), args.repeat)
        t_slp_load, _ = timed(lambda: labels_to_dataset(sio.load_slp(str(slp), open_videos=False)).predictions,
                              max(1, args.repeat - 1))
        t_slp_read_only, _ = timed(lambda: sio.load_slp(str(slp), open_videos=False), max(1, args.repeat - 1))

        appendee = ProjectStore.create(work / "append.posetrack.zarr", ds.skeleton, videos=ds.videos)
        batches = [table.take(np.arange(s, min(s + args.batch, len(table)))) for s in range(0, len(table), args.batch)]
        t = time.perf_counter()
        for b in batches:
            appendee.append_predictions(b)
        t_append = time.perf_counter() - t
        assert appendee.predictions.equals(table)
        our_rate = len(table) / t_append
        # a .slp has no append: each batch means re-saving the file (>= the final full save each time)
        slp_rate = args.batch / t_slp_save
        from napari_posetrack.core.store._commits import referenced_groups

        current = referenced_groups(store.head())  # the committed generation only, not older ones
        size_ours = sum(p.stat().st_size for g in current for p in (store.path / g).rglob("*") if p.is_file())
        size_slp = slp.stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = f"{len(table):,} instances x {args.nodes} nodes"
    print(f"\nProject store vs .slp (sleap-io {sio.__version__}), {n}, best of {args.repeat}\n")
    print(f"{'measure':<42}{'ours':>12}{'sleap-io':>12}{'ratio':>9}")
    rows = [
        ("save whole table (s)", t_save, t_slp_save, t_save / t_slp_save),
        ("load whole table (s)", t_load, t_slp_load, t_load / t_slp_load),
        ("  sleap-io load_slp alone, no table (s)", None, t_slp_read_only, t_load / t_slp_read_only),
        (f"append rows/s (batches of {args.batch})", our_rate, slp_rate, our_rate / slp_rate),
        ("size on disk (MB)", size_ours / 1e6, size_slp / 1e6, size_ours / size_slp),
    ]
    for name, ours, theirs, ratio in rows:
        o = "" if ours is None else (f"{ours:12.3f}" if ours < 1000 else f"{ours:12,.0f}")
        print(f"{name:<42}{o:>12}{theirs:12.3f}{ratio:9.2f}" if theirs < 1000 else
              f"{name:<42}{o:>12}{theirs:12,.0f}{ratio:9.2f}")
    print(f"\n(time to convert the table to sleap-io Labels, not counted above: {t_conv:.1f} s)")
    print("ratio = ours / sleap-io: < 1 is faster for times, > 1 is faster for rows/s.")
    print("For .slp 'append' the full file is re-saved per batch; its rate is batch / one full save.")


if __name__ == "__main__":
    main()
