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
        from ..core.multiview import (TriangulationConfig, load_calibration, predict_views, reprojection_suspects,
                                      triangulate_views)

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
        else:
            group = session.load_calibration()
        cfg = TriangulationConfig(max_error_px=self.error_spin.value())
        views = session.load_views()
        poses = triangulate_views(views, group, cfg)
        poses.offsets = {c.name: int(c.offset) for c in session.cameras}
        self.session, self.group, self.views = session, group, views
        self.predictions = predict_views(views, group, cfg)
        self.suspect_rows = reprojection_suspects(poses, cfg.max_error_px)
        self.suspect_list.blockSignals(True)
        self.suspect_list.clear()
        for r in self.suspect_rows[:500]:
            self.suspect_list.addItem(f"{r['camera']}  frame {r['frame']}  {r['node']}  {r['error_px']:.1f} px"
                                      + ("  (left out)" if r["rejected"] else ""))
        self.suspect_list.blockSignals(False)
        self.poses = poses
        self._show_mode()

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
        import napari

        from ..core.multiview.consistency import PREDICTED

        views, pred = self.views, self.predictions
        frame = self._current_frame()
        self._remove_layers()
        self.viewer.dims.ndisplay = 2  # before the videos: napari cannot show RGB frames as a volume
        self.cell_origin = cells = self._cells()
        cmap = napari.utils.colormaps.ensure_colormap("turbo")
        k_n = len(views.node_names)
        node_color = cmap.map(np.arange(k_n) / max(1, k_n - 1))
        for cam in views.cameras:
            video = self.session.camera(cam).video
            if video is None or not Path(video).exists():
                continue
            from .reader import frames

            data = frames(video, warn=lambda text: self.notify(text, "warning"))
            y0, x0 = cells[cam]
            offset = int(self.session.camera(cam).offset)
            self.viewer.add_image(data, name=f"{cam} video", rgb=data.ndim == 4, translate=(-offset, y0, x0),
                                  metadata={"posetrack_kind": "multiview"})

        def coords(arr, mask):
            c_i, t_i, i_i, k_i = np.nonzero(mask)
            org = np.array([cells[views.cameras[c]] for c in c_i]).reshape(-1, 2)
            yx = arr[c_i, t_i, i_i, k_i][:, ::-1] + org
            return np.column_stack([views.frames[t_i], yx]), c_i, i_i, k_i

        def feats(c_i, i_i, k_i, **extra):
            return {"camera": np.asarray(views.cameras, object)[c_i], "node": np.asarray(views.node_names,
                                                                                         object)[k_i],
                    "individual": np.asarray(views.individuals, object)[i_i], **extra}

        size = max(4.0, max(self.group[c].size[0] for c in views.cameras) / 120)
        labelled = np.isfinite(views.points).all(-1)
        data, c_i, i_i, k_i = coords(views.points, labelled)
        self.viewer.add_points(data, name=VIEW_LAYER_NAMES[0], size=size, face_color=node_color[k_i],
                               border_color="white", border_width=0.1, features=feats(c_i, i_i, k_i),
                               out_of_slice_display=False)
        have = pred.status == PREDICTED
        data, c_i, i_i, k_i = coords(pred.points, have & np.isfinite(pred.points).all(-1))
        sel = have & np.isfinite(pred.points).all(-1)
        self.viewer.add_points(data, name=VIEW_LAYER_NAMES[1], size=size * 1.6, symbol="ring",
                               face_color=node_color[k_i], features=feats(
                                   c_i, i_i, k_i, error_px=pred.error_px[sel], n_views=pred.n_sources[sel]),
                               out_of_slice_display=False)
        # epipolar curves and outlier lines as Vectors (segments): napari's 2D Shapes paths need a
        # numba build that this environment's numba cannot compile
        curves = [cv for cv in pred.curves if len(cv.pixels) > 1]
        if curves:
            segs, seg_cv = [], []
            for cv in curves:
                yx = cv.pixels[:, ::-1] + np.array(cells[cv.camera])
                t = np.full((len(yx) - 1, 1), float(views.frames[cv.t]))
                start = np.column_stack([t, yx[:-1]])
                step = np.column_stack([np.zeros_like(t), yx[1:] - yx[:-1]])
                segs.append(np.stack([start, step], 1))
                seg_cv += [cv] * len(start)
            self.viewer.add_vectors(np.concatenate(segs), name=VIEW_LAYER_NAMES[2], edge_width=size / 3,
                                    edge_color=np.array([node_color[cv.k] for cv in seg_cv]),
                                    features={"camera": [cv.camera for cv in seg_cv],
                                              "source": [cv.source for cv in seg_cv],
                                              "node": [views.node_names[cv.k] for cv in seg_cv]})
        with np.errstate(invalid="ignore"):
            far = np.isfinite(pred.error_px) & (pred.error_px > self.error_spin.value())
        if far.any():
            a, _, _, _ = coords(views.points, far)
            b, _, _, _ = coords(pred.points, far)
            self.viewer.add_vectors(np.stack([a, b - a], 1), name=VIEW_LAYER_NAMES[3], edge_color="red",
                                    edge_width=size / 3, features={"error_px": pred.error_px[far]})
        self.viewer.dims.ndisplay = 2
        if self.viewer.dims.ndim == 3:
            self.viewer.dims.axis_labels = ("frame", "y", "x")
        self._set_frame(frame)
        self.viewer.reset_view()
        n_pred = int((have & ~labelled).sum())
        self.status_label.setText(
            f"{len(views.cameras)} camera views; {int(labelled.sum())} labels, {int(have.sum())} reprojections from "
            f"the other cameras ({n_pred} where a camera has no label yet), {len(curves)} epipolar lines, "
            f"{int(far.sum())} labels more than {self.error_spin.value():.0f} px from their reprojection.")

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
        if self._worker is not None:
            try:
                self._worker.quit()
            except RuntimeError:
                pass
        try:
            self._remove_layers()
        except (RuntimeError, KeyError, ValueError):
            pass
