"""Screenshot of a label corrected in the 3D dock's camera views, on the real 4-camera session (1366x768).

    .venv/bin/python scripts/multiview_edit_screenshot.py --calibration CALIBRATION.toml

Needs ``../shared/data/multiview`` and a calibration of it (``posetrack calibrate
../shared/data/multiview --out CALIBRATION.toml``). The four labels files are copied to a
temporary folder first (the edit is saved beside them, never into the shared data); the worst
reprojection suspect is chosen in the list and its label dragged with the mouse onto the ring
where the other three cameras put it. Writes ``docs/images/multiview_edit.png`` and prints how
long the edit took (saving and updating the other views).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multiview"
IMAGES = ROOT / "docs" / "images"


def _settle(app, seconds: float = 1.0) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def _session_file(tmp: Path) -> Path:
    lines = ['name = "minimal_session (labels copied)"']
    for cam in ("back", "mid", "side", "top"):
        out = tmp / cam / f"minimal_{cam}_proofread.slp"
        out.parent.mkdir(parents=True)
        shutil.copy(DATA / cam / f"minimal_{cam}_proofread.slp", out)
        lines += [f"[cameras.{cam}]", f'video = "{DATA / cam / f"minimal_{cam}.mp4"}"', f'labels = "{out}"']
    path = tmp / "session.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _drag(layer, position_from, position_to, steps: int = 5) -> None:
    """Press, move and release the left button on ``layer`` (world positions (frame, y, x))."""
    import numpy as np
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    a, b = np.asarray(position_from, float), np.asarray(position_to, float)
    mouse_press_callbacks(layer, read_only_mouse_event(type="mouse_press", button=1, position=tuple(a),
                                                       dims_displayed=[1, 2]))
    for t in np.linspace(0, 1, steps + 1)[1:]:
        mouse_move_callbacks(layer, read_only_mouse_event(type="mouse_move", is_dragging=True, button=1,
                                                          position=tuple(a + (b - a) * t), dims_displayed=[1, 2]))
    mouse_release_callbacks(layer, read_only_mouse_event(type="mouse_release", button=1, position=tuple(b),
                                                         dims_displayed=[1, 2]))


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
        import numpy as np
        from qtpy.QtWidgets import QApplication

        from napari_posetrack._napari.multiview_dock import VIEW_LAYER_NAMES

        tmp = Path(tempfile.mkdtemp(prefix="posetrack_mv_edit_"))
        session = _session_file(tmp)
        viewer = napari.Viewer(show=True, title="napari-posetrack")
        app = QApplication.instance()
        win = viewer.window._qt_window
        _, dock = viewer.window.add_plugin_dock_widget("napari-posetrack", "3D", tabify=False)
        dock.notify = lambda text, level="info": print(f"[{level}] {text}")
        win.showNormal()
        win.resize(1366, 768)
        _settle(app, 1.0)
        dock.session_edit.setText(str(session))
        dock.calibration_edit.setText(str(Path(args.calibration).resolve()))
        dock.mode_combo.setCurrentText("camera views")
        t0 = time.time()
        dock.triangulate_button.click()
        print(f"triangulated in {time.time() - t0:.1f} s: {dock.status_label.text()}")
        n_suspects = dock.suspect_list.count()
        row = dock.suspect_rows[0]
        dock.suspect_list.setCurrentRow(0)
        _settle(app, 1.0)
        labels, reproj = viewer.layers[VIEW_LAYER_NAMES[0]], viewer.layers[VIEW_LAYER_NAMES[1]]
        t = int(viewer.dims.point[0])

        def at(layer):
            f = layer.features
            hit = np.flatnonzero((f["camera"] == row["camera"]) & (f["node"] == row["node"])
                                 & (layer.data[:, 0] == t))
            return layer.data[hit[0]].copy()

        src, dst = at(labels), at(reproj)
        t0 = time.time()
        _drag(labels, src, dst)
        took = time.time() - t0
        viewer.camera.center = tuple(dst[1:])
        viewer.camera.zoom = 0.45  # the whole camera picture around the label, with its neighbours' edges
        _settle(app, 3.0)
        print(f"moved {row['camera']} frame {row['frame']} {row['node']} ({row['error_px']:.1f} px off) onto its "
              f"ring in {took:.2f} s (save + predictions + 3D of that frame + redraw); suspects {n_suspects} -> "
              f"{dock.suspect_list.count()}")
        print(dock.status_label.text())
        shot = IMAGES / "multiview_edit.png"
        viewer.screenshot(str(shot.with_suffix(".tmp.png")), canvas_only=False)
        _shrink(shot.with_suffix(".tmp.png"), shot, 1366)
        store = tmp / row["camera"] / f"minimal_{row['camera']}_proofread.posetrack.zarr"
        print(f"edits store: {store} exists={store.is_dir()}")
        dock.shutdown()
        viewer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
