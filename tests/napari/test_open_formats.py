"""Every format we import opens from napari's File > Open and by drag-and-drop, as editable
layers of one project session with the video or images behind."""

from __future__ import annotations

import pytest

from conftest import shared_file
from labeling_helpers import Messages
from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.gui

# (path under shared/data, labelled instances, frames of the image layer)
FILES = [
    (("flies", "two_flies.slp"), None, None),
    (("fixtures", "minimal_instance.pkg.slp"), None, None),
    (("mouse-openfield", "config.yaml"), 116, 116),
    (("mouse-openfield", "labeled-data", "m4s1", "CollectedData_Pranav.csv"), 116, 116),
    (("mouse-openfield", "labeled-data", "m4s1", "CollectedData_Pranav.h5"), 116, 116),
    (("fixtures", "dlc", "madlc_230_config.yaml"), None, 4),
]
FOLDERS = [
    (("mouse-openfield", "labeled-data", "m4s1"), 116, 116),
    (("fixtures", "dlc", "labeled-data", "video"), None, 4),
]


def _claimed_by(path) -> list[str]:
    import npe2

    pm = npe2.PluginManager.instance()
    return [r.plugin_name for r in pm.iter_compatible_readers([str(path)])]


def _reader_napari_uses(path) -> str:
    """Our plugin alone claims the file, or napari's preferred reader for it is ours: no
    "Choose reader" dialog."""
    from napari.plugins.utils import get_preferred_reader

    claimed = _claimed_by(path)
    assert "napari-posetrack" in claimed, path
    return claimed[0] if len(claimed) == 1 else get_preferred_reader(path)


def _check_opened(viewer, path, n_labels, n_frames):
    from napari_posetrack._napari.session import get_session
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack._napari.reader import poses_source

    session = get_session(viewer)
    assert session is not None, path
    n_want = n_labels or len(load_dataset(poses_source(path), check_videos="ignore").labels)
    assert len(session.dataset.labels) == n_want > 0
    names = [layer.name for layer in viewer.layers]
    assert names[-2:] == ["skeleton", "keypoints"] and len(names) == 3, names  # one copy each, no stale layers
    image = viewer.layers[0]
    assert type(image).__name__ == "Image"
    if n_frames:
        assert image.data.shape[0] == n_frames
    lab = [d for d in viewer.window._dock_widgets.values() if d.widget().__class__.__name__ == "LabelingDock"]
    assert len(lab) == 1  # the shell opened the Labeling dock once
    return session


def test_file_open_and_drop_each_format(make_napari_viewer, qtbot, monkeypatch):
    from napari._qt.qt_viewer import QtViewer
    from qtpy.QtCore import QUrl

    viewer = make_napari_viewer(show=True)
    from napari_posetrack._napari.session import shell_for

    shell = shell_for(viewer)
    shell.notify = Messages()
    file_menu = viewer.window.file_menu
    open_action = next(a for a in file_menu.actions() if a.text().startswith("Open File"))
    chosen = []
    monkeypatch.setattr(QtViewer, "_open_file_dialog_uni", lambda self, caption: chosen[-1:])
    opened = []
    for parts, n_labels, n_frames in FILES:
        path = shared_file(*parts)
        assert _reader_napari_uses(path) == "napari-posetrack", path  # no "Choose reader" dialog
        chosen.append(str(path))
        open_action.trigger()  # File > Open File(s)...
        s1 = _check_opened(viewer, path, n_labels, n_frames)
        if path.suffix in (".slp", ".csv"):  # drag and drop of the same file: napari's drop handler
            viewer.window._qt_viewer._open_from_list_of_urls_data([QUrl.fromLocalFile(str(path))], stack=False,
                                                                 choose_plugin=False)
            s2 = _check_opened(viewer, path, n_labels, n_frames)
            assert s2 is not s1 and not s2.dirty
        opened.append(path.name)
    for parts, n_labels, n_frames in FOLDERS:  # folders: napari's image reader claims them too
        path = shared_file(*parts)
        assert "napari-posetrack" in _claimed_by(path)
        if "labeled-data" in parts:
            assert _reader_napari_uses(path) == "napari-posetrack"
            viewer.window._qt_viewer._qt_open([str(path)], stack=False)  # what File > Open Folder does
        else:
            viewer.open(str(path), plugin="napari-posetrack")
        _check_opened(viewer, path, n_labels, n_frames)
        opened.append(path.name + "/")
    assert len(opened) == len(FILES) + len(FOLDERS)
    assert not [m for lvl, m in shell.notify if lvl == "error"]


def test_manifest_claims_only_our_files(tmp_path):
    for name in ("notes.txt", "table.csv", "data.h5", "image.tif", "settings.json"):
        (tmp_path / name).write_text("x")
        assert "napari-posetrack" not in _claimed_by(tmp_path / name), name


def _faststart_clip(path, n=40, size=(48, 64)):
    import av
    import numpy as np

    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=10)
        s.height, s.width = size
        s.pix_fmt = "yuv420p"
        for i in range(n):
            img = np.random.default_rng(i).integers(0, 255, size + (3,), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_truncated_video_warns(make_napari_viewer, tmp_path, monkeypatch):
    import napari.utils.notifications as notes

    video = _faststart_clip(tmp_path / "cut.mp4")
    data = video.read_bytes()
    video.write_bytes(data[: int(len(data) * 0.55)])  # a download cut short: the header still says 40
    warnings = []
    monkeypatch.setattr(notes, "show_warning", lambda text: warnings.append(text))
    viewer = make_napari_viewer()
    viewer.open(str(video), plugin="napari-posetrack")
    n = viewer.layers[0].data.shape[0]
    assert 0 < n < 40
    assert any("truncated" in w and f"{n} of the 40" in w for w in warnings), warnings


def test_slp_whose_video_never_existed_says_not_found(make_napari_viewer, tmp_path):
    import shutil

    from napari_posetrack._napari.labeling_dock import LabelingDock
    from napari_posetrack._napari.session import shell_for

    slp = tmp_path / "two_flies.slp"
    shutil.copy(shared_file("flies", "two_flies.slp"), slp)  # without its video
    viewer = make_napari_viewer()
    lab = LabelingDock(viewer)
    lab.notify = Messages()
    viewer.window.add_dock_widget(lab, name="Labeling")
    shell = shell_for(viewer)
    shell.notify = lab.notify
    shell.open(slp)
    texts = " ".join(m for _, m in lab.notify)
    assert "not there" in texts or "not found" in texts
    assert "moved or deleted" not in texts
    lab.controller.set_frame(3)  # stepping frames does not claim the video vanished while open
    assert "moved or deleted" not in " ".join(m for _, m in lab.notify)
    assert len(lab.controller.session.dataset.labels) > 0


def test_proofreading_open_picks_a_store_folder(make_napari_viewer, qtbot, tmp_path):
    from labeling_helpers import mouse_store
    from napari_posetrack._napari.proofreading_dock import ProofreadingDock

    path, ds = mouse_store(tmp_path, n_labels=5)
    viewer = make_napari_viewer()
    dock = ProofreadingDock(viewer)
    viewer.window.add_dock_widget(dock, name="Proofreading")
    asked = []
    dock.ask_open_path = lambda kind: asked.append(kind) or (str(path) if kind == "store" else None)
    assert dock.open_btn.menu() is not None
    dock.open_store_action.trigger()  # Open… > Project store (folder)
    assert asked == ["store"] and dock.session is not None and dock.session.store is not None
    assert len(dock.session.dataset.labels) == 5 and "mouse.posetrack.zarr" in dock.status.text()
    dock.session.store.close()
