"""The files side of the viewer's shell: where a session opened from a file saves, which reader
napari prefers for our files, and the two questions the shell asks (unsaved edits, where to save).

Split out of :mod:`napari_posetrack._napari.session` (same behaviour).
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["store_target_for", "PREFERRED_PATTERNS", "prefer_our_reader", "ask_unsaved_box", "ask_store_path",
           "SAVE", "DISCARD", "CANCEL"]

log = logging.getLogger(__name__)

#: answers of :attr:`~napari_posetrack._napari.session.ViewerShell.ask_unsaved`
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def store_target_for(source) -> Path:
    """The new project store beside ``source`` where a session opened from it is saved.

    ``flies/two_flies.slp`` -> ``flies/two_flies.posetrack.zarr``; a DeepLabCut
    ``config.yaml`` -> ``<project>/<project>.posetrack.zarr``; a folder -> inside its parent.
    An existing name gets ``-2``, ``-3``... so nothing is ever overwritten.
    """
    p = Path(source)
    name = p.name
    for suffix in (".pkg.slp", ".slp", ".yaml", ".yml", ".csv", ".h5", ".nwb", ".json", ".nc"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    if p.name.lower() in ("config.yaml", "config.yml"):
        folder, name = p.parent, p.parent.name
    elif p.is_dir():
        folder = p.parent
    else:
        folder = p.parent
    target = folder / f"{name}.posetrack.zarr"
    i = 2
    while target.exists():
        target = folder / f"{name}-{i}.posetrack.zarr"
        i += 1
    return target


#: files that napari's own readers also claim (``*.csv``, ``*.h5``, folders, ``*.zarr``): napari
#: would ask "Choose reader" for them, so the plugin records itself as their preferred reader.
PREFERRED_PATTERNS = ("*CollectedData_*.csv", "*CollectedData_*.h5", "*.posetrack.zarr", "*.posetrack.zarr/",
                      "*/labeled-data/*/")


def prefer_our_reader() -> None:
    """Make napari-posetrack napari's preferred reader for :data:`PREFERRED_PATTERNS` (a user's own
    choice for a pattern is kept)."""
    try:
        from napari.settings import get_settings

        plugins = get_settings().plugins
        prefs = dict(plugins.extension2reader)
        missing = {p: "napari-posetrack" for p in PREFERRED_PATTERNS if p not in prefs}
        if missing:
            plugins.extension2reader = {**prefs, **missing}
    except Exception:  # noqa: BLE001 - settings are a convenience, never a failure
        log.debug("could not record the preferred reader", exc_info=True)


def ask_unsaved_box(parent, text: str) -> str:
        """Ask Save / Discard / Cancel in a modal message box; returns "save", "discard" or "cancel"."""
        from qtpy.QtWidgets import QMessageBox

        box = QMessageBox(parent)
        box.setWindowTitle("napari-posetrack: unsaved edits")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(text)
        save = box.addButton("Save", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(save)
        box.exec()
        clicked = box.clickedButton()
        return SAVE if clicked is save else DISCARD if clicked is discard else CANCEL if clicked is cancel else CANCEL

def ask_store_path(parent, suggested: str):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(parent, "Create a project store", suggested,
                                              "posetrack project (*.posetrack.zarr)")
        return path or None
