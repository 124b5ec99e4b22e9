"""Drive the proofreading dock like a person: track, next suspect, swap, split, merge, undo, save, reopen."""

from __future__ import annotations

from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

import numpy as np
import pytest
from napari.layers import Points

from conftest import shared_file


@pytest.fixture
def store_path(tmp_path):
    store_mod = pytest.importorskip("napari_posetrack.core.store")
    from napari_posetrack.core.io import load_dataset

    ds = load_dataset(shared_file("proofreading", "centered_pair_predictions.slp"), check_videos="ignore")
    p = ds.predictions.take(ds.predictions.frame_idx < 150)
    ds.predictions = p.with_columns(track_id=np.full(len(p), -1))
    ds.track_names = []
    path = tmp_path / "cp.posetrack.zarr"
    store = store_mod.ProjectStore.create(path, ds.skeleton, ds.videos)
    store.save(ds)
    store.close()
    return path


def _ids_at(dock, frame):
    t = dock.table()
    sel = (t.frame_idx == frame) & (t.track_id >= 0)
    order = np.argsort(t.centroids()[sel, 0])  # left-to-right: a stable way to name the two flies
    return t.track_id[sel][order].tolist()


def test_proofreading_dock_workflow(make_napari_viewer, qtbot, store_path):
    from napari_posetrack._napari.proofreading_dock import ProofreadingDock
    from napari_posetrack._napari.styles import track_rgba
    from napari_posetrack.core.store import ProjectStore

    viewer = make_napari_viewer()
    dock = ProofreadingDock(viewer)
    qtbot.addWidget(dock)
    assert not dock.swap_btn.isEnabled()  # nothing open yet
    dock.open_path(store_path)
    assert dock.session is not None and "1 tracks" not in dock.status.text()

    # track with 2 identities
    dock.max_tracks.setValue(2)
    dock.tracker.setCurrentText("kalman")
    dock.run_tracking()
    qtbot.waitUntil(lambda: dock.session.stack.can_undo, timeout=30000)
    t = dock.table()
    assert set(np.unique(t.track_id[t.track_id >= 0]).tolist()) == {0, 1}
    assert dock.timeline.lanes == [0, 1]
    assert "identities" in viewer.layers and "keypoints" in viewer.layers
    # the instances are drawn once, in the keypoints layer, in their identity colours (those of the trails)
    assert [ly.name for ly in viewer.layers if isinstance(ly, Points)] == ["keypoints"]
    kp = viewer.layers["keypoints"]
    assert dock.shell.labeling_dock().color_combo.currentText() == "track"
    np.testing.assert_allclose(kp.border_color, track_rgba(kp.features["track"].to_numpy()), atol=1e-6)
    assert dock.suspects.count() > 0
    # the track lists show whole names, also in a dock as narrow as napari makes it
    dock.resize(dock.minimumSizeHint().width(), 500)
    dock.show()
    qtbot.waitExposed(dock)
    for combo in (dock.track_a, dock.track_b):
        longest = max((combo.itemText(i) for i in range(combo.count())), key=combo.fontMetrics().horizontalAdvance)
        assert combo.width() >= combo.fontMetrics().horizontalAdvance(longest) + 16, (combo.width(), longest)

    # next suspect jumps the viewer to the ranked frame
    dock.next_btn.click()
    assert dock.current_frame() == int(dock.queue.frames[0, 1])

    # swap from frame 60
    before = _ids_at(dock, 80)
    dock.track_a.setCurrentIndex(dock.track_a.findData(0))
    dock.track_b.setCurrentIndex(dock.track_b.findData(1))
    dock.start.setValue(60)
    dock.swap_btn.click()
    assert _ids_at(dock, 80) == before[::-1] and _ids_at(dock, 10) == _ids_at(dock, 10)

    # split track 0 at 100, then merge it back, then undo the merge
    dock.start.setValue(100)
    dock.split_btn.click()
    assert dock.timeline.lanes == [0, 1, 2]
    dock.track_a.setCurrentIndex(dock.track_a.findData(0))
    dock.track_b.setCurrentIndex(dock.track_b.findData(2))
    dock.merge_btn.click()
    assert dock.timeline.lanes == [0, 1]
    dock.undo_btn.click()
    assert dock.timeline.lanes == [0, 1, 2]
    dock.undo_btn.click()  # undo the split too
    assert dock.timeline.lanes == [0, 1] and _ids_at(dock, 80) == before[::-1]

    # select one instance's points at frame 5 and give it the other identity (the two swap)
    layer = viewer.layers["keypoints"]
    viewer.dims.set_current_step(0, 5)
    t = dock.table()
    row = int(np.flatnonzero((t.frame_idx == 5) & (t.track_id == 0))[0])
    f = layer.features
    mine = (f["instance"].to_numpy() == row) & (f["source"].to_numpy() == 1)
    layer.selected_data = set(np.flatnonzero(mine).tolist())
    assert dock.selected_instances() == [row]
    dock.track_a.setCurrentIndex(dock.track_a.findData(1))
    dock.assign_btn.click()
    assert dock.table().track_id[row] == 1
    dock.undo_btn.click()
    assert dock.table().track_id[row] == 0

    # save and reopen: the swapped identities are in the store
    dock.save_btn.click()
    assert not dock.session.dirty
    saved = dock.table().track_id.copy()
    dock.session.store.close()
    store = ProjectStore.open(store_path, mode="r")
    try:
        np.testing.assert_array_equal(store.predictions.track_id, saved)
    finally:
        store.close()


def test_timeline_click_and_drag_select(make_napari_viewer, qtbot, store_path):
    from qtpy.QtCore import QPoint, Qt

    from napari_posetrack._napari.proofreading_dock import ProofreadingDock
    from napari_posetrack.core.proofread import SetTracks
    from napari_posetrack.core.tracking import track_table

    viewer = make_napari_viewer()
    viewer.add_points(np.zeros((1, 3)))  # gives the viewer a frame axis
    viewer.layers[0].data = np.array([[149, 0, 0]])
    dock = ProofreadingDock(viewer)
    qtbot.addWidget(dock)
    dock.open_path(store_path)
    res = track_table(dock.table(), max_tracks=2)
    dock.push(SetTracks("predictions", res.table.track_id, res.track_names))
    tl = dock.timeline
    tl.resize(400, 80)
    y = int(tl.lane_center(1))
    x0, x1 = int(tl.frame_to_x(20)), int(tl.frame_to_x(40))
    qtbot.mousePress(tl, Qt.MouseButton.LeftButton, pos=QPoint(x0, y))
    qtbot.mouseMove(tl, QPoint(x1, y))
    qtbot.mouseRelease(tl, Qt.MouseButton.LeftButton, pos=QPoint(x1, y))
    track, a, b = tl.selection
    assert track == 1 and abs(a - 20) <= 1 and abs(b - 40) <= 1
    assert dock.track_a.currentData() == 1 and dock.start.value() == a and dock.stop.value() == b
    assert dock.current_frame() == a


def test_edit_on_read_only_store_shows_error(make_napari_viewer, qtbot, store_path):
    from napari_posetrack._napari.proofreading_dock import ProofreadingDock
    from napari_posetrack._napari.session import set_session
    from napari_posetrack.core.session import EditSession
    from napari_posetrack.core.store import ProjectStore

    store = ProjectStore.open(store_path, mode="r")
    viewer = make_napari_viewer()
    dock = ProofreadingDock(viewer)
    qtbot.addWidget(dock)
    set_session(viewer, EditSession.from_store(store))
    dock.start.setValue(3)
    assert dock._split() is False  # no tracks yet: refused with a message, not raised
    assert "Select the track" in dock.status.text()
    dock.stop.setValue(100)
    dock.min_score.setValue(0.9)
    n = len(dock.table())
    assert dock._delete_low() is False  # refused, not raised
    assert "read-only" in dock.status.text() and len(dock.table()) == n
    store.close()


def test_tracks_layer_colours_match_points():
    from napari.components import ViewerModel

    from napari_posetrack._napari.tracks_layer import point_colors, show_tracks, track_colors
    from napari_posetrack.core.posetable import PoseTable

    pts = np.zeros((20, 2, 2), np.float32)
    pts[:, :, 0] = np.arange(20)[:, None]
    t = PoseTable.from_arrays(pts, frame_idx=np.tile(np.arange(10), 2), track_id=np.repeat([1, 3], 10))
    viewer = ViewerModel()
    tracks = show_tracks(viewer, t, tail_length=12)
    assert tracks.tail_length == 12
    pal = track_colors(4)
    np.testing.assert_allclose(tracks.track_colors[0], pal[1], atol=1e-5)  # ids 1 and 3 keep their colours
    np.testing.assert_allclose(tracks.track_colors[-1], pal[3], atol=1e-5)
    # an update keeps the layer and recolours it (ids 0 and 2 now)
    t2 = t.with_columns(track_id=np.repeat([0, 2], 10))
    assert show_tracks(viewer, t2) is tracks
    np.testing.assert_allclose(tracks.track_colors[0], pal[0], atol=1e-5)
    np.testing.assert_allclose(tracks.track_colors[-1], pal[2], atol=1e-5)
    np.testing.assert_allclose(point_colors(np.array([1, 3])), pal[[1, 3]], atol=1e-5)
    np.testing.assert_allclose(point_colors(np.array([-1, 0]))[0], [0.6, 0.6, 0.6, 1.0])
    assert len(np.unique(np.round(track_colors(30), 3), axis=0)) == 30  # distinct colours beyond tab10


def _hue_share(img, rgb_targets, tol_deg=14.0):
    """Share of the clearly coloured pixels of ``img`` whose hue is within ``tol_deg`` of a target."""
    import colorsys

    px = img[..., :3].reshape(-1, 3).astype(np.float64) / 255.0
    mx, mn = px.max(1), px.min(1)
    coloured = px[(mx > 0.25) & ((mx - mn) / np.maximum(mx, 1e-6) > 0.5)]
    if not len(coloured):
        return 0.0
    hue = np.array([colorsys.rgb_to_hsv(*p)[0] for p in coloured[:: max(1, len(coloured) // 4000)]]) * 360
    near = np.zeros(len(hue), bool)
    for c in rgb_targets:
        h = colorsys.rgb_to_hsv(*c[:3])[0] * 360
        d = np.abs(hue - h)
        near |= np.minimum(d, 360 - d) < tol_deg
    return float(near.mean())


def test_identity_colours_are_on_the_canvas_not_hidden(make_napari_viewer, qtbot, store_path, tmp_path):
    """Proofreading shows the instances in their identity colours (once, in the keypoints layer)."""
    import os
    from pathlib import Path

    from napari_posetrack._napari.proofreading_dock import ProofreadingDock
    from napari_posetrack._napari.styles import track_colors
    from napari_posetrack.core.proofread import SetTracks
    from napari_posetrack.core.tracking import TrackerConfig, track_table

    viewer = make_napari_viewer(show=True)
    dock = ProofreadingDock(viewer)
    viewer.window.add_dock_widget(dock, name="Proofreading")
    dock.open_path(store_path)
    res = track_table(dock.table(), TrackerConfig(tracker="simple", max_tracks=2))
    assert dock.push(SetTracks("predictions", res.table.track_id, res.track_names))
    viewer.dims.set_current_step(0, 40)
    kp = viewer.layers["keypoints"]
    viewer.layers["identities"].visible = False  # judge the keypoints alone
    viewer.layers.selection.active = kp
    t = dock.table()
    box = t.points[t.frame_idx == 40].reshape(-1, 2)
    viewer.camera.center = (float(np.nanmean(box[:, 1])), float(np.nanmean(box[:, 0])))
    viewer.camera.zoom = 3.0
    qtbot.wait(100)
    out_dir = Path(os.environ.get("POSETRACK_SCREENSHOT_DIR", tmp_path))
    shot = viewer.screenshot(str(out_dir / "proofreading_identities.png"), canvas_only=True)
    assert shot[..., :3].std() > 5
    ids = np.unique(kp.features["track"])
    assert set(ids.tolist()) == {0, 1}
    by_track = _hue_share(shot, track_colors(2))
    # the same frame coloured by node: the identity hues are no longer what one sees
    dock.shell.labeling_dock().set_color_by("node")
    qtbot.wait(100)
    by_node = _hue_share(viewer.screenshot(canvas_only=True), track_colors(2))
    print(f"identity hue share: by track {by_track:.2f}, by node {by_node:.2f}")
    assert by_track > 0.8 and by_track > by_node + 0.2, (by_track, by_node)
