"""Regenerate the documentation screenshots (one per dock, plus the sample data) in docs/images/.

    .venv/bin/python scripts/make_screenshots.py            # all of them
    .venv/bin/python scripts/make_screenshots.py plots_dock # only some

Runs napari headless: if there is no display it starts a virtual one (pyvirtualdisplay when
installed, else an ``Xvfb`` process of its own). The data is the synthetic two-animal clip
(nothing is downloaded): a project store with labels on every fifth frame and the ground
truth as tracked "predictions", so every dock has something to show. A dock whose module is
missing is skipped with a message. Screenshots are taken with ``canvas_only=False`` (the
whole window with its docks) and downscaled to keep the PNGs small.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PLUGIN = "napari-posetrack"

#: screenshot name -> (dock display name or None, frame to show)
SHOTS = {
    "sample_data": (None, 40),
    "skeleton_dock": ("Skeleton", 40),
    "labeling_dock": ("Labeling", 40),
    "training_dock": ("Training", 40),
    "inference_dock": ("Inference", 40),
    "proofreading_dock": ("Proofreading", 40),
    "plots_dock": ("Plots and export", 40),
}


def start_display():
    """Make sure Qt has an X display; returns a stopper callable."""
    if os.environ.get("DISPLAY"):
        return lambda: None
    try:
        from pyvirtualdisplay import Display

        disp = Display(visible=False, size=(1400, 1000), color_depth=24)
        disp.start()
        return disp.stop
    except ImportError:
        pass
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("No display and no Xvfb: install the 'xvfb' package (see docs/installation.md).")
    for n in range(99, 140):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", "1400x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"

    def stop():
        proc.terminate()
        proc.wait(timeout=10)

    return stop


def make_project(workdir: Path) -> Path:
    """A store with the synthetic clip, labels on every 5th frame and tracked 'predictions'."""
    import numpy as np

    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.core.synthetic import make_synthetic_clip

    clip = make_synthetic_clip(workdir / "data", n_frames=120, n_animals=2, size=(256, 256))
    ds = clip["dataset"]
    gt = ds.labels
    rng = np.random.default_rng(0)
    pred = gt.with_columns(
        source=np.ones(len(gt), np.uint8),
        points=(gt.points + rng.normal(0, 1.0, gt.points.shape)).astype(np.float32),
        score=rng.uniform(0.5, 1.0, gt.score.shape).astype(np.float32),
        instance_score=rng.uniform(0.7, 1.0, len(gt)).astype(np.float32),
    )
    ds.labels = gt.take(gt.frame_idx % 5 == 0)
    ds.predictions = pred
    store_path = workdir / "demo.posetrack.zarr"
    store = ProjectStore.create(store_path, ds.skeleton, ds.videos, overwrite=True)
    try:
        store.save(ds)
    finally:
        if hasattr(store, "close"):
            store.close()
    return store_path


def _settle(app, seconds: float = 1.0) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def take(name: str, store: Path, out: Path, width: int) -> bool:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_posetrack._napari.session import get_session, set_session
    from napari_posetrack.core.session import EditSession
    from napari_posetrack.core.store import ProjectStore

    dock_name, frame = SHOTS[name]
    viewer = napari.Viewer(show=True, title="napari-posetrack")
    app = QApplication.instance()
    try:
        viewer.window.resize(1300, 850)
        if dock_name is None:
            viewer.open_sample(PLUGIN, "two_animals")
        else:
            viewer.open(str(store), plugin=PLUGIN)
            if get_session(viewer) is None:  # what "Open project" in the Labeling dock does
                set_session(viewer, EditSession.from_store(ProjectStore.open(store)))
            try:
                viewer.window.add_plugin_dock_widget(PLUGIN, dock_name)
            except Exception as exc:  # noqa: BLE001 - a dock not written yet is skipped
                print(f"  skipped {name}: cannot open the {dock_name!r} dock ({type(exc).__name__}: {exc})")
                return False
        if viewer.dims.ndim and viewer.dims.nsteps[0] > frame:
            viewer.dims.set_current_step(0, frame)
        _settle(app, 1.5)
        tmp = out.with_suffix(".tmp.png")
        viewer.screenshot(str(tmp), canvas_only=False)
        _shrink(tmp, out, width)
        return True
    finally:
        session = get_session(viewer)
        set_session(viewer, None)
        if session is not None and session.store is not None:
            session.store.close()
        viewer.close()
        _settle(app, 0.3)


def _shrink(src: Path, dst: Path, width: int) -> None:
    from PIL import Image

    img = Image.open(src).convert("RGB")
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    # 256 colours are plenty for a UI screenshot and make the PNG several times smaller
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(dst, optimize=True)
    src.unlink()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"screenshots to make (default all: {', '.join(SHOTS)})")
    parser.add_argument("--out", default=str(IMAGES), help="output folder (default docs/images)")
    parser.add_argument("--width", type=int, default=1000, help="width of the saved PNGs in pixels")
    args = parser.parse_args(argv)
    names = args.names or list(SHOTS)
    unknown = [n for n in names if n not in SHOTS]
    if unknown:
        parser.error(f"unknown screenshot(s) {unknown}; choose from {list(SHOTS)}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    stop = start_display()
    try:
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            store = make_project(Path(tmp))
            made = []
            for name in names:
                print(f"{name}...", flush=True)
                if take(name, store, out_dir / f"{name}.png", args.width):
                    made.append(name)
        print(f"wrote {len(made)} screenshot(s) to {out_dir}: {', '.join(made)}")
        return 0 if len(made) == len(names) else 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
