"""Skeleton dock: nodes, edges, symmetry pairs; import; every edit migrates labels (undoable)."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (
    QComboBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QMessageBox,
    QPushButton, QVBoxLayout,
)

from ..core.errors import FormatError, PoseTrackError, SkeletonMismatchError
from ..core.labeling import (
    add_edge, add_node, add_symmetry, delete_edge, delete_node, delete_symmetry, move_node, node_has_data,
    rename_node, replace_skeleton, set_alignment,
)
from ..core.skeleton import NO_NODE, Skeleton
from .dock import PoseDock

__all__ = ["SkeletonDock", "load_skeleton"]


def load_skeleton(path) -> Skeleton:
    """Skeleton from a ``.slp`` file, a DeepLabCut ``config.yaml``, a posetrack project, or any
    file ``core.io.load_dataset`` reads."""
    p = Path(path)
    if not p.exists():
        raise FormatError(f"No file or folder at {p}.", path=p, hint="Pick an existing .slp, config.yaml or project.")
    if p.suffix in (".yaml", ".yml") or (p.is_dir() and (p / "config.yaml").exists()):
        import yaml

        cfg = yaml.safe_load((p / "config.yaml" if p.is_dir() else p).read_text())
        names = list(cfg.get("multianimalbodyparts") or cfg.get("bodyparts") or [])
        names += [n for n in (cfg.get("uniquebodyparts") or []) if n not in names]
        if not names or names == ["MULTI!"]:
            raise FormatError(f"{p} lists no body parts.", path=p, hint="Fill in bodyparts in the DeepLabCut config.")
        edges = [(a, b) for a, b in (cfg.get("skeleton") or []) if a in names and b in names]
        return Skeleton.from_names(names, edges, name=str(cfg.get("Task") or "skeleton"))
    if p.suffix == ".slp":
        import sleap_io as sio

        sk = sio.load_slp(str(p)).skeletons[0]
        names = [n.name for n in sk.nodes]
        syms = []
        for s in getattr(sk, "symmetries", []):
            pair = tuple(n.name for n in s.nodes)
            if len(pair) == 2 and tuple(sorted(pair)) not in [tuple(sorted(x)) for x in syms]:
                syms.append(pair)
        edges = [(e.source.name, e.destination.name) for e in sk.edges]
        return Skeleton.from_names(names, edges, syms, name=sk.name or "skeleton")
    try:
        from ..core.store import ProjectStore

        with ProjectStore.open(p, mode="r") as store:
            return store.skeleton
    except PoseTrackError:
        from ..core.io import load_dataset

        return load_dataset(p).skeleton


def _narrow_combo() -> QComboBox:
    """A node combo box as narrow as a short node name: long names and "auto (...)" entries are elided
    in the box (the open list shows them whole), so the dock fits a 1366-px screen without scrolling sideways."""
    c = QComboBox()
    c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    c.setMinimumContentsLength(7)
    return c


class SkeletonDock(PoseDock):
    """Edit the skeleton of the viewer's session.

    ``confirm(text) -> bool`` asks before an edit drops labeled points (tests replace it);
    ``ask_import_path()`` picks the file to import from.
    """

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self.confirm = lambda text: (QMessageBox.question(self, "Drop labeled points?", text)
                                     == QMessageBox.StandardButton.Yes)
        self.ask_import_path = lambda: QFileDialog.getOpenFileName(
            self, "Import skeleton", "", "Skeletons (*.slp *.yaml *.yml *.zarr);;All files (*)")[0]
        self._session = None
        self._build()
        self.shell.connect(self, session=self._on_session, change=lambda action, cmd: self.refresh())
        self._on_session(self.shell.session)

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        lay = self.body_layout
        self.title = QLabel("No project open: open or create one in the Labeling dock.")
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        nodes = QGroupBox("Nodes")
        nl = QVBoxLayout(nodes)
        self.node_list = QListWidget()
        nl.addWidget(self.node_list)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("node name")
        self.name_edit.returnPressed.connect(lambda: self._guard(self.add_node_clicked))
        nl.addWidget(self.name_edit)
        # two rows of buttons: five in one row are wider than the dock on a 1366-px screen
        grid = QGridLayout()
        self.add_button = QPushButton("Add")
        self.rename_button = QPushButton("Rename")
        self.up_button = QPushButton("Up")
        self.down_button = QPushButton("Down")
        self.delete_button = QPushButton("Delete")
        for i, (b, fn) in enumerate(((self.add_button, self.add_node_clicked),
                                     (self.rename_button, self.rename_clicked),
                                     (self.delete_button, self.delete_node_clicked),
                                     (self.up_button, lambda: self.move_clicked(-1)),
                                     (self.down_button, lambda: self.move_clicked(1)))):
            b.clicked.connect(lambda _=False, fn=fn: self._guard(fn))
            grid.addWidget(b, i // 3, i % 3)
        nl.addLayout(grid)
        lay.addWidget(nodes)
        self.edge_list, self.edge_a, self.edge_b = self._pair_box(lay, "Edges", self.add_edge_clicked,
                                                                  self.delete_edge_clicked)
        self.sym_list, self.sym_a, self.sym_b = self._pair_box(lay, "Symmetry pairs (left / right)",
                                                               self.add_sym_clicked, self.delete_sym_clicked)
        self._alignment_box(lay)
        row = QHBoxLayout()
        self.import_button = QPushButton("Import skeleton…")
        self.import_button.clicked.connect(lambda: self._guard(self.import_clicked))
        self.save_button = QPushButton("Save to project")
        self.save_button.clicked.connect(lambda: self._guard(self.save))
        row.addWidget(self.import_button)
        row.addWidget(self.save_button)
        lay.addLayout(row)
        lay.addStretch(1)

    def _pair_box(self, lay, title, add_fn, del_fn):
        box = QGroupBox(title)
        bl = QVBoxLayout(box)
        lst = QListWidget()
        lst.setMaximumHeight(100)
        bl.addWidget(lst)
        row = QHBoxLayout()
        a, b = _narrow_combo(), _narrow_combo()
        add, rm = QPushButton("Add"), QPushButton("Delete")
        add.clicked.connect(lambda: self._guard(add_fn))
        rm.clicked.connect(lambda: self._guard(del_fn))
        for w in (a, QLabel("–"), b, add, rm):
            row.addWidget(w)
        bl.addLayout(row)
        lay.addWidget(box)
        return lst, a, b

    def _alignment_box(self, lay) -> None:
        """Top-down alignment: the anchor node crops are centred on and the heading node that points up."""
        box = QGroupBox("Top-down alignment (anchor → heading)")
        bl = QVBoxLayout(box)
        row = QHBoxLayout()
        self.anchor_combo, self.heading_combo = _narrow_combo(), _narrow_combo()
        for w in (QLabel("Anchor"), self.anchor_combo, QLabel("Heading"), self.heading_combo):
            row.addWidget(w)
        bl.addLayout(row)
        self.alignment_label = QLabel("")
        self.alignment_label.setWordWrap(True)
        bl.addWidget(self.alignment_label)
        self.anchor_combo.activated.connect(lambda _=0: self._guard(self.alignment_changed))
        self.heading_combo.activated.connect(lambda _=0: self._guard(self.alignment_changed))
        lay.addWidget(box)

    def _fill_alignment(self, sk: Skeleton) -> None:
        from ..core.skeleton import propose_anchor_heading

        anchor, heading, why = propose_anchor_heading(sk.node_names)
        for combo, proposed, current, none_text in (
                (self.anchor_combo, anchor, sk.anchor, "none (box centre)"),
                (self.heading_combo, heading, sk.heading, "none (no alignment)")):
            combo.clear()
            combo.addItem(f"auto ({proposed or 'none'})", "")
            combo.addItem(none_text, NO_NODE)
            for n in sk.node_names:
                combo.addItem(n, n)
            combo.setCurrentIndex(max(0, combo.findData(current)))
        a, h, reason = sk.alignment()
        self.alignment_label.setText(
            f"Top-down crops are centred on <b>{a or 'the bounding-box centre'}</b>" +
            (f" and turned so that {a} → <b>{h}</b> points up" if h else ", not turned (no heading node)") +
            f" ({reason}).")

    def alignment_changed(self) -> None:
        sk = self._need_session()
        anchor, heading = self.anchor_combo.currentData(), self.heading_combo.currentData()
        if (anchor, heading) != (sk.anchor, sk.heading):
            try:
                cmd = set_alignment(sk, anchor, heading)
            except SkeletonMismatchError:
                self.refresh()  # put the combos back before the error is shown
                raise
            self._push(cmd)

    # ------------------------------------------------------------------ session
    def _on_session(self, session) -> None:
        self._session = session
        self.refresh()

    @property
    def skeleton(self) -> Skeleton | None:
        return None if self._session is None else self._session.dataset.skeleton

    def refresh(self) -> None:
        sk = self.skeleton
        rows = self.node_list.currentRow()
        for w in (self.node_list, self.edge_list, self.sym_list, self.edge_a, self.edge_b, self.sym_a, self.sym_b,
                  self.anchor_combo, self.heading_combo):
            w.clear()
        if sk is None:
            self.title.setText("No project open: open or create one in the Labeling dock.")
            self.alignment_label.setText("")
            return
        self._fill_alignment(sk)
        self.title.setText(f"Skeleton <b>{sk.name}</b>: {sk.n_nodes} nodes, {len(sk.edges)} edges, "
                           f"{len(sk.symmetries)} symmetry pairs")
        self.node_list.addItems([f"{i + 1}. {n}" for i, n in enumerate(sk.node_names)])
        for combo in (self.edge_a, self.edge_b, self.sym_a, self.sym_b):
            combo.addItems(sk.node_names)
        self.edge_list.addItems([f"{a} → {b}" for a, b in sk.edge_names])
        self.sym_list.addItems([f"{a} ↔ {b}" for a, b in sk.symmetry_names])
        if 0 <= rows < sk.n_nodes:
            self.node_list.setCurrentRow(rows)

    def _push(self, cmd) -> bool:
        s = self._session
        if s is None:
            self.notify("Open or create a project in the Labeling dock first.", "error")
            return False
        if s.store is not None and getattr(s.store, "read_only", False):
            self.notify("This project is open read-only; the skeleton cannot be changed.", "error")
            return False
        s.push(cmd)
        return True

    def _need_session(self) -> Skeleton:
        if self.skeleton is None:
            raise SkeletonMismatchError("No project is open.", hint="Open or create one in the Labeling dock first.")
        return self.skeleton

    def _current(self) -> int:
        i = self.node_list.currentRow()
        if i < 0:
            raise SkeletonMismatchError("No node selected.", hint="Click a node in the list first.")
        return i

    # ------------------------------------------------------------------ actions
    def add_node_clicked(self) -> None:
        sk = self._need_session()
        name = self.name_edit.text().strip()
        if not name:
            raise SkeletonMismatchError("Type a node name first.")
        if self._push(add_node(sk, name)):
            self.name_edit.clear()
            self.node_list.setCurrentRow(self.skeleton.n_nodes - 1)

    def rename_clicked(self) -> None:
        sk = self._need_session()
        name = self.name_edit.text().strip()
        if name:
            self._push(rename_node(sk, self._current(), name))

    def move_clicked(self, step: int) -> None:
        sk = self._need_session()
        i = self._current()
        j = max(0, min(sk.n_nodes - 1, i + step))
        if j != i and self._push(move_node(sk, i, j)):
            self.node_list.setCurrentRow(j)

    def delete_node_clicked(self) -> None:
        sk = self._need_session()
        i = self._current()
        n = node_has_data(self._session.dataset, i)
        if n and not self.confirm(f"Node {sk.node_names[i]!r} has {n} labeled or predicted point(s). "
                                  f"Delete it and its points? (Undo with Ctrl+Z.)"):
            return
        self._push(delete_node(sk, i))

    def _pair_clicked(self, make, a, b) -> None:
        self._push(make(self._need_session(), a.currentIndex(), b.currentIndex()))

    def _delete_row(self, make, listing, items: str) -> None:
        sk = self._need_session()
        i = listing.currentRow()
        if 0 <= i < len(getattr(sk, items)):
            self._push(make(sk, i))

    def add_edge_clicked(self) -> None:
        self._pair_clicked(add_edge, self.edge_a, self.edge_b)

    def delete_edge_clicked(self) -> None:
        self._delete_row(delete_edge, self.edge_list, "edges")

    def add_sym_clicked(self) -> None:
        self._pair_clicked(add_symmetry, self.sym_a, self.sym_b)

    def delete_sym_clicked(self) -> None:
        self._delete_row(delete_symmetry, self.sym_list, "symmetries")

    def import_clicked(self) -> None:
        path = self.ask_import_path()
        if path:
            self.import_skeleton(path)

    def import_skeleton(self, path) -> bool:
        """Use the skeleton of ``path``; labels move to the nodes of the same name."""
        self._need_session()
        new = load_skeleton(path)
        ds = self._session.dataset
        try:
            cmd = replace_skeleton(ds, new)
        except SkeletonMismatchError as exc:
            if not self.confirm(f"{exc}\n\nDrop those points and use the new skeleton?"):
                return False
            cmd = replace_skeleton(ds, new, allow_drop=True)
        return self._push(cmd)

    def save(self) -> bool:
        s = self._session
        if s is None or s.store is None:
            self.notify("No project store to save into.", "error")
            return False
        return s.save()
