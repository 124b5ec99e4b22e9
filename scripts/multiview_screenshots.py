"""Screenshots of the 3D dock on the real 4-camera session, at 1366x768 with every dock open.

    .venv/bin/python scripts/multiview_screenshots.py --calibration CALIBRATION.toml

Needs ``../shared/data/multiview`` and a calibration of it (``posetrack calibrate
../shared/data/multiview --out CALIBRATION.toml``; the session's own calibration.toml is another
tool's, whose side camera is wrong). To show the epipolar lines too, the labels of frame 60 are
copied to a temporary folder with the nodes Nose, Tail_2 and Haunch_left left only in ``top``
(as if that frame were being labelled, view by view); the repository gets only the PNGs:

* ``docs/images/multiview_camera_views.png``: the four cameras side by side at frame 60 with the
  labels, their reprojections from the other cameras and the epipolar lines;
* ``docs/images/multiview_suspect.png``: the worst reprojection suspect chosen in the list;
* ``docs/images/multiview_3d_1366x768.png``: the 3D poses, all docks open, at 1366x768.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multiview"
IMAGES = ROOT / "docs" / "images"
DOCKS = ["Skeleton", "Labeling", "Training", "Inference", "Proofreading", "Plots and export", "3D"]
FRAME = 60
ONE_VIEW_NODES = ("Nose", "Tail_2", "Haunch_left")


def _settle(app, seconds: float = 1.0) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def _session_file(tmp: Path) -> Path:
    """A session .toml over the real videos, with frame 60's labels thinned out in three cameras."""
    import numpy as np

    from napari_posetrack.core.io import load_dataset, save_dataset

    lines = ['name = "minimal_session, frame 60 partly labelled"']
    for cam in ("back", "mid", "side", "top"):
        src = DATA / cam / f"minimal_{cam}_proofread.slp"
        ds = load_dataset(src, check_videos="ignore")
        if cam != "top":  # these files hold their proofread poses as (scored) predicted instances
            field = "labels" if len(ds.labels) else "predictions"
            table = getattr(ds, field)
            p, st = table.points.copy(), table.state.copy()
            rows = np.flatnonzero(table.frame_idx == FRAME)
            for n in ONE_VIEW_NODES:
                k = ds.skeleton.node_names.index(n)
                p[rows, k], st[rows, k] = np.nan, 0
            ds = dataclasses.replace(ds, **{field: table.with_columns(points=p, state=st)})
        out = tmp / f"{cam}.slp"
        save_dataset(ds, out, overwrite=True)
        lines += [f"[cameras.{cam}]", f'video = "{DATA / cam / f"minimal_{cam}.mp4"}"', f'labels = "{out}"']
    path = tmp / "session.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", required=True)
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"real data not found at {DATA}")
        return 1
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_screenshots import _shrink, start_display

    stop = start_display()
    try:
        import napari
        from qtpy.QtWidgets import QApplication

        tmp = Path(tempfile.mkdtemp(prefix="posetrack_mv_"))
        session = _session_file(tmp)
        viewer = napari.Viewer(show=True, title="napari-posetrack")
        app = QApplication.instance()
        win = viewer.window._qt_window
        docks = {}
        for name in DOCKS:
            dw, docks[name] = viewer.window.add_plugin_dock_widget("napari-posetrack", name, tabify=False)
        win.showNormal()
        win.resize(1366, 768)
        _settle(app, 1.0)
        dock = docks["3D"]
        dock.session_edit.setText(str(session))
        dock.calibration_edit.setText(str(Path(args.calibration).resolve()))
        t0 = time.time()
        dock.triangulate_button.click()
        print(f"triangulated in {time.time() - t0:.1f} s: {dock.status_label.text()}")
        dock._set_frame(FRAME)
        _settle(app, 2.0)
        shot = IMAGES / "multiview_3d_1366x768.png"
        viewer.screenshot(str(shot.with_suffix(".tmp.png")), canvas_only=False)
        _shrink(shot.with_suffix(".tmp.png"), shot, 1366)
        # only the 3D dock from here on, so the camera views get the room
        for name, w in docks.items():
            if name != "3D":
                viewer.window.remove_dock_widget(w)
        win.resize(1366, 768)
        dock.mode_combo.setCurrentText("camera views")
        dock._set_frame(FRAME)
        _settle(app, 3.0)
        print(dock.status_label.text())
        shot = IMAGES / "multiview_camera_views.png"
        viewer.screenshot(str(shot.with_suffix(".tmp.png")), canvas_only=False)
        _shrink(shot.with_suffix(".tmp.png"), shot, 1366)
        dock.suspect_list.setCurrentRow(0)
        viewer.camera.zoom = 1.2 * viewer.camera.zoom
        _settle(app, 3.0)
        print(dock.status_label.text())
        shot = IMAGES / "multiview_suspect.png"
        viewer.screenshot(str(shot.with_suffix(".tmp.png")), canvas_only=False)
        _shrink(shot.with_suffix(".tmp.png"), shot, 1366)
        viewer.close()
    finally:
        stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
