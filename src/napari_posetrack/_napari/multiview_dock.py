"""3D dock: calibrate a multi-camera session, triangulate it, and show the 3D poses.

Pick a session (a folder with one sub-folder per camera, or a session .toml/.yaml), then
"Calibrate…" (board detection, intrinsics, extrinsics and bundle adjustment in a worker thread;
writes anipose's calibration.toml and shows the reprojection errors) and "Triangulate" (3D
poses from the 2D poses of every camera). The result appears in napari's 3D view as layers
(:mod:`.multiview_poses3d`): ``3D poses`` (Points over time, coloured by node), ``3D skeleton``
(Shapes lines) and ``3D trails`` (Tracks, one per node, with a tail). Every point without a 3D
position is listed with the reason.

"Show: camera views" puts the cameras' videos side by side in 2D with the labelling aids of
:func:`~..core.multiview.predict_views` (:mod:`.multiview_views`). A label dragged there is
an edit of that camera's labels (:mod:`.multiview_edits`: saved in a background thread to the
project store beside its labels file); only the edited frame is predicted and triangulated
again, and the aid layers are updated in place.

The "Reprojection suspects" list ranks the labels far from the other cameras (camera, frame,
node, px); choosing one goes to its frame and centres the view on it. The dock registers as
"3D" in napari.yaml.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                            QListWidget, QPlainTextEdit, QPushButton, QSpinBox)

from .dock import PoseDock
from .multiview_poses3d import LAYER_NAMES, add_pose_layers, pose_summary
from .multiview_views import VIEW_LAYER_NAMES, CameraViews

__all__ = ["MultiviewDock", "LAYER_NAMES", "VIEW_LAYER_NAMES", "MODES"]

MODES = ("3D poses", "camera views")


class MultiviewDock(PoseDock):
    """Calibrate and triangulate a multi-camera session; 3D layers in the viewer."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.poses = None
        self.views = None  # Views2D of the last triangulation
        self.predictions = None  # ViewPredictions (leave-one-camera-out)
        self.suspect_rows: list[dict] = []
        self.session = None
        self.group = None
        self.report = None
        self.config = None  # TriangulationConfig of the last triangulation (edits use it too)
        self.edits = None  # CameraEdits of the last triangulation (opened on the first edit)
        self._worker = None
        self.camera_views = CameraViews(self.viewer, threshold=lambda: self.error_spin.value(),
                                        on_move=lambda rows: self._guard(self.move_labels, rows),
                                        notify=lambda text, level="info": self.notify(text, level))
        self.ask_open_path = lambda title: QFileDialog.getExistingDirectory(self, title)
        self.ask_save_path = lambda title, filt: QFileDialog.getSaveFileName(self, title, "calibration.toml", filt)[0]
        self._build()

    @property
    def cell_origin(self) -> dict:
        """camera -> (y, x) of its cell in the camera views."""
        return self.camera_views.cell_origin

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
        show = QFormLayout()
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(MODES)
        self.mode_combo.setToolTip("3D poses in napari's 3D view, or the cameras side by side with the labels, "
                                   "their reprojections from the other cameras and epipolar lines")
        self.mode_combo.currentIndexChanged.connect(lambda _i: self._guard(self._show_mode))
        show.addRow("Show", self.mode_combo)
        lay.addLayout(show)
        self.status_label = QLabel("Choose a session.")
        self.status_label.setWordWrap(True)
        lay.addWidget(self.status_label)
        lay.addWidget(QLabel("Reprojection suspects (labels far from the other cameras):"))
        self.suspect_list = QListWidget()
        self.suspect_list.setMaximumHeight(110)
        self.suspect_list.setToolTip("Labels farther than the max reprojection error from where the other cameras "
                                     "put the node, worst first; choose one to go there")
        self.suspect_list.currentRowChanged.connect(lambda row: self._guard(self.goto_suspect, row))
        lay.addWidget(self.suspect_list)
        self.undo_button = QPushButton("Undo edit")
        self.undo_button.setToolTip("Undo the last label moved in the camera views (saved like the move)")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(lambda: self._guard(self.undo_edit))
        lay.addWidget(self.undo_button)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMinimumHeight(90)
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
        from ..core.multiview import TriangulationConfig, load_calibration, predict_views, triangulate_views

        session = self._session()
        self._close_edits()  # pending camera-view edits are saved first, and read back below
        cal = self.calibration_edit.text().strip()
        group = load_calibration(cal) if cal else None
        if group is not None:
            missing = [n for n in session.names if n not in group.names]
            if missing:
                from ..core.multiview import CalibrationError

                raise CalibrationError(f"Camera(s) {missing} have no calibration in {cal} (it has {group.names}).",
                                       hint="Calibrate all cameras of the session together.")
            group = group.subset(session.names)
        else:
            group = session.load_calibration()
        cfg = TriangulationConfig(max_error_px=self.error_spin.value())
        datasets = session.load_datasets()  # kept: the first edit of a camera reuses them
        views = session.load_views(datasets=datasets)
        poses = triangulate_views(views, group, cfg)
        poses.offsets = {c.name: int(c.offset) for c in session.cameras}
        self.session, self.group, self.views, self.config = session, group, views, cfg
        self.predictions = predict_views(views, group, cfg)
        self.poses = poses
        self._camera_edits(datasets)
        self.camera_views.set_session(session, group, views, self.predictions)
        self._fill_suspects()
        self._publish()
        self._show_mode()

    def _fill_suspects(self) -> None:
        from ..core.multiview import reprojection_suspects

        self.suspect_rows = reprojection_suspects(self.poses, self.config.max_error_px)
        self.suspect_list.blockSignals(True)
        self.suspect_list.clear()
        self.suspect_list.addItems([f"{r['camera']}  frame {r['frame']}  {r['node']}  {r['error_px']:.1f} px"
                                    + ("  (left out)" if r["rejected"] else "") for r in self.suspect_rows[:500]])
        self.suspect_list.blockSignals(False)

    def _publish(self) -> None:
        """Tell the viewer's other docks (the Proofreading dock's suspect queue) about the 3D poses."""
        from .multiview_context import publish

        publish(self.viewer, self.session, self.poses, self.config.max_error_px)

    def _show_mode(self) -> None:
        if self.poses is None:
            return
        if self.mode_combo.currentText() == "camera views":
            self.show_camera_views()
        else:
            self.show_poses(self.poses)

    def show_poses(self, poses) -> None:
        """Replace the 3D layers with ``poses`` and switch the viewer to 3D."""
        self.poses = poses
        frame = self._current_frame()
        self._remove_layers()
        add_pose_layers(self.viewer, poses, self.trail_spin.value())
        if self.viewer.dims.ndim == 4:
            self.viewer.dims.axis_labels = ("frame", "x", "y", "z")
        self.viewer.dims.ndisplay = 3
        self._set_frame(frame)
        self.status_label.setText(pose_summary(poses))
        msgs = poses.messages(limit=500)
        self.details.setPlainText("\n".join(msgs) if msgs else "Every labelled point has a 3D position.")

    # ------------------------------------------------------------------ camera views
    def show_camera_views(self) -> None:
        """Replace the layers with the camera views side by side, the labels and the consistency aids."""
        frame = self._current_frame()
        self._remove_layers()
        self.viewer.dims.ndisplay = 2  # before the videos: napari cannot show RGB frames as a volume
        self.camera_views.show()
        self.viewer.dims.ndisplay = 2
        if self.viewer.dims.ndim == 3:
            self.viewer.dims.axis_labels = ("frame", "y", "x")
        self._set_frame(frame)
        self.viewer.reset_view()
        self.viewer.layers.selection.active = self.viewer.layers[VIEW_LAYER_NAMES[0]]
        self.status_label.setText(self.camera_views.summary())

    # ------------------------------------------------------------------ editing in the camera views
    def move_labels(self, rows) -> bool:
        """Apply the labels-layer points ``rows`` (just dragged) to their cameras and update the other views.

        Only the edited frames are predicted and triangulated again; the save runs in the
        background (:class:`~.multiview_edits.CameraEdits`).
        """
        from ..core.multiview.label_edits import instance_in_view, move_label_command

        layer = self.viewer.layers[VIEW_LAYER_NAMES[0]]
        data = np.asarray(layer.data)
        views, touched, saved = self.views, [], []
        edits = self._camera_edits()
        try:
            for j in rows:
                c, t, i, k = (int(v) for v in self.camera_views.label_keys[j])
                cam = views.cameras[c]
                y0, x0 = self.cell_origin[cam]
                frame = int(views.frames[t]) + int(self.session.camera(cam).offset)
                who = None if len(views.individuals) == 1 else views.individuals[i]
                edit = edits.edit_session(cam)
                cmd = move_label_command(edit.dataset, frame=frame, node=views.node_names[k], individual=who,
                                         xy=(data[j, 2] - x0, data[j, 1] - y0), camera=cam,
                                         image_size=tuple(self.group[cam].size))
                edits.push(cam, cmd, (c, t, i))
                views.points[c, t, i], views.scores[c, t, i] = instance_in_view(edit.dataset, frame,
                                                                                views.node_names, who)
                touched.append(t)
                saved.append(cam)
        finally:  # the rows moved before a refused one are kept: the other views follow them
            if touched:
                self._after_edit(touched)
        names = ", ".join(f"{cam} -> {self.edits.store_path(cam).name}" for cam in dict.fromkeys(saved))
        self.status_label.setText(f"Moved {len(rows)} label(s); saving ({names}). The other views follow.")
        return True

    def undo_edit(self) -> None:
        """Undo the last label moved in the camera views (saved in the background, like the edit)."""
        from ..core.multiview.label_edits import instance_in_view

        last = self.edits.undo() if self.edits is not None else None
        if last is None:
            self.status_label.setText("No edit in the camera views to undo.")
            return
        cam, c, t, i = last
        views = self.views
        who = None if len(views.individuals) == 1 else views.individuals[i]
        frame = int(views.frames[t]) + int(self.session.camera(cam).offset)
        dataset = self.edits.edits[cam].dataset
        views.points[c, t, i], views.scores[c, t, i] = instance_in_view(dataset, frame, views.node_names, who)
        self.camera_views.put_labels_back()
        self._after_edit([t])
        self.status_label.setText(f"Undid the last edit in {cam} (frame {frame}); saving.")

    def _after_edit(self, t_indices) -> None:
        """Predictions, 3D points and suspects of the edited frames again; the aid layers in place."""
        from ..core.multiview.label_edits import update_poses, update_predictions

        update_predictions(self.predictions, self.views, self.group, self.config, t_indices)
        update_poses(self.poses, self.views, self.group, self.config, t_indices)
        self._fill_suspects()
        self.camera_views.update_aids()
        self.undo_button.setEnabled(bool(self.edits.history))
        self._publish()

    def _camera_edits(self, datasets: dict | None = None):
        """The edits of the shown session, made on first use (``datasets``: the labels just read, reused).

        After a triangulation that failed, the views shown are the previous one's and their edits
        read the labels again.
        """
        if self.edits is None:
            from .multiview_edits import CameraEdits

            self.edits = CameraEdits(self.session, datasets)
            self.edits.saved.connect(self._edits_saved)
            self.edits.failed.connect(self._edits_failed)
        return self.edits

    def _edits_saved(self, cam: str, message: str) -> None:
        if message:
            self.notify(message, "info")
        text = self.status_label.text()
        if text.startswith(("Moved ", "Undid ")) and (self.edits is None or not self.edits.pending()):
            self.status_label.setText(text.replace("; saving (", "; saved (").replace("; saving.", "; saved."))

    def _edits_failed(self, cam: str, message: str) -> None:
        self.status_label.setText(message)
        self.notify(message, "error")

    def wait_saved(self, timeout: float | None = 60.0) -> None:
        """Wait until the camera-view edits are written (their reports arrive with the next events)."""
        if self.edits is not None:
            self.edits.wait(timeout)

    def save_edits(self) -> None:
        """Write every camera's pending edits now (before triangulating again, and on close)."""
        self.wait_saved(None)

    def _close_edits(self) -> None:
        if self.edits is not None:
            edits, self.edits = self.edits, None
            edits.close()
        self.undo_button.setEnabled(False)

    def goto_suspect(self, row: int) -> None:
        """Go to the frame of suspect ``row`` and, in camera views, centre on its label."""
        if not 0 <= row < len(self.suspect_rows):
            return
        r = self.suspect_rows[row]
        t = r["frame"] - int(self.poses.offsets.get(r["camera"], 0))  # the session frame
        self._set_frame(t)
        if self.mode_combo.currentText() == "camera views" and r["camera"] in self.cell_origin:
            ti = int(np.flatnonzero(self.views.frames == t)[0])
            self.camera_views.centre_on(r["camera"], ti, self.views.individuals.index(r["individual"]),
                                        self.views.node_names.index(r["node"]))
        self.status_label.setText(f"{r['camera']}, frame {r['frame']}, {r['individual']}, node {r['node']}: "
                                  f"{r['error_px']:.1f} px from the other cameras' 3D point"
                                  + (" (left out of the triangulation)" if r["rejected"] else ""))

    def _current_frame(self) -> int:
        """The session frame shown (the world coordinate of the frame axis)."""
        return int(round(self.viewer.dims.point[0])) if self.viewer.dims.ndim >= 3 and self.viewer.layers else 0

    def _set_frame(self, frame: int) -> None:
        if self.viewer.dims.ndim >= 3:
            self.viewer.dims.set_point(0, int(frame))

    def _remove_layers(self) -> None:
        for name in list(LAYER_NAMES) + self.camera_views.layer_names():
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)

    def on_shutdown(self) -> None:
        from .multiview_context import withdraw

        try:
            self._close_edits()
        except Exception as exc:  # noqa: BLE001 - closing must go on; the message says what was not saved
            self.notify(f"Saving the camera-view edits failed: {exc}", "error")
        withdraw(self.viewer)
        if self._worker is not None:
            try:
                self._worker.quit()
            except RuntimeError:
                pass
        try:
            self._remove_layers()
        except (RuntimeError, KeyError, ValueError):
            pass
