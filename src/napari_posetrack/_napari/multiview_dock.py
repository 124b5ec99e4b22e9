"""3D dock: calibrate a multi-camera session, triangulate it, and show the 3D poses.

Pick a session (a folder with one sub-folder per camera, or a session .toml/.yaml), then
"Calibrate…" (board detection, intrinsics, extrinsics and bundle adjustment in a worker thread;
writes anipose's calibration.toml and shows the reprojection errors) and "Triangulate" (3D
poses from the 2D poses of every camera). The result appears in napari's 3D view as layers:
``3D poses`` (Points over time, coloured by node), ``3D skeleton`` (Shapes lines) and
``3D trails`` (Tracks, one per node, with a tail). Every point without a 3D position is listed
with the reason. Not registered in napari.yaml yet: open it with
``viewer.window.add_dock_widget(MultiviewDock(viewer), name="3D")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                            QPushButton, QSpinBox)

from .dock import PoseDock

__all__ = ["MultiviewDock", "LAYER_NAMES"]

LAYER_NAMES = ("3D poses", "3D skeleton", "3D trails")


class MultiviewDock(PoseDock):
    """Calibrate and triangulate a multi-camera session; 3D layers in the viewer."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.poses = None
        self.group = None
        self.report = None
        self._worker = None
        self.ask_open_path = lambda title: QFileDialog.getExistingDirectory(self, title)
        self.ask_save_path = lambda title, filt: QFileDialog.getSaveFileName(self, title, "calibration.toml", filt)[0]
        self._build()

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        lay = self.body_layout
        form = QFormLayout()
        row = QHBoxLayout()
        self.session_edit = QLineEdit()
        self.session_edit.setPlaceholderText("session folder or session .toml")
        self.browse_button = QPushButton("…")
        self.browse_button.setToolTip("Choose a session folder (one sub-folder per camera)")
        self.browse_button.clicked.connect(lambda: self._guard(self._browse))
        row.addWidget(self.session_edit)
        row.addWidget(self.browse_button)
        form.addRow("Session", row)
        self.board_edit = QLineEdit()
        self.board_edit.setPlaceholderText("board.toml (default: the session's)")
        form.addRow("Board", self.board_edit)
        self.calibration_edit = QLineEdit()
        self.calibration_edit.setPlaceholderText("calibration.toml (default: the session's)")
        form.addRow("Calibration", self.calibration_edit)
        self.error_spin = QDoubleSpinBox()
        self.error_spin.setRange(1.0, 500.0)
        self.error_spin.setValue(20.0)
        self.error_spin.setSuffix(" px")
        self.error_spin.setToolTip("A 2D point farther than this from the other views' 3D point is left out")
        form.addRow("Max reprojection error", self.error_spin)
        self.trail_spin = QSpinBox()
        self.trail_spin.setRange(0, 1000)
        self.trail_spin.setValue(10)
        form.addRow("Trail length (frames)", self.trail_spin)
        lay.addLayout(form)
        buttons = QHBoxLayout()
        self.calibrate_button = QPushButton("Calibrate…")
        self.calibrate_button.setToolTip("Detect the board in every camera's calibration images and calibrate the rig")
        self.calibrate_button.clicked.connect(lambda: self._guard(self.calibrate))
        self.triangulate_button = QPushButton("Triangulate")
        self.triangulate_button.setToolTip("3D poses from the 2D poses of every camera, shown in the 3D view")
        self.triangulate_button.clicked.connect(lambda: self._guard(self.triangulate))
        buttons.addWidget(self.calibrate_button)
        buttons.addWidget(self.triangulate_button)
        lay.addLayout(buttons)
        self.status_label = QLabel("Choose a session.")
        self.status_label.setWordWrap(True)
        lay.addWidget(self.status_label)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMinimumHeight(120)
        lay.addWidget(self.details)

    def _browse(self) -> None:
        path = self.ask_open_path("Session folder")
        if path:
            self.session_edit.setText(str(path))

    def _session(self):
        from ..core.multiview import SessionError, load_session

        text = self.session_edit.text().strip()
        if not text:
            raise SessionError("No session chosen.", hint="Type or browse to a session folder or session .toml.")
        return load_session(text)

    def _busy(self, on: bool, text: str = "") -> None:
        self.calibrate_button.setEnabled(not on)
        self.triangulate_button.setEnabled(not on)
        if text:
            self.status_label.setText(text)

    # ------------------------------------------------------------------ calibrate
    def calibrate(self) -> None:
        from napari.qt.threading import create_worker

        from ..core.multiview import calibrate_session, save_calibration

        session = self._session()
        board = self.board_edit.text().strip() or None
        out = self.ask_save_path("Save the calibration", "TOML (*.toml)")
        if not out:
            return
        out = Path(out)

        def work():
            group, report = calibrate_session(session, board)
            save_calibration(group, out)
            return group, report

        worker = create_worker(work, _ignore_errors=True)
        worker.returned.connect(lambda res: self._guard(self._calibrated, res, out))
        worker.errored.connect(lambda exc: self._failed(exc))
        worker.finished.connect(lambda: self._busy(False))
        self._worker = worker
        self._busy(True, f"Calibrating {len(session.cameras)} cameras ({', '.join(session.names)})…")
        worker.start()

    def _calibrated(self, res, out: Path) -> None:
        self.group, self.report = res
        self.calibration_edit.setText(str(out))
        worst = max(r["median_px"] for r in self.report.per_camera)
        self.status_label.setText(f"Calibrated {len(self.group)} cameras; worst median reprojection error "
                                  f"{worst:.2f} px -> {out.name}")
        self.details.setPlainText(self.report.summary())

    def _failed(self, exc) -> None:
        self._busy(False)
        self.status_label.setText(f"Failed: {exc}")
        self.notify(str(exc), "error")

    # ------------------------------------------------------------------ triangulate
    def triangulate(self) -> None:
        from ..core.multiview import TriangulationConfig, load_calibration, triangulate_session

        session = self._session()
        cal = self.calibration_edit.text().strip()
        group = load_calibration(cal) if cal else None
        if group is not None:
            missing = [n for n in session.names if n not in group.names]
            if missing:
                from ..core.multiview import CalibrationError

                raise CalibrationError(f"Camera(s) {missing} have no calibration in {cal} (it has {group.names}).",
                                       hint="Calibrate all cameras of the session together.")
            group = group.subset(session.names)
        poses = triangulate_session(session, group, config=TriangulationConfig(max_error_px=self.error_spin.value()))
        self.show_poses(poses)

    def show_poses(self, poses) -> None:
        """Replace the 3D layers with ``poses`` and switch the viewer to 3D."""
        import napari

        self.poses = poses
        self._remove_layers()
        t_n, i_n, k_n, _ = poses.points.shape
        t_idx, i_idx, k_idx = np.nonzero(np.isfinite(poses.points).all(-1))
        xyz = poses.points[t_idx, i_idx, k_idx]
        coords = np.column_stack([poses.frames[t_idx], xyz])  # (t, x, y, z)
        cmap = napari.utils.colormaps.ensure_colormap("turbo")
        colors = cmap.map(k_idx / max(1, k_n - 1))
        feats = {"node": np.asarray(poses.node_names, dtype=object)[k_idx],
                 "individual": np.asarray(poses.individuals, dtype=object)[i_idx],
                 "error_px": poses.error_px[t_idx, i_idx, k_idx], "n_views": poses.n_views[t_idx, i_idx, k_idx]}
        size = max(1.0, float(np.nanpercentile(np.ptp(xyz, axis=0), 50)) / 60) if len(xyz) else 1.0
        self.viewer.add_points(coords, name=LAYER_NAMES[0], size=size, face_color=colors, features=feats,
                               out_of_slice_display=False)
        lines = []
        for t in range(t_n):
            for i in range(i_n):
                for a, b in poses.edges:
                    pa, pb = poses.points[t, i, a], poses.points[t, i, b]
                    if np.isfinite(pa).all() and np.isfinite(pb).all():
                        lines.append(np.array([np.r_[poses.frames[t], pa], np.r_[poses.frames[t], pb]]))
        if lines:
            self.viewer.add_shapes(lines, shape_type="line", name=LAYER_NAMES[1], edge_color="white",
                                   edge_width=size / 3)
        tracks = np.column_stack([i_idx * k_n + k_idx, poses.frames[t_idx], xyz])
        if len(tracks) and self.trail_spin.value() > 0:
            order = np.lexsort((tracks[:, 1], tracks[:, 0]))
            self.viewer.add_tracks(tracks[order], name=LAYER_NAMES[2], tail_length=self.trail_spin.value(),
                                   tail_width=2, colormap="turbo")
        if self.viewer.dims.ndim == 4:
            self.viewer.dims.axis_labels = ("frame", "x", "y", "z")
        self.viewer.dims.ndisplay = 3
        counts = poses.counts()
        med = float(np.nanmedian(poses.error_px)) if np.isfinite(poses.error_px).any() else float("nan")
        self.status_label.setText(
            f"{counts['ok']} points in 3D from {len(poses.cameras)} cameras, median reprojection error {med:.2f} px; "
            f"{counts['too few views']} seen in fewer than 2 views, {counts['views disagree']} with disagreeing views, "
            f"{int(poses.rejected.sum())} 2D points left out.")
        msgs = poses.messages(limit=500)
        self.details.setPlainText("\n".join(msgs) if msgs else "Every labelled point has a 3D position.")

    def _remove_layers(self) -> None:
        for name in LAYER_NAMES:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)

    def on_shutdown(self) -> None:
        if self._worker is not None:
            try:
                self._worker.quit()
            except RuntimeError:
                pass
        try:
            self._remove_layers()
        except (RuntimeError, KeyError, ValueError):
            pass
