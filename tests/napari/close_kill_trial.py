"""Close/kill trial for the goal "zero lost edits" (run by hand; not collected by pytest).

    Xvfb :87 -screen 0 1366x768x24 &  DISPLAY=:87 .venv/bin/python tests/napari/close_kill_trial.py 20

Each trial starts napari in a child process with a project open in the Labeling dock, clicks
on the image every 0.25 s (each click adds an instance; the child prints the time of each),
and ends at a random moment: half the trials close the main window from inside (what its X
does), half are killed with SIGKILL from outside. Then the store is reopened and every edit
made more than 2 s before the end must be in it (after a close: every edit).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time
import numpy as np
import napari
from qtpy.QtCore import QTimer
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/.."]
from labeling_helpers import click
from napari_posetrack._napari.labeling_dock import LabelingDock

viewer = napari.Viewer(show=True)
dock = LabelingDock(viewer)
dock.notify = lambda *a, **k: None
viewer.window.add_dock_widget(dock, name="Labeling")
dock.open_project(sys.argv[1])
close_after = float(sys.argv[2])  # <= 0: wait to be killed
c = dock.controller
rng = np.random.default_rng(int(time.time()))
t0 = time.time()
n = [0]
def edit():
    frame = 10 + n[0]
    c.set_frame(frame)
    click(c.points, frame, float(rng.uniform(100, 500)), float(rng.uniform(100, 380)))
    n[0] += 1
    print("edit", n[0], time.time(), flush=True)
    if close_after > 0 and time.time() - t0 >= close_after:
        timer.stop()
        viewer.window._qt_window.close()
        print("closed", time.time(), flush=True)
        napari.Viewer.close_all()
timer = QTimer()
timer.timeout.connect(edit)
timer.start(250)
print("ready", time.time(), flush=True)
napari.run()
"""


def main(n_trials: int = 20) -> int:
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    sys.path.insert(0, str(here))
    from labeling_helpers import mouse_store
    from napari_posetrack.core.store import ProjectStore

    import numpy as np

    rng = np.random.default_rng(12)
    lost_total = made_total = 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        for trial in range(n_trials):
            sub = Path(tmp) / f"t{trial}"
            sub.mkdir()
            path, _ = mouse_store(sub, n_labels=3)
            kill = trial % 2 == 1
            after = float(rng.uniform(1.0, 6.0))
            proc = subprocess.Popen([sys.executable, str(script), str(path), "0" if kill else str(after), str(here)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, OMP_NUM_THREADS="1"))
            edits, ready, end = [], None, None
            while True:
                line = proc.stdout.readline()
                if not line:
                    break
                parts = line.split()
                if not parts:  # a blank line from a library's print
                    continue
                if parts[0] == "ready":
                    ready = float(parts[1])
                elif parts[0] == "edit":
                    edits.append(float(parts[2]))
                    if kill and edits[-1] - ready >= after:
                        end = time.time()
                        os.kill(proc.pid, signal.SIGKILL)
                        break
                elif parts[0] == "closed":
                    end = float(parts[1])
            proc.wait(60)
            if not edits:
                print(proc.stderr.read()[-3000:], flush=True)
                raise SystemExit(f"trial {trial}: the child made no edit (see above)")
            end = end or time.time()
            with ProjectStore.open(path, mode="r") as st:
                on_disk = len(st.labels) - 3
            must = sum(1 for t in edits if t < end - 2.0) if kill else len(edits)
            lost = max(0, must - on_disk)
            lost_total += lost
            made_total += len(edits)
            rows.append((trial, "kill" if kill else "close", len(edits), must, on_disk, lost))
            print(f"trial {trial:2d} {'kill ' if kill else 'close'}: {len(edits)} edits, {must} required, "
                  f"{on_disk} on disk, lost {lost}", flush=True)
    print(f"{n_trials} trials, {made_total} edits, {lost_total} required edits lost")
    return 1 if lost_total else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
