"""Inference dock: run a trained model on frames of the open project, accept predictions as labels.

Predictions run in a ``thread_worker`` (the event loop stays free) with a progress bar and
Cancel. When a run ends, its predictions replace the old predictions of those frames in the
viewer's :class:`~napari_posetrack.core.session.EditSession` (one undoable step). They are
drawn in one place only, the Labeling dock's ``keypoints`` layer (opened if needed): diamonds,
the instance score written beside each instance, set apart from the user's round labels
(:mod:`napari_posetrack._napari.styles`).

With an identity model (``topdown-id``) the predictions name their animals: the project's tracks
become the model's classes (when it has none yet), and the dock lists the identity of every
predicted instance of the current frame, its class probability and the other classes'.

Keys (on the viewer): **G** ("good") accepts the predicted instance under the cursor (or the
selected one, or the best one) as a user label; **Shift-G** accepts every prediction of the
frame. (``A`` is napari's select-all on Points layers, so it is left alone.)
Both are :class:`~napari_posetrack.core.labeling.AcceptPredictions` commands on the session,
so Ctrl-Z undoes them and the accepted labels are edited like any label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QCheckBox, QFileDialog, QFormLayout

from ..core.errors import PoseTrackError
from .dock import PoseDock
from .notify import notify
from .widgets import button, combo, dspin, label, path_row, row, run_controls, spin

__all__ = ["InferenceDock", "TARGETS", "ACCEPT_KEY", "ACCEPT_FRAME_KEY"]

#: key that accepts one predicted instance, and the one that accepts the whole frame
ACCEPT_KEY, ACCEPT_FRAME_KEY = "G", "Shift-G"
#: what "Predict" runs on
TARGETS = ("current frame", "frame range", "suggested frames", "current video", "all videos")


class InferenceDock(PoseDock):
    """Pick a model, predict on frames of the project, accept predictions as labels."""

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self.notify = lambda text, level="info": notify(text, level)
        self.session = None
        self.predictor = None
        self._predictor_key = None
        self._worker = None
        self._token = None
        self.last_result = None
        self.ask_model_dir = lambda: QFileDialog.getExistingDirectory(self, "Choose a model directory")
        self._build()
        self.shell.connect(self, session=self._on_session, change=lambda action, cmd: self.show_identity())
        self.listen(napari_viewer.dims.events.current_step, lambda event=None: self.show_identity())
        napari_viewer.bind_key(ACCEPT_KEY, self._accept_one_key, overwrite=True)
        napari_viewer.bind_key(ACCEPT_FRAME_KEY, self._accept_frame_key, overwrite=True)
        if self.shell.session is not None:
            self._on_session(self.shell.session)

    def _accept_one_key(self, viewer=None):
        self._guard(self.accept_one)

    def _accept_frame_key(self, viewer=None):
        self._guard(self.accept_frame)

    def on_shutdown(self) -> None:
        """Closed: stop a running prediction, drop the keys."""
        self.cancel()
        for key in (ACCEPT_KEY, ACCEPT_FRAME_KEY):
            try:
                self.viewer.bind_key(key, None)
            except (KeyError, TypeError, ValueError):
                pass

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        lay = self.body_layout
        self.model_edit, self.browse_button, r = path_row("model directory (from posetrack train)", "Browse…",
                                                          lambda: self._guard(self._browse))
        lay.addLayout(r)
        self.model_label = label("No model loaded.")
        lay.addWidget(self.model_label)
        form = QFormLayout()
        self.video_combo = combo(fit=True)
        form.addRow("Video", self.video_combo)
        self.target_combo = combo(TARGETS)
        form.addRow("Predict on", self.target_combo)
        self.start_spin, self.stop_spin = spin(0, 10_000_000), spin(0, 10_000_000, 100)
        form.addRow("Frame range", row(self.start_spin, "to", self.stop_spin))
        self.batch_spin = spin(1, 256, 4)
        form.addRow("Batch size", self.batch_spin)
        self.threshold_spin = dspin(-1.0, 1.0, 0.2)
        form.addRow("Peak threshold", self.threshold_spin)
        self.max_inst_spin = spin(0, 1000, special="no limit")
        form.addRow("Max instances", self.max_inst_spin)
        self.device_combo = combo(["auto", "cpu", "cuda", "mps"])
        form.addRow("Device", self.device_combo)
        lay.addLayout(form)
        self.predict_button, self.cancel_button, self.progress, r = run_controls(
            "Predict", lambda: self._guard(self.predict), self.cancel)
        lay.addLayout(r)
        self.status_label = label()
        lay.addWidget(self.status_label)
        self.identity_label = label()  # identity models: who each predicted instance of the frame is
        self.identity_label.setVisible(False)
        lay.addWidget(self.identity_label)
        self.show_check = QCheckBox("show predictions (in the keypoints layer)")
        self.show_check.setChecked(True)
        self.show_check.toggled.connect(lambda on: self._guard(self.show_predictions, on))
        lay.addWidget(self.show_check)
        self.accept_button = button("Accept instance (G)", lambda: self._guard(self.accept_one))
        self.accept_all_button = button("Accept frame (Shift-G)", lambda: self._guard(self.accept_frame))
        lay.addLayout(row(self.accept_button, self.accept_all_button))
        self.outlier_spin = spin(1, 100000, 20)
        self.outlier_button = button("Suggest outlier frames", lambda: self._guard(self.suggest_outliers),
                                     tip="Frames where predictions jump, score low or leave a smooth trajectory "
                                         "become suggestions for labeling.")
        lay.addLayout(row(self.outlier_spin, self.outlier_button))
        lay.addStretch(1)

    def _browse(self) -> None:
        path = self.ask_model_dir()
        if path:
            self.set_model_dir(path)

    # ------------------------------------------------------------------ session
    def _on_session(self, session) -> None:
        self.session = session
        self.video_combo.clear()
        if session is None:
            self.status_label.setText("Open a project (labeling dock) to predict on it.")
            return
        for i, v in enumerate(session.dataset.videos):
            self.video_combo.addItem(f"{i}: {Path(str(v.path)).name}")
        self.show_identity()

    @property
    def video_id(self) -> int:
        return max(0, self.video_combo.currentIndex())

    @property
    def frame(self) -> int:
        step = self.viewer.dims.current_step
        return int(step[0]) if len(step) >= 3 else 0

    # ------------------------------------------------------------------ model
    def set_model_dir(self, path) -> None:
        """Choose the model directory (loaded lazily when predicting)."""
        self.model_edit.setText(str(path))
        self.predictor, self._predictor_key = None, None
        from ..nn.checkpoint import checkpoint_kind

        self.model_label.setText(f"Model: {Path(path).name} ({checkpoint_kind(path)})")

    def _settings_key(self):
        return (self.model_edit.text().strip(), self.device_combo.currentText(), self.threshold_spin.value(),
                self.max_inst_spin.value())

    def _load_predictor(self):
        """Runs in the worker thread: load (or reuse) the predictor for the current settings."""
        from ..nn.inference.predictors import load_predictor

        key = self._key_at_start
        if self.predictor is None or self._predictor_key != key:
            model_dir, device, thr, max_inst = key
            if not model_dir:
                raise PoseTrackError("No model directory chosen.", hint="Pick the folder `posetrack train` wrote.")
            self.predictor = load_predictor(model_dir, device, peak_threshold=thr, max_instances=max_inst or None)
            self._predictor_key = key
        return self.predictor

    # ------------------------------------------------------------------ predicting
    def jobs(self, target: str | None = None) -> list:
        """``[(video_id, video source, frames)]`` for a target of :data:`TARGETS`."""
        s = self.session
        if s is None:
            raise PoseTrackError("No project is open.", hint="Open or create a project in the labeling dock first.")
        target = target or self.target_combo.currentText()
        vid = self.video_id

        def source(v):
            if s.store is not None:
                return s.store.open_video(v)
            return s.dataset.videos[v]

        if target == "current frame":
            return [(vid, source(vid), [self.frame])]
        if target == "frame range":
            return [(vid, source(vid), (self.start_spin.value(), self.stop_spin.value()))]
        if target == "suggested frames":
            sug = s.dataset.suggestions
            out = [(int(v), source(int(v)), sug[sug[:, 0] == v, 1]) for v in np.unique(sug[:, 0])]
            if not out:
                raise PoseTrackError("The project has no suggested frames.",
                                     hint="Suggest frames in the labeling dock, or pick another target.")
            return out
        if target == "current video":
            return [(vid, source(vid), None)]
        if target == "all videos":
            return [(v, source(v), None) for v in range(len(s.dataset.videos))]
        raise PoseTrackError(f"Unknown prediction target {target!r}.", hint=f"Use one of {TARGETS}.")

    def predict(self, target: str | None = None):
        """Start predicting on ``target`` in a worker; returns the worker."""
        from napari.qt.threading import create_worker

        from ..core.progress import CancelToken
        from ..nn.inference.pipeline import iter_predict_videos

        if self._worker is not None:
            raise PoseTrackError("A prediction is already running.", hint="Wait for it, or press Cancel.")
        jobs = self.jobs(target)
        self._key_at_start = self._settings_key()
        self._token = token = CancelToken()
        batch = self.batch_spin.value()
        session = self.session

        def work():
            pred = self._load_predictor()
            pred.check_skeleton(session.dataset.skeleton, source="the open project")
            res = yield from iter_predict_videos(pred, jobs, batch_size=batch, cancel=token)
            return res

        worker = create_worker(work, _ignore_errors=True)  # errors go to the errored handler below
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda res: self._guard(self._on_done, res, jobs, session))
        worker.errored.connect(lambda exc: notify(f"Prediction failed: {exc}", "error"))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self.predict_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status_label.setText("Loading the model…")
        worker.start()
        return worker

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()
            self.status_label.setText("Cancelling…")

    def _on_progress(self, ev) -> None:
        if ev.total:
            self.progress.setRange(0, int(ev.total))
            self.progress.setValue(min(int(ev.step), int(ev.total)))
        fps = ev.metrics.get("fps") if ev.metrics else None
        self.status_label.setText(ev.message or f"{ev.step}/{ev.total or '?'} frames"
                                  + (f", {fps:.1f} frames/s" if fps else ""))

    def _on_finished(self) -> None:
        self._worker = None
        self.predict_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)

    def _on_done(self, res, jobs, session) -> None:
        from ..core.labeling_accept import ReplacePredictions

        self.last_result = res
        if session is not self.session or res.table is None:
            return
        done = res.table
        frames = []
        for vid, _, spec in jobs:  # every processed frame, so frames where nothing was found are cleared
            n = session.dataset.videos[vid].n_frames
            f = np.arange(n) if spec is None else (np.arange(spec[0], min(spec[1], n)) if isinstance(spec, tuple)
                                                   else np.asarray(spec, np.int64))
            bad = set(res.skipped_frames.get(vid, []))
            tr = res.truncated.get(vid)
            f = np.array([i for i in f if i not in bad and (tr is None or i < tr[0])], np.int64)
            if res.cancelled:
                f = f[np.isin(f, done.frame_idx[done.video_id == vid])]
            frames.append(np.column_stack([np.full(len(f), vid), f]))
        frames = np.concatenate(frames) if frames else np.zeros((0, 2), np.int64)
        replace = ReplacePredictions(done, frames, text=f"predict {len(frames)} frames")
        named = getattr(self.predictor, "class_names", None)
        if named:  # identity model: its classes are (or become) the project's tracks
            from ..core.identity_commands import SetTrackNames, name_predictions
            from ..core.labeling.commands import CompoundCommand

            done, names = name_predictions(done, named, session.dataset.track_names)
            replace = ReplacePredictions(done, frames, text=replace.text)
            if names != list(session.dataset.track_names):
                replace = CompoundCommand([SetTrackNames(names), replace], text=replace.text)
        session.push(replace)
        msg = f"{res.n_instances} instances on {res.n_frames} frames ({res.fps:.1f} frames/s)"
        if res.cancelled:
            msg = "Cancelled: " + msg
        self.status_label.setText(msg + ("\n" + "\n".join(res.warnings) if res.warnings else ""))
        for w in res.warnings:
            notify(w, "warning")
        self.progress.setRange(0, max(1, res.n_frames))
        self.progress.setValue(res.n_frames)
        if self.show_check.isChecked():
            self.show_predictions(True)

    def show_identity(self) -> str:
        """List the identity of each predicted instance of the current frame (identity models); returns the text."""
        s = self.session
        t = s.dataset.predictions if s is not None else None
        text = ""
        if t is not None and t.identity_probs.shape[1]:
            from ..core.identity_commands import identity_rows_text
            from ..core.labeling_accept import frame_prediction_rows

            rows = frame_prediction_rows(t, self.video_id, self.frame)
            lines = identity_rows_text(t, rows, s.dataset.track_names)
            if lines:
                c = t.take(rows).centroids()
                text = f"Identity, frame {self.frame}:\n" + "\n".join(
                    f"  at ({x:.0f}, {y:.0f}): {line}" for (x, y), line in zip(c, lines))
        self.identity_label.setText(text)
        self.identity_label.setVisible(bool(text))
        return text

    # ------------------------------------------------------------------ layers
    @property
    def points_layer(self):
        """The layer that draws the predictions: the Labeling dock's keypoints layer (or None)."""
        lab = self.shell.labeling_dock()
        c = lab.controller if lab is not None else None
        return c.points if c is not None and not c._closed else None

    def show_predictions(self, on: bool = True) -> None:
        """Show (or hide) the predictions in the keypoints layer (the Labeling dock opens if needed)."""
        lab = self.shell.labeling_dock() if not on else self.shell.show_labeling()
        if lab is not None:
            lab.pred_check.setChecked(bool(on))

    # ------------------------------------------------------------------ accepting
    def _cursor_xy(self):
        pos = self.viewer.cursor.position
        return None if pos is None or len(pos) < 2 else np.array([pos[-1], pos[-2]], np.float32)

    def accept_one(self, xy=None) -> bool:
        """Accept one predicted instance of the current frame (selected, nearest ``xy``/cursor, or best)."""
        from ..core.labeling import AcceptPredictions
        from ..core.labeling_accept import pick_prediction

        s = self.session
        if s is None:
            return False
        row = None
        layer = self.points_layer
        if layer is not None and layer.selected_data:  # a selected predicted point says which
            sel = sorted(layer.selected_data)
            feats = layer.features.iloc[sel]
            pred = feats[feats["source"] == 1]
            row = int(pred["instance"].iloc[0]) if len(pred) else None
        if row is None:
            row = pick_prediction(s.dataset.predictions, self.video_id, self.frame,
                                  self._cursor_xy() if xy is None else xy)
        if row is None:
            self.status_label.setText("No prediction in this frame.")
            return False
        s.push(AcceptPredictions([row], text="accept prediction"))
        return True

    def accept_frame(self) -> int:
        """Accept every prediction of the current frame; returns how many."""
        from ..core.labeling import AcceptPredictions
        from ..core.labeling_accept import frame_prediction_rows

        s = self.session
        if s is None:
            return 0
        rows = frame_prediction_rows(s.dataset.predictions, self.video_id, self.frame)
        if not len(rows):
            self.status_label.setText("No prediction in this frame.")
            return 0
        s.push(AcceptPredictions(rows, text=f"accept {len(rows)} predictions"))
        return int(len(rows))

    def suggest_outliers(self, n: int | None = None) -> int:
        """Add the worst ``n`` outlier frames of the predictions to the suggestions (undoable)."""
        from ..core.labeling import SetSuggestions
        from ..core.outliers import find_outlier_frames
        from ..core.suggest import merge_suggestions

        s = self.session
        if s is None or not len(s.dataset.predictions):
            raise PoseTrackError("There are no predictions to look for outliers in.", hint="Predict first.")
        new = find_outlier_frames(s.dataset.predictions, n=n or self.outlier_spin.value())
        s.push(SetSuggestions(merge_suggestions(s.dataset.suggestions, new), text="suggest outlier frames"))
        self.status_label.setText(f"{len(new)} outlier frame(s) added to the suggestions")
        return int(len(new))


