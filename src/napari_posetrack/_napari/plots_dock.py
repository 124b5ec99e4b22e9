"""Plots and export dock: analysis plots of the session's poses, labeled videos, exports.

Shows the plots of :mod:`napari_posetrack.core.plots` (trajectories, coordinates and scores,
frame-to-frame jumps, bone lengths and orientations) for the viewer's
:class:`~napari_posetrack.core.session.EditSession` on a matplotlib canvas, and has buttons
to render a labeled video (in a ``thread_worker``, with a progress bar and Cancel), export
the dataset in any format of :data:`napari_posetrack.core.io.FORMATS`, and save every plot
(PNG) with the bone features (CSV). Edits made in other docks mark the plot as out of date
(redrawing on every keypoint drag would be slow); "Refresh" redraws.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QCheckBox, QFileDialog, QFormLayout, QLineEdit

from ..core.errors import PoseTrackError
from .dock import PoseDock, Section
from .notify import notify
from .widgets import button, combo, label, row, run_controls, spin

__all__ = ["PlotsDock"]


class PlotsDock(PoseDock):
    """Plots of the session's predictions or labels; render, export and save buttons."""

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self.session = None
        self.stale = False
        self._worker = None
        self._token = None
        self.last_written: list[Path] = []
        self.ask_save_path = lambda title, filt: QFileDialog.getSaveFileName(self, title, "", filt)[0]
        self.ask_dir = lambda title: QFileDialog.getExistingDirectory(self, title)
        self.ask_open_path = lambda title: QFileDialog.getOpenFileName(self, title)[0]
        self.ask_export_path = self._ask_export_path  # (title, filters) -> (path, chosen filter)
        self._build()
        self.shell.connect(self, session=self._on_session, change=self._session_changed)
        if self.shell.session is not None:
            self._on_session(self.shell.session)

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        from ..core.plots import PLOTS

        lay = self.body_layout
        form = QFormLayout()
        refresh = lambda: self._guard(self.refresh)  # noqa: E731
        self.kind_combo = combo([(title, key) for key, title in PLOTS.items()], refresh)
        form.addRow("Plot", self.kind_combo)
        self.video_combo = combo(on_change=refresh, fit=True)
        form.addRow("Video", self.video_combo)
        self.table_combo = combo(["predictions", "labels"], refresh)
        form.addRow("Instances", self.table_combo)
        self.tracks_spin = spin(1, 50, 4, on_change=refresh)
        form.addRow("Longest tracks", self.tracks_spin)
        lay.addLayout(form)
        self.open_button = button("Open file…", lambda: self._guard(self._open_clicked),
                                  tip="Load a predictions/labels file (.slp, .h5, .nc, DLC, NWB, …) into the viewer")
        self.refresh_button = button("Refresh", refresh)
        lay.addLayout(row(self.open_button, self.refresh_button))
        self.figure = Figure(figsize=(4.5, 4.5), dpi=90)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(240)
        lay.addWidget(self.canvas, stretch=1)
        self.status_label = self.error_label = label("Open a project (Labeling dock) or a predictions file.")
        lay.addWidget(self.status_label)
        # labeled video
        render_section = self.render_section = Section("Labeled video options", expanded=False)
        rform = QFormLayout(render_section.body)
        self.frames_edit = QLineEdit()
        self.frames_edit.setPlaceholderText("A:B (all frames)")
        self.frames_edit.setToolTip("Frames START:STOP to render (STOP not included); empty: the whole video")
        rform.addRow("Frames", self.frames_edit)
        self.trail_spin = spin(0, 1000, 10)
        rform.addRow("Trail (frames)", self.trail_spin)
        self.color_combo = combo(["track", "node"])
        rform.addRow("Colour by", self.color_combo)
        self.keypoints_check = QCheckBox("keypoints only (no bones)")
        rform.addRow("", self.keypoints_check)
        lay.addWidget(render_section)
        self.render_button, self.cancel_button, self.progress, r = run_controls(
            "Render labeled video…", lambda: self._guard(self._render_clicked), self.cancel)
        lay.addLayout(r)
        self.export_button = button("Export…", lambda: self._guard(self._export_clicked),
                                    tip="Write the dataset as .slp, analysis .h5, .nc, DLC, NWB, COCO or CSV")
        self.save_plots_button = button("Save plots…", lambda: self._guard(self._save_plots_clicked))
        lay.addLayout(row(self.export_button, self.save_plots_button))
        self._enable()

    def on_shutdown(self) -> None:
        self.cancel()

    def _enable(self) -> None:
        has = self.session is not None
        busy = self._worker is not None
        for w in (self.refresh_button, self.export_button, self.save_plots_button):
            w.setEnabled(has)
        self.render_button.setEnabled(has and not busy)
        self.cancel_button.setEnabled(busy)

    # ------------------------------------------------------------------ session
    def _on_session(self, session) -> None:
        self.session = session
        self._fill_videos()
        self._enable()
        self._guard(self.refresh)

    def _session_changed(self, action, cmd) -> None:
        if action in ("reload",):
            self._fill_videos()
            self._guard(self.refresh)
        else:
            self.stale = True
            self.status_label.setText("The data changed: press Refresh to redraw.")

    def _fill_videos(self) -> None:
        self.video_combo.blockSignals(True)
        self.video_combo.clear()
        if self.session is not None:
            for i, v in enumerate(self.session.dataset.videos):
                self.video_combo.addItem(f"{i}: {Path(str(v.path)).name}", i)
            if not self.session.dataset.videos:
                self.video_combo.addItem("0", 0)
            if not len(self.session.dataset.predictions) and len(self.session.dataset.labels):
                self.table_combo.blockSignals(True)
                self.table_combo.setCurrentText("labels")
                self.table_combo.blockSignals(False)
        self.video_combo.blockSignals(False)

    @property
    def video_id(self) -> int:
        v = self.video_combo.currentData()
        return int(v) if v is not None else 0

    def _table(self):
        return getattr(self.session.dataset, self.table_combo.currentText())

    # ------------------------------------------------------------------ plots
    def refresh(self) -> None:
        """Redraw the chosen plot for the chosen video (main thread; a few hundred ms)."""
        from ..core.plots import make_figure

        if self.session is None:
            return
        ds = self.session.dataset
        table = self._table()
        vid = self.video_id
        shape = ds.videos[vid].shape if vid < len(ds.videos) else None
        make_figure(self.kind_combo.currentData(), table, ds.skeleton, video_id=vid, track_names=ds.track_names,
                    video_shape=shape, max_tracks=self.tracks_spin.value(), fig=self.figure)
        self.canvas.draw_idle()
        self.stale = False
        n = int((table.video_id == vid).sum())
        self.status_label.setText(f"{n} {self.table_combo.currentText()} in video {vid}, "
                                  f"{len(ds.track_names)} track name(s).")

    def open_file(self, path) -> None:
        """Open a poses file or project as the viewer's editable session (shared with the other
        docks; it saves into a new project store beside the file, as announced)."""
        from .session import shell_for

        shell_for(self.viewer).open(path)

    def _open_clicked(self) -> None:
        path = self.ask_open_path("Open predictions or labels")
        if path:
            self.open_file(path)

    def save_plots(self, out_dir, *, overwrite: bool = True) -> list[Path]:
        """Write every plot and the bone CSV of the current video into ``out_dir``."""
        from ..core.plots import write_plots

        self.last_written = write_plots(self.session.dataset, out_dir, video_id=self.video_id,
                                        which=self.table_combo.currentText(), max_tracks=self.tracks_spin.value(),
                                        overwrite=overwrite)
        notify(f"Wrote {len(self.last_written)} files to {out_dir}")
        return self.last_written

    def _save_plots_clicked(self) -> None:
        out = self.ask_dir("Folder for the plots")
        if out:
            self.save_plots(out)

    # ------------------------------------------------------------------ export
    def export(self, path, format: str | None = None, *, overwrite: bool = True):  # noqa: A002
        """Write the session's dataset to ``path`` (format from the extension unless given)."""
        from ..core.io import save_dataset

        written = save_dataset(self.session.dataset, path, format=format, overwrite=overwrite)
        notify(f"Exported to {written}")
        self.status_label.setText(f"Exported to {written}")
        return written

    @staticmethod
    def export_filters() -> list[tuple[str, str, str]]:
        """(file-dialog filter, format name, extension) of every format we can write."""
        from ..core.io import FORMATS

        return [(f"{s.description} (*{s.extension})", s.name, s.extension) for s in FORMATS.values()
                if s.save is not None and s.extension]

    def _ask_export_path(self, title: str, filters: str):
        path, chosen = QFileDialog.getSaveFileName(self, title, "", filters)
        return path, chosen

    def _export_clicked(self) -> None:
        """Export in the format whose filter the user chose (several formats share ``.csv``/``.h5``)."""
        table = self.export_filters()
        path, chosen = self.ask_export_path("Export poses", ";;".join(f for f, _, _ in table))
        if not path:
            return
        match = [(name, ext) for f, name, ext in table if f == chosen]
        if not match:
            self.export(path)  # no filter given: the format follows the file name
            return
        name, ext = match[0]
        if not path.lower().endswith(ext.lower()):
            path += ext
        self.export(path, format=name)

    # ------------------------------------------------------------------ labeled video
    def frame_range(self, n_frames: int | None = None):
        """The frames to render from the "Frames" field: ``range(A, B)``, or None for the whole video."""
        from ..core.errors import ConfigError
        from ..core.suggest import parse_range

        text = self.frames_edit.text().strip()
        if not text:
            return None
        start, stop = parse_range(text)
        start = 0 if start is None else start
        stop = n_frames if stop is None else stop
        if stop is None:
            raise ConfigError(f"The frame range {text!r} has no end and the video's frame count is unknown.",
                              hint="Write START:STOP.")
        if start < 0 or stop <= start or (n_frames and start >= n_frames):
            raise ConfigError(f"The frame range {text!r} holds no frame of this video ({n_frames or '?'} frames).",
                              hint=f"Write START:STOP with 0 <= START < STOP <= {n_frames or 'the frame count'}, "
                                   "or leave it empty for the whole video.")
        return range(start, min(stop, n_frames) if n_frames else stop)

    def render_video(self, out_path, *, frames=None):
        """Render the current video with the chosen table in a worker; returns the worker.

        ``frames``: None takes the "Frames" field (empty: the whole video)."""
        from napari.qt.threading import create_worker

        from ..core.progress import CancelToken
        from ..core.render import iter_render

        if self._worker is not None:
            raise PoseTrackError("A labeled video is already being rendered.", hint="Wait, or press Cancel.")
        ds = self.session.dataset
        vid = self.video_id
        if vid >= len(ds.videos):
            raise PoseTrackError("The session has no video to draw on.", hint="Open a project with its video.")
        info = ds.videos[vid]
        if frames is None:
            frames = self.frame_range(int(info.n_frames or 0) or None)
        store = getattr(self.session, "store", None)
        video = store.open_video(vid) if store is not None and hasattr(store, "open_video") else info.path
        self._token = CancelToken()
        gen = iter_render(video, self._table(), ds.skeleton, out_path, video_id=vid, video_info=info, frames=frames,
                          trail=self.trail_spin.value(), color_by=self.color_combo.currentText(),
                          keypoints_only=self.keypoints_check.isChecked(), overwrite=True, cancel=self._token)
        worker = create_worker(lambda: (yield from gen), _ignore_errors=True)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_rendered)
        worker.errored.connect(lambda exc: notify(f"Rendering failed: {exc}", "error"))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self.progress.setRange(0, 0)
        self.status_label.setText(f"Rendering {Path(out_path).name}…")
        self._enable()
        worker.start()
        return worker

    def _render_clicked(self) -> None:
        path = self.ask_save_path("Labeled video", "MP4 video (*.mp4)")
        if path:
            self.render_video(path)

    def _on_progress(self, ev) -> None:
        if ev.total:
            self.progress.setRange(0, int(ev.total))
            self.progress.setValue(int(ev.step))
        fps = ev.metrics.get("fps") if ev.metrics else None
        if fps:
            self.status_label.setText(f"Rendering: {ev.step}/{ev.total} frames ({fps:.1f} frames/s)")

    def _on_rendered(self, path) -> None:
        if path is None:
            self.status_label.setText("Rendering cancelled; nothing written.")
        else:
            self.status_label.setText(f"Wrote {path}")
            notify(f"Labeled video written to {path}")

    def _on_finished(self) -> None:
        self._worker = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self._enable()

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()

