"""Screenshot of the 3D dock alone on the real 4-camera session (1366x768): ``docs/images/multiview_dock.png``.

    .venv/bin/python scripts/multiview_dock_screenshot.py --calibration CALIBRATION.toml

Needs ``../shared/data/multiview`` and a calibration of it (``posetrack calibrate
../shared/data/multiview --out CALIBRATION.toml``). The session is triangulated as it is (read
only) and shown in napari's 3D view at frame 60.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multiview"
IMAGES = ROOT / "docs" / "images"
FRAME = 60


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", required=True)
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"real data not found at {DATA}")
        return 1
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_screenshots import _shrink, start_display
    from multiview_screenshots import _settle

    stop = start_display()
    try:
        import napari
        from qtpy.QtWidgets import QApplication

        viewer = napari.Viewer(show=True, title="napari-posetrack")
        app = QApplication.instance()
        win = viewer.window._qt_window
        _, dock = viewer.window.add_plugin_dock_widget("napari-posetrack", "3D", tabify=False)
        win.showNormal()
        win.resize(1366, 768)
        dock.session_edit.setText(str(DATA))
        dock.calibration_edit.setText(str(Path(args.calibration).resolve()))
        t0 = time.time()
        dock.triangulate_button.click()
        print(f"triangulated in {time.time() - t0:.1f} s: {dock.status_label.text()}")
        dock._set_frame(FRAME)
        _settle(app, 3.0)
        shot = IMAGES / "multiview_dock.png"
        viewer.screenshot(str(shot.with_suffix(".tmp.png")), canvas_only=False)
        _shrink(shot.with_suffix(".tmp.png"), shot, 1366)
        dock.shutdown()
        viewer.close()
    finally:
        stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
