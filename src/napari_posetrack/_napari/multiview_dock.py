"""3D dock: calibrate a multi-camera session, triangulate it, and show the 3D poses.

Pick a session (a folder with one sub-folder per camera, or a session .toml/.yaml), then
"Calibrate…" (board detection, intrinsics, extrinsics and bundle adjustment in a worker thread;
writes anipose's calibration.toml and shows the reprojection errors) and "Triangulate" (3D
poses from the 2D poses of every camera). The result appears in napari's 3D view as layers:
``3D poses`` (Points over time, coloured by node), ``3D skeleton`` (Shapes lines) and
``3D trails`` (Tracks, one per node, with a tail). Every point without a 3D position is listed
with the reason.

"Show: camera views" puts the cameras' videos side by side in 2D (a grid, one cell per camera,
on the session's frame axis) with the labelling aids of :func:`~..core.multiview.predict_views`:

* ``2D labels``: every camera's labels, coloured by node;
* ``reprojected``: where each node must be in each camera according to the *other* cameras
  (their 3D point projected), also in cameras that have no label for it yet;
* ``epipolar lines``: for a node labelled in only one other camera, the curve it must lie on;
* ``reprojection outliers``: a red line from each label that is more than the threshold away
  from its reprojection to that reprojection.

The curves and lines are Vectors layers (one segment per vector).

The "Reprojection suspects" list ranks those labels (camera, frame, node, px); choosing one
goes to its frame and centres the view on it. The dock registers as "3D" in napari.yaml.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                            QListWidget, QPlainTextEdit, QPushButton, QSpinBox)

from .dock import PoseDock

__all__ = ["MultiviewDock", "LAYER_NAMES", "VIEW_LAYER_NAMES", "MODES"]

LAYER_NAMES = ("3D poses", "3D skeleton", "3D trails")
VIEW_LAYER_NAMES = ("2D labels", "reprojected", "epipolar lines", "reprojection outliers")
MODES = ("3D poses", "camera views")
_GAP = 40  # px between camera cells


class MultiviewDock(PoseDock):
    """Calibrate and triangulate a multi-camera session; 3D layers in the viewer."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.poses = None
        self.views = None  # Views2D of the last triangulation
        self.predictions = None  # ViewPredictions (leave-one-camera-out)
        self.suspect_rows: list[dict] = []
        self.cell_origin: dict[str, tuple[float, float]] = {}  # camera -> (y, x) of its cell in camera views
        self.session = None
        self.group = None
        self.report = None
        self.config = None  # TriangulationConfig of the last triangulation (edits use it too)
        self._worker = None
        self._edits: dict = {}  # camera -> EditSession of its labels (opened on the first edit)
        self._savers: dict = {}  # camera -> Autosaver of that session
        self._history: list[tuple] = []  # (camera, c, t, i) of each edit, for "Undo edit"
        self._label_keys = np.zeros((0, 4), np.int64)  # (c, t, i, k) of each point of the labels layer
        self._updating = False
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
        self.undo_button.setToolTip("Undo the last label moved in the camera views (saved at once)")
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
        self._forget_edits()  # pending camera-view edits are saved first, and read back below
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
        views = session.load_views()
        poses = triangulate_views(views, group, cfg)
        poses.offsets = {c.name: int(c.offset) for c in session.cameras}
        self.session, self.group, self.views, self.config = session, group, views, cfg
        self.predictions = predict_views(views, group, cfg)
        self.poses = poses
        self._fill_suspects()
        self._publish()
        self._show_mode()

    def _fill_suspects(self) -> None:
        from ..core.multiview import reprojection_suspects

        self.suspect_rows = reprojection_suspects(self.poses, self.config.max_error_px)
        self.suspect_list.blockSignals(True)
        self.suspect_list.clear()
        for r in self.suspect_rows[:500]:
            self.suspect_list.addItem(f"{r['camera']}  frame {r['frame']}  {r['node']}  {r['error_px']:.1f} px"
                                      + ("  (left out)" if r["rejected"] else ""))
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
        import napari

        self.poses = poses
        frame = self._current_frame()
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
        if len(coords):  # (no point in 3D at all: the status line and the messages say why)
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
        self._set_frame(frame)
        counts = poses.counts()
        med = float(np.nanmedian(poses.error_px)) if np.isfinite(poses.error_px).any() else float("nan")
        self.status_label.setText(
            f"{counts['ok']} points in 3D from {len(poses.cameras)} cameras, median reprojection error {med:.2f} px; "
            f"{counts['too few views']} seen in fewer than 2 views, {counts['views disagree']} with disagreeing views, "
            f"{int(poses.rejected.sum())} 2D points left out.")
        msgs = poses.messages(limit=500)
        self.details.setPlainText("\n".join(msgs) if msgs else "Every labelled point has a 3D position.")

    # ------------------------------------------------------------------ camera views
    def _cells(self) -> dict:
        """camera -> (y, x) origin of its cell in a grid of ceil(sqrt(C)) columns."""
        cams = self.views.cameras
        cols = int(np.ceil(np.sqrt(len(cams))))
        w = max(self.group[c].size[0] for c in cams) + _GAP
        h = max(self.group[c].size[1] for c in cams) + _GAP
        return {c: (float((j // cols) * h), float((j % cols) * w)) for j, c in enumerate(cams)}

    def show_camera_views(self) -> None:
        """Replace the layers with the camera views side by side, the labels and the consistency aids."""
        frame = self._current_frame()
        self._remove_layers()
        self.viewer.dims.ndisplay = 2  # before the videos: napari cannot show RGB frames as a volume
        self.cell_origin = self._cells()
        self._add_camera_videos()
        self._add_labels_layer()
        self._show_aids()
        self.viewer.dims.ndisplay = 2
        if self.viewer.dims.ndim == 3:
            self.viewer.dims.axis_labels = ("frame", "y", "x")
        self._set_frame(frame)
        self.viewer.reset_view()
        self.viewer.layers.selection.active = self.viewer.layers[VIEW_LAYER_NAMES[0]]
        self.status_label.setText(self._camera_views_summary())

    def _camera_views_summary(self) -> str:
        from ..core.multiview.consistency import PREDICTED

        views, pred = self.views, self.predictions
        labelled = np.isfinite(views.points).all(-1)
        have = pred.status == PREDICTED
        n_curves = len([cv for cv in pred.curves if len(cv.pixels) > 1])
        with np.errstate(invalid="ignore"):
            n_far = int((np.isfinite(pred.error_px) & (pred.error_px > self.error_spin.value())).sum())
        return (f"{len(views.cameras)} camera views; {int(labelled.sum())} labels, {int(have.sum())} reprojections "
                f"from the other cameras ({int((have & ~labelled).sum())} where a camera has no label yet), "
                f"{n_curves} epipolar lines, {n_far} labels more than {self.error_spin.value():.0f} px from their "
                "reprojection. Drag a label to correct it (saved at once).")

    def _node_colors(self) -> np.ndarray:
        import napari

        k_n = len(self.views.node_names)
        return napari.utils.colormaps.ensure_colormap("turbo").map(np.arange(k_n) / max(1, k_n - 1))

    def _marker_size(self) -> float:
        return max(4.0, max(self.group[c].size[0] for c in self.views.cameras) / 120)

    def _view_coords(self, arr: np.ndarray, mask: np.ndarray):
        """(frame, y, x) in the camera-views plane of ``arr[mask]`` (C, T, I, K, 2), and the indices."""
        views = self.views
        c_i, t_i, i_i, k_i = np.nonzero(mask)
        org = np.array([self.cell_origin[views.cameras[c]] for c in c_i]).reshape(-1, 2)
        yx = arr[c_i, t_i, i_i, k_i][:, ::-1] + org
        return np.column_stack([views.frames[t_i], yx]), c_i, t_i, i_i, k_i

    def _view_features(self, c_i, i_i, k_i, **extra) -> dict:
        views = self.views
        return {"camera": np.asarray(views.cameras, object)[c_i], "node": np.asarray(views.node_names, object)[k_i],
                "individual": np.asarray(views.individuals, object)[i_i], **extra}

    def _add_camera_videos(self) -> None:
        from .reader import frames

        for cam in self.views.cameras:
            video = self.session.camera(cam).video
            if video is None or not Path(video).exists():
                continue
            data = frames(video, warn=lambda text: self.notify(text, "warning"))
            y0, x0 = self.cell_origin[cam]
            offset = int(self.session.camera(cam).offset)
            self.viewer.add_image(data, name=f"{cam} video", rgb=data.ndim == 4, translate=(-offset, y0, x0),
                                  metadata={"posetrack_kind": "multiview"})

    def _add_labels_layer(self) -> None:
        """Every camera's labels (editable: a drag is saved to that camera's labels store)."""
        labelled = np.isfinite(self.views.points).all(-1)
        data, c_i, t_i, i_i, k_i = self._view_coords(self.views.points, labelled)
        self._label_keys = np.column_stack([c_i, t_i, i_i, k_i])
        layer = self.viewer.add_points(data, name=VIEW_LAYER_NAMES[0], size=self._marker_size(),
                                       face_color=self._node_colors()[k_i], border_color="white", border_width=0.1,
                                       features=self._view_features(c_i, i_i, k_i), out_of_slice_display=False)
        layer.mode = "select"
        layer.events.data.connect(self._on_labels_data)

    def _aid_layers(self) -> list[tuple[str, str, np.ndarray, dict]]:
        """(name, kind, data, keyword arguments) of the reprojected points, epipolar lines and outlier lines."""
        from ..core.multiview.consistency import PREDICTED

        views, pred = self.views, self.predictions
        size, node_color = self._marker_size(), self._node_colors()
        out = []
        sel = (pred.status == PREDICTED) & np.isfinite(pred.points).all(-1)
        data, c_i, _, i_i, k_i = self._view_coords(pred.points, sel)
        out.append((VIEW_LAYER_NAMES[1], "points", data, dict(
            size=size * 1.6, symbol="ring", face_color=node_color[k_i], out_of_slice_display=False,
            features=self._view_features(c_i, i_i, k_i, error_px=pred.error_px[sel], n_views=pred.n_sources[sel]))))
        # epipolar curves and outlier lines as Vectors (segments): napari's 2D Shapes paths need a
        # numba build that this environment's numba cannot compile
        curves = [cv for cv in pred.curves if len(cv.pixels) > 1]
        if curves:
            segs, seg_cv = [], []
            for cv in curves:
                yx = cv.pixels[:, ::-1] + np.array(self.cell_origin[cv.camera])
                t = np.full((len(yx) - 1, 1), float(views.frames[cv.t]))
                segs.append(np.stack([np.column_stack([t, yx[:-1]]),
                                      np.column_stack([np.zeros_like(t), yx[1:] - yx[:-1]])], 1))
                seg_cv += [cv] * (len(yx) - 1)
            out.append((VIEW_LAYER_NAMES[2], "vectors", np.concatenate(segs), dict(
                edge_width=size / 3, edge_color=np.array([node_color[cv.k] for cv in seg_cv]),
                features={"camera": [cv.camera for cv in seg_cv], "source": [cv.source for cv in seg_cv],
                          "node": [views.node_names[cv.k] for cv in seg_cv]})))
        with np.errstate(invalid="ignore"):
            far = np.isfinite(pred.error_px) & (pred.error_px > self.error_spin.value())
        if far.any():
            a = self._view_coords(views.points, far)[0]
            b = self._view_coords(pred.points, far)[0]
            out.append((VIEW_LAYER_NAMES[3], "vectors", np.stack([a, b - a], 1), dict(
                edge_color="red", edge_width=size / 3, features={"error_px": pred.error_px[far]})))
        return out

    def _show_aids(self) -> None:
        """(Re)draw the reprojections, epipolar lines and outlier lines above the labels; the labels stay active."""
        active = self.viewer.layers.selection.active
        for name in VIEW_LAYER_NAMES[1:]:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        for name, kind, data, kwargs in self._aid_layers():
            if kind == "points":
                self.viewer.add_points(data, name=name, **kwargs)
            else:
                self.viewer.add_vectors(data, name=name, **kwargs)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active

    # ------------------------------------------------------------------ editing in the camera views
    def _on_labels_data(self, event) -> None:
        from napari.layers.base import ActionType

        if self._updating or getattr(event, "action", None) != ActionType.CHANGED or self.views is None:
            return
        idx = [int(i) for i in (getattr(event, "data_indices", ()) or ()) if 0 <= int(i) < len(self._label_keys)]
        if idx and self._guard(self.move_labels, idx) is None:
            self._put_labels_back()  # refused (outside the image, store not writable...): nothing changed

    def move_labels(self, rows) -> bool:
        """Save the labels-layer points ``rows`` (just dragged) to their cameras and update the other views."""
        from ..core.multiview.label_edits import instance_in_view, move_label_command

        layer = self.viewer.layers[VIEW_LAYER_NAMES[0]]
        data = np.asarray(layer.data)
        views, touched, saved = self.views, [], []
        for j in rows:
            c, t, i, k = (int(v) for v in self._label_keys[j])
            cam = views.cameras[c]
            y0, x0 = self.cell_origin[cam]
            frame = int(views.frames[t]) + int(self.session.camera(cam).offset)
            who = None if len(views.individuals) == 1 else views.individuals[i]
            edit = self._edit_session(cam)
            cmd = move_label_command(edit.dataset, frame=frame, node=views.node_names[k], individual=who,
                                     xy=(data[j, 2] - x0, data[j, 1] - y0), camera=cam,
                                     image_size=tuple(self.group[cam].size))
            self._ensure_edit_store(cam)
            edit.push(cmd)
            self._history.append((cam, c, t, i))
            views.points[c, t, i], views.scores[c, t, i] = instance_in_view(edit.dataset, frame, views.node_names, who)
            touched.append(t)
            saved.append(cam)
        for cam in dict.fromkeys(saved):
            self._savers[cam].save_now()
        self._after_edit(touched)
        names = ", ".join(f"{cam} -> {self._edits[cam].store.path.name}" for cam in dict.fromkeys(saved))
        self.status_label.setText(f"Moved {len(rows)} label(s); saved ({names}). The other views follow.")
        return True

    def undo_edit(self) -> None:
        """Undo the last label moved in the camera views (saved at once, like the edit)."""
        from ..core.multiview.label_edits import instance_in_view

        if not self._history:
            self.status_label.setText("No edit in the camera views to undo.")
            return
        cam, c, t, i = self._history.pop()
        edit = self._edits[cam]
        edit.undo()
        self._savers[cam].save_now()
        views = self.views
        who = None if len(views.individuals) == 1 else views.individuals[i]
        frame = int(views.frames[t]) + int(self.session.camera(cam).offset)
        views.points[c, t, i], views.scores[c, t, i] = instance_in_view(edit.dataset, frame, views.node_names, who)
        self._put_labels_back()
        self._after_edit([t])
        self.status_label.setText(f"Undid the last edit in {cam} (frame {frame}); saved.")

    def _after_edit(self, t_indices) -> None:
        """Predictions, 3D points and suspects of the edited frames again; redraw the aids."""
        from ..core.multiview.label_edits import update_poses, update_predictions

        update_predictions(self.predictions, self.views, self.group, self.config, t_indices)
        update_poses(self.poses, self.views, self.group, self.config, t_indices)
        self._fill_suspects()
        self._show_aids()
        self.undo_button.setEnabled(bool(self._history))
        self._publish()

    def _put_labels_back(self) -> None:
        """The labels layer at the positions of ``self.views`` (after a refused move or an undo)."""
        layer = self.viewer.layers[VIEW_LAYER_NAMES[0]] if VIEW_LAYER_NAMES[0] in self.viewer.layers else None
        if layer is None or not len(self._label_keys):
            return
        c, t, i, k = self._label_keys.T
        org = np.array([self.cell_origin[self.views.cameras[j]] for j in c]).reshape(-1, 2)
        data = np.column_stack([self.views.frames[t], self.views.points[c, t, i, k][:, ::-1] + org])
        self._updating = True
        try:
            layer.data = data
        finally:
            self._updating = False

    def _edit_session(self, cam: str):
        """The editing session of camera ``cam``'s labels (its edits store, or its labels file until the first edit)."""
        if cam not in self._edits:
            from ..core.io import load_dataset
            from ..core.multiview.label_edits import labels_source
            from ..core.session import EditSession
            from .autosave import Autosaver

            src = labels_source(self.session.camera(cam))
            if src is not None and src.is_dir():
                from ..core.store import ProjectStore

                edit = EditSession.from_store(ProjectStore.open(src, mode="r+"))
            else:
                edit = EditSession(load_dataset(src, check_videos="ignore"))
            self._edits[cam] = edit
            self._savers[cam] = Autosaver(edit, delay_ms=self.shell.autosave_delay_ms,
                                          on_error=lambda text: self.notify(text, "error"))
        return self._edits[cam]

    def _ensure_edit_store(self, cam: str) -> None:
        """Create the project store beside camera ``cam``'s labels file before its first edit."""
        import os

        from ..core.errors import PoseTrackError
        from ..core.multiview.label_edits import edits_store_path

        edit = self._edits[cam]
        if edit.store is not None:
            return
        labels = Path(self.session.camera(cam).labels)
        target = edits_store_path(labels)
        if not os.access(target.parent, os.W_OK):
            raise PoseTrackError(f"Cannot save the edits of camera {cam!r}: its folder {target.parent} is not "
                                 "writable, so the move was not kept.",
                                 path=target.parent, hint="Copy the session to a folder you can write to (or point "
                                 "the session file's labels there) and triangulate again.")
        from ..core.store import ProjectStore

        edit.store = ProjectStore.create(target, dataset=edit.dataset)
        self.notify(f"Edits of camera {cam} are saved to a new project store {target} ({labels.name} is not "
                    "changed; the session reads that store from now on).", "info")

    def save_edits(self) -> None:
        """Save every camera's pending edits now (before triangulating again, and on close)."""
        for saver in self._savers.values():
            saver.save_now()

    def _forget_edits(self) -> None:
        self.save_edits()
        for saver in self._savers.values():
            saver.stop()
        self._edits, self._savers, self._history = {}, {}, []

    def goto_suspect(self, row: int) -> None:
        """Go to the frame of suspect ``row`` and, in camera views, centre on its label."""
        if not 0 <= row < len(self.suspect_rows):
            return
        r = self.suspect_rows[row]
        t = r["frame"] - int(self.poses.offsets.get(r["camera"], 0))  # the session frame
        self._set_frame(t)
        if self.mode_combo.currentText() == "camera views" and r["camera"] in self.cell_origin:
            c = self.views.cameras.index(r["camera"])
            ti = int(np.flatnonzero(self.views.frames == t)[0])
            i, k = self.views.individuals.index(r["individual"]), self.views.node_names.index(r["node"])
            x, y = self.views.points[c, ti, i, k]
            y0, x0 = self.cell_origin[r["camera"]]
            self.viewer.camera.center = (y + y0, x + x0)
            self.viewer.camera.zoom = max(self.viewer.camera.zoom, 2.0)
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
        names = list(LAYER_NAMES) + list(VIEW_LAYER_NAMES)
        names += [f"{c} video" for c in (self.views.cameras if self.views is not None else [])]
        for name in names:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)

    def on_shutdown(self) -> None:
        from .multiview_context import withdraw

        try:
            self._forget_edits()
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
