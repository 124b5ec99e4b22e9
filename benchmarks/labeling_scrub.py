"""Frame-change time of the labeling layers on a synthetic 100k-frame labeled project.

Measures, in a real napari viewer (run under a display or Xvfb):

* ``controller``: our LabelingLayers.refresh() (current frame's points + edges layers);
* ``frame change``: ``viewer.dims.set_current_step`` + Qt event processing (slices the tiny
  image, our refresh, napari's own work), which is what a key press costs before drawing;
* ``naive``: the same change with ALL keypoints in one 3D napari Points layer (what a plugin
  that puts every label in one layer does), as the baseline.

    python benchmarks/labeling_scrub.py [--frames 100000] [--instances 2] [--nodes 13] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def build_dataset(n_frames: int, n_instances: int, n_nodes: int):
    from napari_posetrack.core.dataset import PoseDataset, VideoInfo
    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.core.skeleton import Skeleton

    rng = np.random.default_rng(0)
    n = n_frames * n_instances
    pts = rng.uniform(5, 250, (n, n_nodes, 2)).astype(np.float32)
    labels = PoseTable.from_arrays(pts, frame_idx=np.repeat(np.arange(n_frames), n_instances),
                                   track_id=np.tile(np.arange(n_instances), n_frames))
    sk = Skeleton([f"n{i}" for i in range(n_nodes)], [(i, i + 1) for i in range(n_nodes - 1)])
    return PoseDataset(sk, [VideoInfo("synthetic", n_frames, 256, 256, 1, kind="embedded")],
                       [f"t{i}" for i in range(n_instances)], labels)


class Clock:
    """Wall time and process CPU time (all threads) of a block; CPU time is what the work
    costs when the machine is shared, wall time what the user waits for."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(time.process_time() - self._c)


def stats(clock):
    w, c = np.asarray(clock.wall) * 1000, np.asarray(clock.cpu) * 1000
    return np.median(w), np.percentile(w, 95), np.median(c)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--nodes", type=int, default=13)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--no-naive", action="store_true", help="skip the all-points baseline")
    args = ap.parse_args(argv)

    import dask.array as da
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_posetrack._napari.labeling_layers import LabelingLayers
    from napari_posetrack.core.session import EditSession

    t0 = time.perf_counter()
    ds = build_dataset(args.frames, args.instances, args.nodes)
    print(f"dataset: {args.frames} frames, {len(ds.labels)} instances, {len(ds.labels) * args.nodes} keypoints "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    image = da.zeros((args.frames, 256, 256), np.uint8, chunks=(1, 256, 256))
    rng = np.random.default_rng(1)
    frames = rng.integers(0, args.frames, args.steps)
    viewer = napari.Viewer(show=False)
    app = QApplication.instance()
    viewer.add_image(image, name="video")
    t_base = Clock()
    for f in frames[:100]:  # napari alone: the image layer, no labels
        with t_base:
            viewer.dims.set_current_step(0, int(f))
            app.processEvents()
    ctl = LabelingLayers(viewer, EditSession(ds), 0, notify=lambda *a: None)
    viewer.dims.set_current_step(0, 0)
    t_refresh, t_change = Clock(), Clock()
    for f in frames:  # full frame change through the viewer
        with t_change:
            viewer.dims.set_current_step(0, int(f))
            app.processEvents()
        assert len(ctl.points.data) == args.instances * args.nodes
    viewer.dims.events.current_step.disconnect(ctl._on_step)
    for f in frames[:100]:  # our layer update alone
        viewer.dims.set_current_step(0, int(f))
        app.processEvents()
        with t_refresh:
            ctl.refresh()
    ctl.close()
    viewer.close()

    rows = [("napari alone: image layer only (no labels)", *stats(t_base)),
            ("ours: controller refresh (points + edges)", *stats(t_refresh)),
            ("ours: frame change (dims step + events)", *stats(t_change))]
    if not args.no_naive:
        from napari_posetrack._napari.convert import table_to_points

        viewer = napari.Viewer(show=False)
        viewer.add_image(image, name="video")
        t = time.perf_counter()
        data, feats = table_to_points(ds.labels)
        viewer.add_points(data, features=feats, size=5)
        build = time.perf_counter() - t
        t_naive = Clock()
        for f in frames[:50]:
            with t_naive:
                viewer.dims.set_current_step(0, int(f))
                app.processEvents()
        rows.append((f"naive: all {len(data)} points in one layer (built in {build:.1f} s)", *stats(t_naive)))
        viewer.close()
    print()
    import os

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"| {'what':62s} | median ms | p95 ms | median CPU ms |")
    print(f"|{'-' * 64}|-----------|--------|---------------|")
    for name, med, p95, cpu in rows:
        print(f"| {name:62s} | {med:9.1f} | {p95:6.1f} | {cpu:13.1f} |")
    if not args.no_naive:
        print(f"\nratio naive / ours (frame change, median): {rows[3][1] / rows[2][1]:.1f}x")
    print(f"our share of a frame change (median): {rows[2][1] - rows[0][1]:.1f} ms wall, "
          f"{rows[2][3] - rows[0][3]:.1f} ms CPU")
    print(f"target: frame change < 50 ms median -> {'MET' if rows[2][1] < 50 else 'NOT MET'}")


if __name__ == "__main__":
    main()
