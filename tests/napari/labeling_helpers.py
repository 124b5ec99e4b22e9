"""Helpers for the labeling GUI tests: stores built from the real data, simulated mouse and keys."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from napari.utils._test_utils import read_only_mouse_event
from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

from conftest import shared_file


@pytest.fixture(autouse=True)
def unsaved_dialog_discards(monkeypatch):
    """Import this into a test module: closing a viewer with unsaved edits then answers "discard"
    instead of blocking on the dialog, unless the test sets ``shell.ask_unsaved`` itself."""
    from napari_posetrack._napari import session

    monkeypatch.setattr(session.ViewerShell, "_ask_unsaved_dialog", lambda self, text: session.DISCARD)


def mouse_store(tmp_path, n_labels=None):
    """A project store built from ../shared/data/mouse-openfield (DeepLabCut project)."""
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.store import ProjectStore

    ds = load_dataset(shared_file("mouse-openfield", "config.yaml"))
    if n_labels is not None:
        ds.labels = ds.labels.take(np.arange(n_labels))
    path = tmp_path / "mouse.posetrack.zarr"
    st = ProjectStore.create(path, ds.skeleton, videos=ds.videos)
    st.save(ds)
    st.close()
    return path, ds


def fly_store(tmp_path, copy_video=False, with_labels=True):
    """A project store of two_flies (.slp + .mp4); optionally with its own copy of the video."""
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.store import ProjectStore

    slp = shared_file("flies", "two_flies.slp")
    ds = load_dataset(slp)
    video = shared_file("flies", "two_flies.mp4")
    if copy_video:
        video = shutil.copy(video, tmp_path / "two_flies.mp4")
    path = tmp_path / "flies.posetrack.zarr"
    st = ProjectStore.create(path, ds.skeleton, videos=[str(video)])
    if with_labels:
        st.save(labels=ds.labels, track_names=ds.track_names)
    st.close()
    return path, ds


def click(layer, frame, x, y, modifiers=()):
    """Press and release the left button at image pixel (x, y) of ``frame``."""
    pos = (frame, y, x)
    ev = read_only_mouse_event(type="mouse_press", button=1, position=pos, modifiers=list(modifiers),
                               dims_displayed=[1, 2])
    mouse_press_callbacks(layer, ev)
    ev = read_only_mouse_event(type="mouse_release", button=1, position=pos, modifiers=list(modifiers),
                               dims_displayed=[1, 2])
    mouse_release_callbacks(layer, ev)


def drag(layer, frame, start_xy, end_xy, steps=4):
    """Press at ``start_xy``, move in ``steps`` to ``end_xy`` and release (image pixels)."""
    (x0, y0), (x1, y1) = start_xy, end_xy
    ev = read_only_mouse_event(type="mouse_press", button=1, position=(frame, y0, x0), dims_displayed=[1, 2])
    mouse_press_callbacks(layer, ev)
    for t in np.linspace(0, 1, steps + 1)[1:]:
        pos = (frame, y0 + (y1 - y0) * t, x0 + (x1 - x0) * t)
        ev = read_only_mouse_event(type="mouse_move", is_dragging=True, button=1, position=pos, dims_displayed=[1, 2])
        mouse_move_callbacks(layer, ev)
    ev = read_only_mouse_event(type="mouse_release", button=1, position=(frame, y1, x1), dims_displayed=[1, 2])
    mouse_release_callbacks(layer, ev)


def press(viewer, key):
    """Press a key on the canvas the way napari dispatches it (active layer first, then viewer)."""
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    handler.press_key(key)
    handler.release_key(key)


class Messages(list):
    """Collects (level, text) notifications from a dock."""

    def __call__(self, text, level="info"):
        self.append((level, str(text)))

    def errors(self):
        return [t for lvl, t in self if lvl == "error"]
