"""Labeling dock: open/create a project, label with keys and clicks, suggestions, QC, progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget,
)

from ..core.errors import PoseTrackError
from ..core.labeling import SetSuggestions, labeling_progress
from .autosave import Autosaver
from .keybindings import install_keybindings, keys_html
from .labeling_layers import LabelingLayers
from .notify import notify as _notify
from .session import get_session, on_session, set_session

__all__ = ["LabelingDock"]


class LabelingDock(QWidget):
    """Dock that turns the viewer's :class:`EditSession` into an editable labeling view.

    Attributes that tests (or scripts) may replace: ``ask_open_path()`` and
    ``ask_new_project()`` (file dialogs), ``notify(message, level)``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.controller: LabelingLayers | None = None
        self.autosaver: Autosaver | None = None
        self.image_layer = None
        self._own_image = False
        self._session = None
        self._worker = None
        self.notify = _notify
        self.ask_open_path = lambda: QFileDialog.getExistingDirectory(self, "Open a posetrack project")
        self.ask_new_project = self._dialog_new_project
        self._build()
        on_session(napari_viewer, self._on_session)
        napari_viewer.layers.events.inserted.connect(self._on_layer_inserted)
        napari_viewer.layers.events.removed.connect(self._on_layer_removed)
        if get_session(napari_viewer) is not None:
            self._on_session(get_session(napari_viewer))
        else:
            for layer in list(napari_viewer.layers):
                if self._adopt_layer(layer):
                    break

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open project…")
        self.new_button = QPushButton("New project…")
        self.open_button.clicked.connect(lambda: self._guard(self._open_clicked))
        self.new_button.clicked.connect(lambda: self._guard(self._new_clicked))
        row.addWidget(self.open_button)
        row.addWidget(self.new_button)
        lay.addLayout(row)
        self.project_label = QLabel("No project open.")
        self.project_label.setWordWrap(True)
        lay.addWidget(self.project_label)

        form = QFormLayout()
        self.video_combo = QComboBox()
        self.video_combo.currentIndexChanged.connect(lambda i: self._guard(self.show_video, i) if i >= 0 else None)
        form.addRow("Video", self.video_combo)
        self.click_combo = QComboBox()
        self.click_combo.addItems(["drops whole skeleton", "places node by node", "does nothing"])
        self.click_combo.currentIndexChanged.connect(self._options_changed)
        form.addRow("Click on image", self.click_combo)
        self.template_combo = QComboBox()
        self.template_combo.addItems(["mean pose", "nearest previous instance"])
        self.template_combo.currentIndexChanged.connect(self._options_changed)
        form.addRow("Template", self.template_combo)
        self.color_combo = QComboBox()
        self.color_combo.addItems(["node", "track"])
        self.color_combo.currentIndexChanged.connect(self._options_changed)
        form.addRow("Colour by", self.color_combo)
        self.pred_check = QCheckBox("show predictions")
        self.pred_check.setChecked(True)
        self.pred_check.toggled.connect(self._options_changed)
        self.jump_spin = QSpinBox()
        self.jump_spin.setRange(2, 10000)
        self.jump_spin.setValue(10)
        self.jump_spin.valueChanged.connect(self._options_changed)
        r2 = QHBoxLayout()
        r2.addWidget(self.pred_check)
        r2.addWidget(QLabel("jump N"))
        r2.addWidget(self.jump_spin)
        form.addRow(r2)
        lay.addLayout(form)
        self.node_label = QLabel("")
        lay.addWidget(self.node_label)

        sug = QGroupBox("Frames to label")
        sl = QVBoxLayout(sug)
        r3 = QHBoxLayout()
        self.method_combo = QComboBox()
        self.method_combo.addItems(["uniform", "random", "kmeans"])
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 100000)
        self.n_spin.setValue(20)
        self.range_edit = QLineEdit()
        self.range_edit.setPlaceholderText("A:B (all)")
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.clicked.connect(lambda: self._guard(self.suggest))
        for w in (self.method_combo, self.n_spin, self.range_edit, self.suggest_button):
            r3.addWidget(w)
        sl.addLayout(r3)
        self.suggestion_list = QListWidget()
        self.suggestion_list.setMaximumHeight(110)
        self.suggestion_list.itemClicked.connect(self._suggestion_clicked)
        sl.addWidget(self.suggestion_list)
        r4 = QHBoxLayout()
        self.next_button = QPushButton("Next unlabeled (N)")
        self.next_button.clicked.connect(lambda: self._guard(lambda: self.controller and self.controller.next_suggestion()))
        self.outlier_button = QPushButton("Flag label outliers")
        self.outlier_button.clicked.connect(lambda: self._guard(self.flag_outliers))
        self.check_button = QPushButton("Check labels (PNG)")
        self.check_button.clicked.connect(lambda: self._guard(self.check_labels))
        for w in (self.next_button, self.outlier_button, self.check_button):
            r4.addWidget(w)
        sl.addLayout(r4)
        lay.addWidget(sug)

        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        lay.addWidget(self.progress_label)
        r5 = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(lambda: self._guard(self.save))
        self.autosave_check = QCheckBox("autosave")
        self.autosave_check.setChecked(True)
        self.autosave_check.toggled.connect(lambda on: setattr(self.autosaver, "enabled", on) if self.autosaver else None)
        self.status_label = QLabel("")
        for w in (self.save_button, self.autosave_check, self.status_label):
            r5.addWidget(w)
        lay.addLayout(r5)
        keys = QLabel(keys_html())
        keys.setWordWrap(True)
        scroll = QScrollArea()
        scroll.setWidget(keys)
        scroll.setWidgetResizable(True)
        scroll.setMaximumHeight(170)
        box = QGroupBox("Keys")
        QVBoxLayout(box).addWidget(scroll)
        lay.addWidget(box)
        lay.addStretch(1)

    def _guard(self, fn, *args):
        """Run a UI action; show errors instead of letting them reach napari."""
        try:
            return fn(*args)
        except PoseTrackError as exc:
            self.notify(str(exc), "error")
        except OSError as exc:
            self.notify(f"{type(exc).__name__}: {exc}", "error")

    # ------------------------------------------------------------------ projects
    def _open_clicked(self) -> None:
        path = self.ask_open_path()
        if path:
            self.open_project(path)

    def _dialog_new_project(self):
        path, _ = QFileDialog.getSaveFileName(self, "New posetrack project", "", "posetrack project (*.posetrack.zarr)")
        if not path:
            return None
        video = QFileDialog.getExistingDirectory(self, "Image folder (cancel to pick a video file)")
        if not video:
            video, _ = QFileDialog.getOpenFileName(self, "Video", "", "Videos (*.mp4 *.avi *.mov *.mkv)")
        return (path, [video] if video else [])

    def _new_clicked(self) -> None:
        answer = self.ask_new_project()
        if answer:
            self.new_project(*answer)

    def open_project(self, path, mode: str = "r+"):
        """Open a project store and make it the viewer's session (read-only if it is locked)."""
        from ..core.errors import StoreLockedError
        from ..core.session import EditSession
        from ..core.store import ProjectStore

        try:
            store = ProjectStore.open(path, mode=mode)
        except StoreLockedError as exc:
            if mode == "r":
                raise
            self.notify(f"{exc}\nOpened read-only instead.", "warning")
            store = ProjectStore.open(path, mode="r")
        set_session(self.viewer, EditSession.from_store(store))
        return store

    def new_project(self, path, videos=(), skeleton=None):
        """Create a project store with ``videos`` (paths) and open it."""
        from ..core.skeleton import Skeleton
        from ..core.store import ProjectStore

        store = ProjectStore.create(path, skeleton or Skeleton([], name="skeleton"), videos=list(videos))
        store.close()
        return self.open_project(path)

    def _adopt_layer(self, layer) -> bool:
        meta = getattr(layer, "metadata", None) or {}
        store = meta.get("posetrack_store")
        if store is None:
            return False
        if meta.get("posetrack_kind") in ("labels", "predictions") and self._session is not None:
            layer.visible = False  # a static copy from the reader: the editable layers are ours
            return False
        if get_session(self.viewer) is not None:
            return False
        from ..core.session import EditSession
        from ..core.store import ProjectStore

        try:
            if not hasattr(store, "load"):
                store = ProjectStore.open(store)
            self._pending_image = layer if layer.__class__.__name__ == "Image" else None
            set_session(self.viewer, EditSession.from_store(store))
        except PoseTrackError as exc:
            self.notify(str(exc), "error")
            return False
        return True

    def _on_layer_inserted(self, event) -> None:
        self._guard(self._adopt_layer, event.value)

    def _on_layer_removed(self, event) -> None:
        c = self.controller
        if c is None or c._closed or event.value not in (c.points, c.edges):
            return
        c.close()
        self.controller = None
        if self.autosaver is not None:
            self.autosaver.save_now()
        self.notify("The labeling layers were removed; your labels are safe in the project. Choose a video "
                    "in the Labeling dock (or reopen the project) to show them again.", "info")

    # ------------------------------------------------------------------ session
    def _on_session(self, session) -> None:
        if session is self._session:
            return
        self._detach()
        self.image_layer, self._pending_image = getattr(self, "_pending_image", None), None
        self._session = session
        if session is None:
            self.project_label.setText("No project open.")
            return
        session.on_change(lambda action, cmd, s=session: self._session_changed(s, action))
        store = session.store
        self.project_label.setText(
            f"Project: {getattr(store, 'path', '(in memory)')}" + (" (read-only)" if getattr(store, "read_only", False) else "")
        )
        self.video_combo.blockSignals(True)
        self.video_combo.clear()
        for i, v in enumerate(session.dataset.videos):
            self.video_combo.addItem(f"{i}: {Path(str(v.path)).name}")
        self.video_combo.blockSignals(False)
        self._guard(self.show_video, 0)
        self.autosaver = Autosaver(session, on_status=self.status_label.setText,
                                   on_error=lambda t: self.notify(t, "error"))
        self.autosaver.enabled = self.autosave_check.isChecked()
        self._refresh_info()

    def _detach(self) -> None:
        """Save the old session (nothing is lost when switching) and drop its layers."""
        if self.autosaver is not None:
            self.autosaver.save_now()
            self.autosaver.stop()
            self.autosaver = None
        if self.controller is not None:
            self.controller.close()
            self.controller = None
        if self._own_image and self.image_layer is not None and self.image_layer in self.viewer.layers:
            self.viewer.layers.remove(self.image_layer)
        self.image_layer, self._own_image = None, False

    def _session_changed(self, session, action) -> None:
        if session is self._session:
            self._refresh_info()

    def show_video(self, video_id: int) -> None:
        """Show video ``video_id``: its frames as an Image layer and its labels."""
        session = self._session
        if session is None or not session.dataset.videos:
            return
        if self.autosaver is not None:
            self.autosaver.save_now()
        adopted = self.image_layer is not None and not self._own_image
        if not adopted or video_id != 0:
            if self._own_image and self.image_layer in self.viewer.layers:
                self.viewer.layers.remove(self.image_layer)
            self.image_layer = self.viewer.add_image(self._frames(video_id), name=f"video {video_id}")
            self._own_image = True
            if self.viewer.dims.ndim >= 3:
                self.viewer.dims.set_current_step(0, 0)
        if self.controller is None:
            self.controller = LabelingLayers(self.viewer, session, video_id, notify=self.notify)
            install_keybindings(self.controller, self.viewer, [self.controller.points])
            self.controller.points.events.highlight.connect(lambda e: self._refresh_node_label())
            self._options_changed()
        else:
            self.controller.set_video(video_id)
        for layer in (self.controller.edges, self.controller.points):  # keep labels on top of the image
            self.viewer.layers.move(self.viewer.layers.index(layer), len(self.viewer.layers))
        self.viewer.layers.selection.active = self.controller.points
        self._refresh_info()

    def _frames(self, video_id: int):
        """Lazy (n, h, w[, 3]) frames; a black stand-in (with a message) if the video is missing."""
        import dask.array as da

        v = self._session.dataset.videos[video_id]
        store = self._session.store
        try:
            from ..core.video import as_dask

            arr = as_dask(store.open_video(video_id) if store is not None else v.path, on_error="blank")
            return arr[..., 0] if arr.ndim == 4 and arr.shape[-1] == 1 else arr
        except PoseTrackError as exc:
            self.notify(f"{exc}\nShowing a black stand-in; your labels stay editable.", "warning")
            n, h, w = max(1, v.n_frames), max(1, v.height), max(1, v.width)
            return da.zeros((n, h, w), np.uint8, chunks=(1, h, w))

    def _options_changed(self, *_):
        c = self.controller
        if c is None:
            return
        c.click_mode = ("instance", "node", "off")[self.click_combo.currentIndex()]
        c.template = ("mean", "nearest")[self.template_combo.currentIndex()]
        c.jump_size = self.jump_spin.value()
        show, color = self.pred_check.isChecked(), self.color_combo.currentText()
        if (show, color) != (c.show_predictions, c.color_by):
            c.show_predictions, c.color_by = show, color
            c.refresh()

    # ------------------------------------------------------------------ info
    def _refresh_info(self) -> None:
        s = self._session
        if s is None:
            return
        ds = s.dataset
        lines = []
        for p in labeling_progress(ds):
            name = Path(str(ds.videos[p["video_id"]].path)).name
            lines.append(f"{name}: {p['n_labeled_frames']} frames labeled, {p['n_suggested_labeled']}/"
                         f"{p['n_suggested']} suggested done, {p['keypoints_labeled_pct']:.0f}% keypoints")
        self.progress_label.setText("\n".join(lines))
        self.suggestion_list.clear()
        labeled = {(int(v), int(f)) for v, f in zip(ds.labels.video_id, ds.labels.frame_idx)}
        for v, f in ds.suggestions[:2000]:
            item = QListWidgetItem(f"{'✓' if (int(v), int(f)) in labeled else '·'} video {v}, frame {f}")
            item.setData(256, (int(v), int(f)))
            self.suggestion_list.addItem(item)
        if s.dirty and self.autosaver is None:
            self.status_label.setText("unsaved changes")
        self._refresh_node_label()

    def _refresh_node_label(self) -> None:
        c = self.controller
        if c is None or self._session is None:
            return
        names = self._session.dataset.skeleton.node_names
        if not names:
            self.node_label.setText("No skeleton yet: add nodes in the Skeleton dock.")
            return
        k = min(c.current_node, len(names) - 1)
        self.node_label.setText(f"Node: <b>{names[k]}</b> ({k + 1}/{len(names)})")

    def _suggestion_clicked(self, item) -> None:
        vid, frame = item.data(256)
        if self.controller is None:
            return
        if vid != self.controller.video_id:
            self.video_combo.setCurrentIndex(vid)
        self.controller.set_frame(frame)

    # ------------------------------------------------------------------ actions
    def save(self) -> bool:
        if self._session is None:
            return False
        if self.autosaver is not None:
            ok = self.autosaver.save_now()
        else:
            ok = self._session.save()
        return ok

    def _run(self, gen, on_done, what: str) -> None:
        from napari.qt.threading import create_worker

        worker = create_worker(lambda: (yield from gen))
        worker.yielded.connect(lambda ev: self.status_label.setText(f"{what}: {ev.stage} {ev.step}/{ev.total or '?'}"))
        worker.returned.connect(lambda result: self._guard(on_done, result))
        worker.errored.connect(lambda exc: self.notify(f"{what} failed: {exc}", "error"))
        worker.finished.connect(lambda: setattr(self, "_worker", None))
        self._worker = worker
        worker.start()

    def suggest(self) -> None:
        from ..core.suggest import iter_suggest_frames, merge_suggestions, parse_range

        s = self._session
        if s is None or self.controller is None:
            return
        start, stop = parse_range(self.range_edit.text().strip())
        gen = iter_suggest_frames(s.dataset, self.method_combo.currentText(), self.n_spin.value(),
                                  video_ids=[self.controller.video_id], start=start, stop=stop,
                                  open_reader=getattr(s.store, "open_video", None))

        def done(new):
            self.controller.push(SetSuggestions(merge_suggestions(s.dataset.suggestions, new),
                                                text="suggest frames"))
            self.status_label.setText(f"{len(new)} frames suggested")

        self._run(gen, done, "suggest")

    def flag_outliers(self) -> int:
        from ..core.qc import outlier_suggestions
        from ..core.suggest import merge_suggestions

        s = self._session
        if s is None or self.controller is None:
            return 0
        new = outlier_suggestions(s.dataset)
        if len(new):
            self.controller.push(SetSuggestions(merge_suggestions(s.dataset.suggestions, new), text="flag outliers"))
        self.notify(f"{len(new)} frame(s) with outlier labels added to the suggestions.", "info")
        return len(new)

    def check_labels(self, out_dir=None) -> None:
        from ..core.qc import iter_render_labeled_frames

        s = self._session
        if s is None or s.store is None:
            return
        out = Path(out_dir) if out_dir else Path(s.store.project_dir) / "check_labels"
        gen = iter_render_labeled_frames(s.dataset, out, s.store.open_video, table=s.dataset.labels.copy())
        self._run(gen, lambda paths: self.notify(f"Wrote {len(paths)} PNG(s) to {out}", "info"), "check labels")

    def closeEvent(self, event):  # noqa: N802 (Qt name)
        if self.autosaver is not None:
            self.autosaver.save_now()
        super().closeEvent(event)
