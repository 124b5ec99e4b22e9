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


def stats(times):
    t = np.asarray(times) * 1000
    return np.median(t), np.percentile(t, 95)


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
    ctl = LabelingLayers(viewer, EditSession(ds), 0, notify=lambda *a: None)
    viewer.dims.set_current_step(0, 0)
    t_refresh, t_change = [], []
    for f in frames:  # full frame change through the viewer
        t = time.perf_counter()
        viewer.dims.set_current_step(0, int(f))
        app.processEvents()
        t_change.append(time.perf_counter() - t)
        assert len(ctl.points.data) == args.instances * args.nodes
    viewer.dims.events.current_step.disconnect(ctl._on_step)
    for f in frames[:100]:  # our layer update alone
        viewer.dims.set_current_step(0, int(f))
        app.processEvents()
        t = time.perf_counter()
        ctl.refresh()
        t_refresh.append(time.perf_counter() - t)
    ctl.close()
    viewer.close()

    rows = [("ours: controller refresh (points + edges)", *stats(t_refresh)),
            ("ours: frame change (dims step + events)", *stats(t_change))]
    if not args.no_naive:
        from napari_posetrack._napari.convert import table_to_points

        viewer = napari.Viewer(show=False)
        viewer.add_image(image, name="video")
        t = time.perf_counter()
        data, feats = table_to_points(ds.labels)
        layer = viewer.add_points(data, features=feats, size=5)
        build = time.perf_counter() - t
        t_naive = []
        for f in frames[:50]:
            t = time.perf_counter()
            viewer.dims.set_current_step(0, int(f))
            app.processEvents()
            t_naive.append(time.perf_counter() - t)
        rows.append((f"naive: all {len(data)} points in one layer (built in {build:.1f} s)", *stats(t_naive)))
        viewer.close()
    print()
    print(f"| {'what':62s} | median ms | p95 ms |")
    print(f"|{'-' * 64}|-----------|--------|")
    for name, med, p95 in rows:
        print(f"| {name:62s} | {med:9.1f} | {p95:6.1f} |")
    if not args.no_naive:
        print(f"\nratio naive / ours (frame change, median): {rows[2][1] / rows[1][1]:.1f}x")
    print(f"target: frame change < 50 ms median -> {'MET' if rows[1][1] < 50 else 'NOT MET'}")


if __name__ == "__main__":
    main()
