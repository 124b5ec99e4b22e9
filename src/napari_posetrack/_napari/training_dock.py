"""Training dock: a config form, Start / Stop / Resume, progress, a live loss plot, metrics.

Training runs :func:`napari_posetrack.nn.train.iter_train` in a napari ``thread_worker``; the
worker only yields progress events (it never touches the viewer). Stop sets the run's
``CancelToken``: the trainer finishes the current step, keeps the best checkpoint and returns.
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                            QLineEdit, QProgressBar, QPushButton, QSpinBox)

from ..core.registry import MODEL_KINDS
from .loss_plot import LossPlot
from .dock import PoseDock, Section
from .notify import notify

__all__ = ["TrainingDock", "FORM_FIELDS"]

#: config fields shown in the form (dotted names of TrainingConfig)
FORM_FIELDS = ("model.backbone.name", "model.backbone.filters", "model.backbone.down_blocks", "model.output_stride",
               "preprocess.input_scale", "model.sigma", "model.offsets", "augment.enabled", "augment.rotation",
               "augment.flip", "train.epochs", "train.max_minutes", "train.batch_size", "train.learning_rate",
               "train.val_fraction", "train.device", "train.seed")

#: form labels where the field's own name would be unclear out of its section
FORM_LABELS = {"augment.enabled": "augmentation", "augment.rotation": "rotation (+/- deg)",
               "augment.flip": "flip probability"}


def _editor(meta: dict, value):
    if "choices" in meta:
        w = QComboBox()
        for c in meta["choices"]:  # a 0 choice with a "special" word stands for it, e.g. output stride 0 = auto
            w.addItem(str(meta["special"]) if c == 0 and "special" in meta else str(c), c)
        w.setCurrentIndex(list(meta["choices"]).index(value))
        return w, lambda: w.currentData(), lambda v: w.setCurrentIndex(list(meta["choices"]).index(v))
    if isinstance(value, bool):
        w = QCheckBox()
        w.setChecked(value)
        return w, w.isChecked, w.setChecked
    if isinstance(value, int):
        w = QSpinBox()
        w.setRange(int(meta.get("min", 0)), int(meta.get("max", 1_000_000)))
        if "special" in meta:  # the minimum stands for a word, e.g. batch size 0 = "auto"
            w.setSpecialValueText(str(meta["special"]))
        w.setValue(value)
        return w, w.value, w.setValue
    if isinstance(value, float):
        w = QDoubleSpinBox()
        small = abs(value) < 0.01 and float(meta.get("max", 10)) <= 1.0  # a learning rate, auto (0) or set
        w.setDecimals(5 if small else 3)
        w.setRange(float(meta.get("min", 0.0)), float(meta.get("max", 1e6)))
        w.setSingleStep(0.001 if small else 0.05 if meta.get("max", 10) <= 10 else 1.0)
        if "special" in meta:  # the minimum stands for a word, e.g. input scale 0 = "auto"
            w.setSpecialValueText(str(meta["special"]))
        w.setValue(value)
        return w, w.value, w.setValue
    w = QLineEdit(str(value))
    return w, w.text, lambda v: w.setText(str(v))


def _train_job(inputs, kind, out_dir, overrides, resume, token):
    from ..nn.train import iter_train

    result = yield from iter_train(inputs, kind, out_dir, overrides=overrides, resume=resume, cancel=token)
    for st in result["stages"].values():
        st.pop("model", None)
    return result


class TrainingDock(PoseDock):
    """Configure and run training on the viewer's project (or on files), and watch it learn."""

    #: emitted with the model directory when a run ends with a usable model
    model_trained = Signal(str)

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        from ..nn.config import TrainingConfig, iter_fields

        self.notify = self._say
        self.worker = None
        self.token = None
        self.result = None
        self.last_event_time = 0.0
        self.fields = {}
        cfg = TrainingConfig()
        meta = {name: (m, v) for name, _, m, v in iter_fields(cfg)}
        lay = self.body_layout
        src = QGroupBox("Data and output")
        form0 = QFormLayout(src)
        self.source_label = QLabel("labels: the open project" if self.shell.session else "labels: (none open)")
        self.inputs_edit = QLineEdit()
        self.inputs_edit.setPlaceholderText("or .slp / store / DLC project paths, separated by ';'")
        self.kind_combo = QComboBox()  # the model-kind registry: a new kind shows up here
        for i, (name, what) in enumerate(MODEL_KINDS.items()):
            self.kind_combo.addItem(name)
            self.kind_combo.setItemData(i, what, Qt.ItemDataRole.ToolTipRole)
        self.out_edit = QLineEdit(str(Path.cwd() / "models" / "model"))
        form0.addRow(self.source_label)
        form0.addRow("inputs", self.inputs_edit)
        form0.addRow("model", self.kind_combo)
        form0.addRow("output dir", self.out_edit)
        lay.addWidget(src)
        box = self.settings_section = Section("Settings (epochs, batch, learning rate, …)", expanded=False)
        form = QFormLayout(box.body)
        for name in FORM_FIELDS:
            m, v = meta[name]
            w, get, set_ = _editor(m, v)
            w.setToolTip(m.get("help", ""))
            form.addRow(FORM_LABELS.get(name, name.split(".", 1)[1].replace("_", " ")), w)
            self.fields[name] = (w, get, set_)
        lay.addWidget(box)
        row = QHBoxLayout()
        self.start_btn = QPushButton("Start")
        self.stop_btn = QPushButton("Stop")
        self.resume_btn = QPushButton("Resume")
        self.stop_btn.setEnabled(False)
        for b in (self.start_btn, self.stop_btn, self.resume_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        self.metrics_label = QLabel("")
        self.metrics_label.setWordWrap(True)
        self.predict_btn = QPushButton("Predict with this model")
        self.predict_btn.setEnabled(False)
        for w in (self.progress, self.status, self.plot, self.metrics_label, self.predict_btn):
            lay.addWidget(w)
        lay.addStretch(1)
        self.start_btn.clicked.connect(lambda: self._guard(self.start, False))
        self.resume_btn.clicked.connect(lambda: self._guard(self.start, True))
        self.stop_btn.clicked.connect(self.stop)
        self.predict_btn.clicked.connect(lambda: self._guard(self.open_inference))
        self.shell.connect(self, session=self._on_session)

    # ------------------------------------------------------------------ helpers
    def _say(self, text: str, level: str = "info") -> None:
        notify(f"Training: {text}" if level == "error" else text, level)
        if level == "error":
            self.status.setText(f"error: {str(text).splitlines()[0]}")

    def on_shutdown(self) -> None:
        """Closed: a running training is stopped (its checkpoints stay on disk)."""
        if self.worker is not None:
            self.stop()

    def _on_session(self, session) -> None:
        self.source_label.setText("labels: the open project" if session else "labels: (none open)")

    def set_value(self, name: str, value) -> None:
        """Set a form field by its dotted config name (e.g. ``"train.epochs"``)."""
        self.fields[name][2](value)

    def overrides(self) -> dict:
        """Nested config overrides from the form."""
        out: dict = {}
        for name, (_, get, _) in self.fields.items():
            d = out
            parts = name.split(".")
            for p in parts[:-1]:
                d = d.setdefault(p, {})
            d[parts[-1]] = get()
        return out

    def _inputs(self):
        text = self.inputs_edit.text().strip()
        if text:
            return [p.strip() for p in text.split(";") if p.strip()]
        session = self.shell.session
        if session is None:
            raise ValueError("No labels: open a project (or type a .slp / store path in 'inputs').")
        import copy

        ds = copy.copy(session.dataset)
        ds.labels = session.dataset.labels.copy()  # a snapshot: labeling can go on while training
        return [ds]

    # ------------------------------------------------------------------ running
    def start(self, resume: bool = False) -> None:
        from napari.qt.threading import create_worker

        from ..core.progress import CancelToken
        from ..nn.config import TrainingConfig

        if self.worker is not None:
            raise RuntimeError("A training run is already going; stop it first.")
        overrides = self.overrides()
        TrainingConfig().update(overrides)  # validate before starting (raises ConfigError)
        inputs = self._inputs()
        self.token = CancelToken()
        self.result = None
        self.plot.clear()
        self.metrics_label.setText("")
        self.predict_btn.setEnabled(False)
        out_dir = self.out_edit.text().strip()
        self.worker = create_worker(_train_job, inputs, self.kind_combo.currentText(), out_dir, overrides, resume,
                                    self.token, _start_thread=False,
                                    _ignore_errors=True)  # errors are shown by _on_error, not re-raised in Qt
        self.worker.yielded.connect(self._on_event)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.start_btn.setEnabled(False)
        self.resume_btn.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.status.setText("starting (loading frames)...")
        self._epoch_offset = 0
        self._stage = ""
        self.worker.start()

    def stop(self) -> None:
        """Ask the run to stop after the current step (the best checkpoint is kept)."""
        if self.token is not None:
            self.token.cancel()
            self.status.setText("stopping after the current step...")

    def _on_event(self, ev) -> None:
        self.last_event_time = time.monotonic()
        if ev.stage == "train" and ev.total:
            self.progress.setMaximum(int(ev.total))
            self.progress.setValue(int(ev.step))
            self.status.setText(f"{self._stage}epoch {ev.metrics.get('epoch')}  step {ev.step}/{ev.total}  "
                                f"loss {ev.metrics.get('loss', float('nan')):.4g}")
        elif ev.stage == "epoch":
            m = ev.metrics
            x = self._epoch_offset + m["epoch"]
            self.plot.add_point("train", x, m.get("train_loss"))
            self.plot.add_point("val", x, m.get("val_loss"))
            if "val_oks_map" in m:
                self.plot.set_title(f"{self._stage}val OKS mAP {m['val_oks_map']:.3f}  PCK@5 {m['val_pck_5']:.3f}")
            self._last_epoch = x
        elif ev.stage == "stage":
            self._stage = ev.message.replace("training the ", "").replace(" model", "") + ": "
            self._epoch_offset = getattr(self, "_last_epoch", 0)
            self.status.setText(ev.message)
        elif ev.message:
            self.status.setText(ev.message)
            if ev.message.startswith("warning: "):  # a setting that trains badly: keep it on screen
                notify("Training " + ev.message, "warning")

    @staticmethod
    def metrics_text(m: dict) -> str:
        """The validation metrics in words; says so plainly when nothing was predicted (no "nan")."""
        from ..core.metrics.pose import format_metrics

        lines = []
        for line in format_metrics(m).splitlines():
            if line.startswith("pixel error") and "nan" in line:
                line = "pixel error: none to measure (no predicted node matched a labelled one)"
            lines.append(line.replace(" nan", " n/a"))
        if not m.get("n_matched"):
            found = ("no instance was predicted" if not m.get("n_pred_instances")
                     else f"{m['n_pred_instances']} instance(s) were predicted but none matched a label")
            lines.append(f"On the validation frames {found}: train longer (more epochs or minutes), "
                         "or check the labels.")
        return "\n".join(lines)

    def _on_returned(self, result) -> None:
        self.result = result
        lines = []
        for stage, res in result["stages"].items():
            lines.append(f"<b>{stage}</b>: {res['epochs_run']} epochs ({res['stopped']}), best epoch "
                         f"{res['best_epoch']}")
            if res.get("metrics"):
                lines.append(self.metrics_text(res["metrics"]).replace("\n", "<br>"))
        self.metrics_label.setText("<br>".join(lines))
        ok = (Path(result["out_dir"]) / "config.yaml").is_file()
        self.predict_btn.setEnabled(ok)
        self.status.setText(f"done: model in {result['out_dir']}" if ok else "stopped before a model was saved")
        if ok:
            self.model_trained.emit(str(result["out_dir"]))

    def _on_error(self, exc) -> None:
        notify(f"Training failed: {exc}", "error")
        self.status.setText(f"error: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.start_btn.setEnabled(True)
        self.resume_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)

    def open_inference(self):
        """Open (or show) the Inference dock with the trained model selected."""
        if self.result is None:
            return None
        _, widget = self.viewer.window.add_plugin_dock_widget("napari-posetrack", "Inference")
        if hasattr(widget, "set_model_dir"):
            widget.set_model_dir(self.result["out_dir"])
        return widget
