"""Labeling dock: open/create a project, label with keys and clicks, suggestions, QC, progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (QCheckBox, QFileDialog, QFormLayout, QGroupBox, QLineEdit, QListWidget, QListWidgetItem,
                            QScrollArea, QVBoxLayout)

from ..core.errors import PoseTrackError
from ..core.labeling import SetSuggestions, labeling_progress
from ..core.suggest import METHODS as SUGGEST_METHODS
from .dock import PoseDock
from .keybindings import install_keybindings, keys_html
from .labeling_layers import LabelingLayers
from .styles import COLOR_BY
from .widgets import button, combo, label, row, spin

__all__ = ["LabelingDock"]


class LabelingDock(PoseDock):
    """Dock that turns the viewer's :class:`EditSession` into an editable labeling view.

    Attributes that tests (or scripts) may replace: ``ask_open_path()``, ``ask_new_project()``
    and ``ask_check_dir()`` (file dialogs), ``notify(message, level)``.
    """

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self.controller: LabelingLayers | None = None
        self.image_layer = None
        self._own_image = False
        self._session = None
        self._worker = None
        self.ask_open_path = lambda: QFileDialog.getExistingDirectory(self, "Open a posetrack project")
        self.ask_new_project = self._dialog_new_project
        self.ask_check_dir = self._ask_check_dir  # -> folder for the check-labels PNGs, or None
        self._build()
        self.shell.connect(self, session=self._on_session, change=self._session_changed,
                           status=self.status_label.setText)
        self.listen(napari_viewer.layers.events.removed, self._on_layer_removed)
        if self.shell.session is not None:
            self._on_session(self.shell.session)

    @property
    def autosaver(self):
        """The viewer's autosaver (owned by the shell), or None without a session."""
        return self.shell.autosaver

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        lay = self.body_layout
        self.open_button = button("Open project…", lambda: self._guard(self._open_clicked))
        self.new_button = button("New project…", lambda: self._guard(self._new_clicked))
        lay.addLayout(row(self.open_button, self.new_button))
        self.project_label = label("No project open.")
        lay.addWidget(self.project_label)

        form = QFormLayout()
        self.video_combo = combo(fit=True)
        self.video_combo.currentIndexChanged.connect(lambda i: self._guard(self.show_video, i) if i >= 0 else None)
        form.addRow("Video", self.video_combo)
        self.click_combo = combo(["drops whole skeleton", "places node by node", "does nothing"],
                                 self._options_changed)
        form.addRow("Click on image", self.click_combo)
        self.template_combo = combo(["mean pose", "nearest previous instance"], self._options_changed)
        form.addRow("Template", self.template_combo)
        self.color_combo = combo(COLOR_BY, self._options_changed)
        form.addRow("Colour by", self.color_combo)
        self.pred_check = QCheckBox("show predictions")
        self.pred_check.setChecked(True)
        self.pred_check.toggled.connect(self._options_changed)
        self.jump_spin = spin(2, 10000, 10, on_change=self._options_changed)
        form.addRow(row(self.pred_check, "jump N", self.jump_spin))
        lay.addLayout(form)
        self.node_label = label(wrap=False)
        lay.addWidget(self.node_label)

        sug = QGroupBox("Frames to label")
        sl = QVBoxLayout(sug)
        self.method_combo = combo(SUGGEST_METHODS)
        self.n_spin = spin(1, 100000, 20)
        self.range_edit = QLineEdit()
        self.range_edit.setPlaceholderText("A:B (all)")
        self.suggest_button = button("Suggest", lambda: self._guard(self.suggest))
        sl.addLayout(row(self.method_combo, self.n_spin, self.range_edit, self.suggest_button))
        self.suggestion_list = QListWidget()
        self.suggestion_list.setMaximumHeight(110)
        self.suggestion_list.itemClicked.connect(self._suggestion_clicked)
        sl.addWidget(self.suggestion_list)
        self.next_button = button("Next unlabeled (N)",
                                  lambda: self._guard(lambda: self.controller and self.controller.next_suggestion()))
        self.outlier_button = button("Flag label outliers", lambda: self._guard(self.flag_outliers))
        self.check_button = button("Check labels (PNG)", lambda: self._guard(self.check_labels),
                                   tip="Draw every labeled frame into PNGs, in a folder you choose")
        sl.addLayout(row(self.next_button, self.outlier_button, self.check_button))
        lay.addWidget(sug)

        self.progress_label = label()
        lay.addWidget(self.progress_label)
        self.save_button = button("Save", lambda: self._guard(self.save))
        self.autosave_check = QCheckBox("autosave")
        self.autosave_check.setChecked(self.shell.autosave)
        self.autosave_check.toggled.connect(lambda on: setattr(self.shell, "autosave", on))
        self.status_label = label(wrap=False)
        lay.addLayout(row(self.save_button, self.autosave_check, self.status_label))
        keys = label(keys_html())
        scroll = QScrollArea()
        scroll.setWidget(keys)
        scroll.setWidgetResizable(True)
        scroll.setMaximumHeight(170)
        box = QGroupBox("Keys")
        QVBoxLayout(box).addWidget(scroll)
        lay.addWidget(box)
        lay.addStretch(1)

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
        """Open a project store (or any poses file) as the viewer's session; returns its store."""
        session = self.shell.open(path, mode=mode, show=False)
        return session.store

    def new_project(self, path, videos=(), skeleton=None):
        """Create a project store with ``videos`` (paths) and open it."""
        from ..core.skeleton import Skeleton
        from ..core.store import ProjectStore

        store = ProjectStore.create(path, skeleton or Skeleton([], name="skeleton"), videos=list(videos))
        store.close()
        return self.open_project(path)

    def _on_layer_removed(self, event) -> None:
        c = self.controller
        if c is None or c._closed or event.value not in (c.points, c.edges):
            return
        c.close()
        self.controller = None
        self.shell.guard(self.shell.save, False)
        self.notify("The labeling layers were removed; your labels are safe in the project. Choose a video "
                    "in the Labeling dock (or reopen the project) to show them again.", "info")

    # ------------------------------------------------------------------ session
    def _on_session(self, session) -> None:
        self.project_label.setText(self.shell.where)
        if session is self._session:
            return
        self._detach()
        self._session = session
        if session is None:
            return
        self.video_combo.blockSignals(True)
        self.video_combo.clear()
        for i, v in enumerate(session.dataset.videos):
            self.video_combo.addItem(f"{i}: {Path(str(v.path)).name}")
        self.video_combo.blockSignals(False)
        self._guard(self.show_video, 0)
        self.status_label.setText("unsaved changes" if session.dirty else "")
        self._refresh_info()

    def _detach(self) -> None:
        """Drop the old session's layers (the shell saved it)."""
        if self.controller is not None:
            self.controller.close()
            self.controller = None
        if self._own_image and self.image_layer is not None and self.image_layer in self.viewer.layers:
            self.viewer.layers.remove(self.image_layer)
        self.image_layer, self._own_image = None, False

    def on_shutdown(self) -> None:
        """The dock was closed: stop its job, save, then remove its layers (the session stays with the viewer)."""
        if self._worker is not None:
            self._worker.quit()
        self.shell.guard(self.shell.save, False)
        self._detach()
        self._session = None

    def _session_changed(self, action, cmd) -> None:
        if self.controller is not None:
            self.controller._on_session_change(action, cmd)
        self._refresh_info()

    def show_video(self, video_id: int) -> None:
        """Show video ``video_id``: its frames as an Image layer and its labels."""
        session = self._session
        if session is None or not session.dataset.videos:
            return
        self.shell.guard(self.shell.save, False)
        if self._own_image and self.image_layer in self.viewer.layers:
            self.viewer.layers.remove(self.image_layer)
        name = Path(str(session.dataset.videos[video_id].path)).name or f"video {video_id}"
        from .reader import AXIS_LABELS

        data = self._frames(video_id)
        rgb = data.ndim == 4 and data.shape[-1] in (3, 4)
        # named axes: the frame slider says "frame", not "-3"
        self.image_layer = self.viewer.add_image(data, name=name, rgb=rgb,
                                                 axis_labels=AXIS_LABELS[-(data.ndim - int(rgb)):])
        self._own_image = True
        if self.viewer.dims.ndim >= 3:
            self.viewer.dims.set_current_step(0, 0)
        if self.controller is None:
            self.controller = LabelingLayers(self.viewer, session, video_id, notify=self.notify, listen=False,
                                             token=self.shell.token)
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

        from .reader import frames, video_source

        v = self._session.dataset.videos[video_id]
        try:
            return frames(video_source(v, self._session.store, video_id),
                          warn=lambda text: self.notify(text, "warning"))
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

    def set_color_by(self, name: str) -> None:
        """Colour the keypoints by ``name`` (one of :data:`~napari_posetrack._napari.styles.COLOR_BY`)."""
        self.color_combo.setCurrentIndex(list(COLOR_BY).index(name))

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
        """Save the session now (to its store, or the new store of a file-opened session)."""
        if self._session is None:
            return False
        return bool(self.shell.save(ask=True))

    def _run(self, gen, on_done, what: str) -> None:
        from napari.qt.threading import create_worker

        worker = create_worker(lambda: (yield from gen))
        # a dock closed while its job runs: the job stops at its next step and says nothing more
        worker.yielded.connect(lambda ev: self._closed or self.status_label.setText(
            f"{what}: {ev.stage} {ev.step}/{ev.total or '?'}"))
        worker.returned.connect(lambda result: self._closed or self._guard(on_done, result))
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

    def _ask_check_dir(self):
        start = str(Path(self._session.store.path).parent) if self._session.store is not None else ""
        return QFileDialog.getExistingDirectory(self, "Folder for the check-labels PNGs", start) or None

    def check_labels(self, out_dir=None) -> None:
        """Draw every labeled frame into PNGs in ``out_dir`` (None: ask for a folder; nothing is
        written anywhere the user did not choose)."""
        from ..core.qc import iter_render_labeled_frames

        s = self._session
        if s is None:
            return
        if not len(s.dataset.labels):
            self.notify("There are no labels to check yet.", "info")
            return
        out_dir = out_dir or self.ask_check_dir()
        if not out_dir:
            return
        out = Path(out_dir)
        if s.store is not None and out.resolve() == Path(s.store.path).resolve():
            raise PoseTrackError(f"Check labels cannot write its PNGs into the project store {out}.",
                                 hint="Choose another folder (an empty one, or a new one).")
        gen = iter_render_labeled_frames(s.dataset, out, self._open_reader, table=s.dataset.labels.copy())
        self._run(gen, lambda paths: self.notify(f"Wrote {len(paths)} PNG(s) to {out}", "info"), "check labels")

    def _open_reader(self, video_id: int):
        """A frame reader of video ``video_id`` (the store's, a .pkg.slp's embedded frames or the file)."""
        from ..core.video import open_video
        from .reader import video_source

        s = self._session
        src = video_source(s.dataset.videos[video_id], s.store, video_id)
        return open_video(src) if isinstance(src, (str, Path)) else src
