"""Live dock: pick a model and a source, Start/Stop, watch the image, the poses and the latency.

The live loop (:class:`napari_posetrack.nn.live.LiveSession`) runs in its own inference thread;
its callback only keeps the newest pose. A Qt timer on the GUI thread shows that pose (a
``live`` Image layer and a ``live poses`` Points layer) and the figures (p50/p99 latency from
frame arrival to callback, frames/s, dropped frames) a few times a second, so the viewer stays
responsive whatever the model's speed, and a slow viewer never slows the loop.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCheckBox, QFileDialog, QFormLayout

from ..core.errors import ConfigError
from .dock import PoseDock
from .widgets import button, combo, label, path_row, row, spin

__all__ = ["LiveDock", "IMAGE_LAYER", "POSE_LAYER"]

IMAGE_LAYER, POSE_LAYER = "live", "live poses"


class LiveDock(PoseDock):
    """Start/Stop a live session and show its newest frame, poses and latency."""

    #: GUI refresh interval (ms)
    refresh_ms = 100

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.session = None
        self._latest = self._shown = None  # newest pose from the loop, and the one on screen
        self.image_layer = self.points_layer = None
        self.ask_model_dir = lambda: QFileDialog.getExistingDirectory(self, "Choose a model or ONNX export folder")
        self.ask_video = lambda: QFileDialog.getOpenFileName(self, "Choose a video to replay")[0]
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(self.refresh_ms)
        self.timer.timeout.connect(self._refresh)

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        lay = self.body_layout
        form = QFormLayout()
        self.model_edit, self.model_button, model_row = path_row(
            "model folder (posetrack train) or ONNX export", "Browse…", lambda: self._guard(self._browse_model))
        form.addRow("Model", model_row)
        self.backend_combo = combo(["torch", "onnx"])
        form.addRow("Backend", self.backend_combo)
        self.source_edit, self.source_button, source_row = path_row(
            "video file, camera:0, or rtsp://…", "Video…", lambda: self._guard(self._browse_video))
        form.addRow("Source", source_row)
        self.realtime_check = QCheckBox("replay a video at its frame rate (as a camera)")
        self.realtime_check.setChecked(True)
        form.addRow("", self.realtime_check)
        self.max_inst_spin = spin(0, 100, special="no limit")
        form.addRow("Max animals", self.max_inst_spin)
        lay.addLayout(form)
        self.start_button = button("Start", lambda: self._guard(self.start))
        self.stop_button = button("Stop", self.stop, enabled=False)
        lay.addLayout(row(self.start_button, self.stop_button))
        self.stats_label = label("Not running.")
        lay.addWidget(self.stats_label)
        lay.addStretch(1)

    def _browse_model(self) -> None:
        d = self.ask_model_dir()
        if d:
            self.model_edit.setText(str(d))

    def _browse_video(self) -> None:
        f = self.ask_video()
        if f:
            self.source_edit.setText(str(f))

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.session is not None and self.session.running

    def start(self) -> None:
        """Load the model, open the source (errors are shown, nothing starts) and run the loop."""
        from ..nn.live import LiveSession
        from ..nn.live.predictor import load_live_predictor
        from ..nn.live.sources import open_source

        if self.running:
            return
        model, source = self.model_edit.text().strip(), self.source_edit.text().strip()
        if not model or not source:
            raise ConfigError("Pick a model folder and a source first.",
                              hint="Model: the folder of `posetrack train` or `posetrack export-model`; source: a "
                                   "video file, camera:0 or a stream URL.")
        max_inst = self.max_inst_spin.value() or None
        pred = load_live_predictor(model, backend=self.backend_combo.currentText(), device="auto",
                                   max_instances=max_inst)
        src = open_source(source, realtime=self.realtime_check.isChecked(), gray=pred.channels == 1)
        self._latest, self._shown = None, None
        self.session = LiveSession(pred, src, on_pose=self._on_pose, realtime=self.realtime_check.isChecked())
        self.session.start()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.stats_label.setText(f"Running {pred.kind} model ({pred.backend}) on {src.name}…")
        self.timer.start()

    def _on_pose(self, pose) -> None:
        """Inference thread: keep the newest pose only (no Qt, no napari here)."""
        self._latest = pose

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session.join(5)
        self._refresh()

    def _refresh(self) -> None:
        """GUI thread: show the newest pose and the figures; tidy up when the session ended."""
        if self._closed:
            return
        pose = self._latest
        if pose is not None and pose is not self._shown:
            self._shown = pose
            self._show_pose(pose)
        s = self.session
        if s is None:
            return
        st = s.stats
        lat = list(st.latency_ms)
        if lat:
            p50, p99 = np.percentile(lat, [50, 99])
            arrived = s.source.n_arrived if s.source is not None else st.n_arrived
            dropped = s.source.n_dropped if s.source is not None else st.n_dropped
            pred = s.predictor
            tuner = getattr(pred, "tuner", None)
            threads = f"{tuner.best} (auto)" if tuner is not None else getattr(pred, "threads", "?")
            self.stats_label.setText(
                f"latency p50 {p50:.1f} ms · p99 {p99:.1f} ms · {len(lat)} processed · dropped {dropped} of "
                f"{arrived} frames · CPU threads {threads}")
        if not s.running:
            self.timer.stop()
            self.start_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            if s.error is not None:
                self._guard(_raise, s.error)
                self.stats_label.setText("Stopped with an error (see the notification).")
            else:
                self.stats_label.setText(
                    f"Stopped. p50 {st.p50:.1f} ms · p95 {st.p95:.1f} ms · p99 {st.p99:.1f} ms · {st.fps:.1f} "
                    f"frames/s · dropped {st.n_dropped} of {st.n_arrived}"
                    + (f" · source: {st.source_error}" if st.source_error else ""))

    def _show_pose(self, pose) -> None:
        img = pose.image[..., 0] if pose.image.shape[-1] == 1 else pose.image
        if self.image_layer is None or self.image_layer not in self.viewer.layers:
            self.image_layer = self.viewer.add_image(img, name=IMAGE_LAYER, rgb=img.ndim == 3)
        else:
            self.image_layer.data = img
        pts = pose.points.reshape(-1, 2)
        ok = np.isfinite(pts).all(1)
        yx = pts[ok][:, ::-1].astype(np.float64)  # napari wants (row, col)
        if self.points_layer is None or self.points_layer not in self.viewer.layers:
            self.points_layer = self.viewer.add_points(yx, name=POSE_LAYER, size=max(3, img.shape[0] / 80),
                                                       face_color="yellow")
        else:
            self.points_layer.data = yx
        if self.points_layer is not None:
            self.points_layer.refresh()

    def on_shutdown(self) -> None:
        self.timer.stop()
        if self.session is not None:
            self.session.stop()
            self.session.join(5)
        for layer in (self.image_layer, self.points_layer):
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)


def _raise(exc):
    raise exc
