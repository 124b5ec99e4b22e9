"""Skeleton dock: edit nodes/edges/symmetries with labels present; import; save; confirmation."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from conftest import shared_file
from labeling_helpers import Messages, mouse_store
from labeling_helpers import unsaved_dialog_discards  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.gui


def test_edit_skeleton_migrates_labels_and_saves(make_napari_viewer, qtbot, tmp_path):
    from napari_posetrack._napari.labeling_dock import LabelingDock
    from napari_posetrack._napari.skeleton_dock import SkeletonDock
    from napari_posetrack.core.store import ProjectStore

    path, ds = mouse_store(tmp_path, n_labels=10)
    viewer = make_napari_viewer()
    sk_dock = SkeletonDock(viewer)
    lab_dock = LabelingDock(viewer)
    viewer.window.add_dock_widget(sk_dock)
    viewer.window.add_dock_widget(lab_dock)
    sk_dock.notify = msgs = Messages()
    assert "No project" in sk_dock.title.text()
    lab_dock.open_project(path)
    s = lab_dock._session
    assert sk_dock.node_list.count() == 4
    snout = s.dataset.labels.points[:, 0].copy()

    # add a node by typing and clicking, then an edge and a symmetry pair
    sk_dock.name_edit.setText("neck")
    qtbot.mouseClick(sk_dock.add_button, Qt.MouseButton.LeftButton)
    assert s.dataset.skeleton.node_names == ["snout", "leftear", "rightear", "tailbase", "neck"]
    assert s.dataset.labels.n_nodes == 5 and (s.dataset.labels.state[:, 4] == 0).all()
    sk_dock.edge_a.setCurrentText("snout")
    sk_dock.edge_b.setCurrentText("tailbase")
    qtbot.mouseClick(sk_dock.edge_list.parent().findChildren(type(sk_dock.add_button))[0], Qt.MouseButton.LeftButton)
    assert s.dataset.skeleton.edge_names == [("snout", "tailbase")]
    assert len(lab_dock.controller.edges.data) == 1  # the layer follows the skeleton
    sk_dock.sym_a.setCurrentText("leftear")
    sk_dock.sym_b.setCurrentText("rightear")
    sk_dock.add_sym_clicked()
    assert s.dataset.skeleton.symmetry_names == [("leftear", "rightear")]
    # a node can be in one pair only: a clear message, nothing changes
    sk_dock.sym_a.setCurrentText("leftear")
    sk_dock.sym_b.setCurrentText("neck")
    sk_dock._guard(sk_dock.add_sym_clicked)
    assert any("only one symmetry pair" in m for m in msgs.errors())

    # move snout down: labels follow it
    sk_dock.node_list.setCurrentRow(0)
    qtbot.mouseClick(sk_dock.down_button, Qt.MouseButton.LeftButton)
    assert s.dataset.skeleton.node_names[1] == "snout"
    np.testing.assert_array_equal(s.dataset.labels.points[:, 1], snout)
    # rename
    sk_dock.node_list.setCurrentRow(1)
    sk_dock.name_edit.setText("nose")
    sk_dock.rename_clicked()
    assert s.dataset.skeleton.node_names[1] == "nose"

    # deleting a node with data asks first; "no" changes nothing
    asked = []
    sk_dock.confirm = lambda text: asked.append(text) or False
    sk_dock.node_list.setCurrentRow(1)
    sk_dock.delete_node_clicked()
    assert "10 labeled" in asked[0] and "nose" in s.dataset.skeleton.node_names
    sk_dock.confirm = lambda text: True
    sk_dock.delete_node_clicked()
    assert "nose" not in s.dataset.skeleton.node_names and s.dataset.labels.n_nodes == 4
    s.undo()  # undo brings the node and its points back
    np.testing.assert_array_equal(s.dataset.labels.points[:, 1], snout)

    # importing a skeleton that does not match the labels: refused unless confirmed
    sk_dock.confirm = lambda text: asked.append(text) or False
    before = s.dataset.skeleton.copy()
    assert not sk_dock.import_skeleton(shared_file("flies", "two_flies.slp"))
    assert "does not match the labels" in asked[-1] and s.dataset.skeleton == before
    # after renaming back, the DLC config has the labeled node names: labels move to them by name
    sk_dock.node_list.setCurrentRow(1)
    sk_dock.name_edit.setText("snout")
    sk_dock.rename_clicked()
    assert sk_dock.import_skeleton(shared_file("mouse-openfield", "config.yaml"))
    assert s.dataset.skeleton.node_names == ["snout", "leftear", "rightear", "tailbase"]
    np.testing.assert_array_equal(s.dataset.labels.points[:, 0], snout)

    sk_dock.sym_a.setCurrentText("leftear")
    sk_dock.sym_b.setCurrentText("rightear")
    sk_dock.add_sym_clicked()
    assert sk_dock.save()
    s.store.close()
    with ProjectStore.open(path, mode="r") as st:
        assert st.skeleton.node_names == ["snout", "leftear", "rightear", "tailbase"]
        assert st.skeleton.symmetry_names == [("leftear", "rightear")]
        assert st.labels.equals(s.dataset.labels)


def test_load_skeleton_sources(tmp_path):
    from napari_posetrack._napari.skeleton_dock import load_skeleton
    from napari_posetrack.core.errors import FormatError

    fly = load_skeleton(shared_file("flies", "two_flies.slp"))
    assert fly.n_nodes == 13 and len(fly.edges) == 12
    mouse = load_skeleton(shared_file("mouse-openfield", "config.yaml"))
    assert mouse.node_names == ["snout", "leftear", "rightear", "tailbase"]
    with pytest.raises(FormatError, match="No file"):
        load_skeleton(tmp_path / "nothing.slp")
    path, ds = mouse_store(tmp_path, n_labels=2)  # another project
    assert load_skeleton(path) == ds.skeleton


def test_alignment_choice_in_the_dock(make_napari_viewer, qtbot, tmp_path):
    """The anchor/heading pair is shown (proposed from the names), chosen with the combos, undone, kept
    through a rename, refused when both are the same node, and saved with the project."""
    from napari_posetrack._napari.labeling_dock import LabelingDock
    from napari_posetrack._napari.skeleton_dock import SkeletonDock
    from napari_posetrack.core.skeleton import NO_NODE
    from napari_posetrack.core.store import ProjectStore

    path, _ = mouse_store(tmp_path, n_labels=4)
    viewer = make_napari_viewer(show=True)
    sk_dock = SkeletonDock(viewer)
    lab_dock = LabelingDock(viewer)
    viewer.window.add_dock_widget(sk_dock)
    viewer.window.add_dock_widget(lab_dock)
    sk_dock.notify = msgs = Messages()
    lab_dock.open_project(path)
    s = lab_dock._session
    # nothing chosen yet: the names propose tailbase -> snout
    assert sk_dock.anchor_combo.currentText() == "auto (tailbase)"
    assert sk_dock.heading_combo.currentText() == "auto (snout)"
    assert "centred on <b>tailbase</b>" in sk_dock.alignment_label.text()
    assert "tailbase → <b>snout</b> points up" in sk_dock.alignment_label.text()

    def choose(combo, text):
        i = combo.findText(text)
        assert i >= 0, text
        combo.setCurrentIndex(i)
        combo.activated.emit(i)

    choose(sk_dock.heading_combo, "none (no alignment)")
    assert s.dataset.skeleton.heading == NO_NODE
    assert "not turned" in sk_dock.alignment_label.text()
    s.undo()
    assert s.dataset.skeleton.heading == "" and sk_dock.heading_combo.currentText() == "auto (snout)"
    choose(sk_dock.anchor_combo, "leftear")
    assert s.dataset.skeleton.anchor == "leftear" and "anchor set in the skeleton" in sk_dock.alignment_label.text()
    # the same node twice: a clear error, nothing changes, the combo shows the skeleton again
    choose(sk_dock.heading_combo, "leftear")
    assert any("both anchor and heading" in m for m in msgs.errors())
    assert s.dataset.skeleton.heading == "" and sk_dock.heading_combo.currentText() == "auto (snout)"
    # a rename keeps the choice
    sk_dock.node_list.setCurrentRow(1)
    sk_dock.name_edit.setText("ear_l")
    sk_dock.rename_clicked()
    assert s.dataset.skeleton.anchor == "ear_l" and sk_dock.anchor_combo.currentText() == "ear_l"
    assert sk_dock.save()
    s.store.close()
    with ProjectStore.open(path, mode="r") as st:
        assert (st.skeleton.anchor, st.skeleton.heading) == ("ear_l", "")
        assert st.skeleton.alignment()[:2] == ("ear_l", "snout")
