"""``posetrack demo`` in napari: the demo pipeline, then a viewer on its project with the docks.

:func:`demo` is ``api.demo`` and what ``posetrack demo`` runs; the pipeline itself (clip, training,
predictions, tracks, metrics, store) is :func:`napari_posetrack.workflows.demo.run_pipeline`, which
needs no GUI. napari is imported only when a viewer opens.
"""

from __future__ import annotations

import sys

from ..workflows import demo as _wf

#: docks the demo opens, by display name (napari.yaml)
DEMO_DOCKS = ("Labeling", "Training", "Inference", "Proofreading", "Plots and export")


def populate_viewer(viewer, summary: dict) -> list[str]:
    """Open the demo project (video, labels, predictions, tracks) and the docks in ``viewer``.

    Returns the names of the docks that opened (a dock that fails is reported, not fatal).
    """
    viewer.open(str(summary["store"]), plugin="napari-posetrack")
    opened = []
    for name in DEMO_DOCKS:
        try:
            viewer.window.add_plugin_dock_widget("napari-posetrack", name, tabify=bool(opened))
            opened.append(name)
        except Exception as exc:  # noqa: BLE001 - a missing dock must not stop the demo
            print(f"[demo] could not open the {name} dock: {exc}", file=sys.stderr)
    return opened


def _open_napari(summary: dict) -> None:
    napari = _wf.require("napari", "napari (the GUI)")
    viewer = napari.Viewer(title="napari-posetrack demo")
    populate_viewer(viewer, summary)
    napari.run()


def demo(out="posetrack-demo", *, minutes: float = 1.0, n_frames: int = 150, seed: int = 0, gui: bool = True,
         min_map: float = _wf.DEFAULT_MIN_MAP, min_idf1: float = _wf.DEFAULT_MIN_IDF1, overwrite: bool = False,
         quiet: bool = False) -> dict:
    """Run the demo; returns the summary of :func:`run_pipeline` plus ``passed`` (metrics above thresholds)."""
    summary = _wf.run_pipeline(out, minutes=minutes, n_frames=n_frames, seed=seed, overwrite=overwrite, quiet=quiet)
    m = summary["metrics"]
    summary["passed"] = bool(m["map"] >= min_map and m["idf1"] >= min_idf1)
    if gui:
        _open_napari(summary)
    return summary
