"""Proofreading dock: track, review the ranked suspect frames, fix identities, save.

Every edit is an undoable command of :mod:`napari_posetrack.core.proofread` pushed on the
viewer's shared :class:`~napari_posetrack.core.session.EditSession`, and saved to its
project store. Errors are shown as napari notifications; the dock never raises into napari.

The instances are drawn once, in the Labeling dock's ``keypoints`` layer (opened with the
session), coloured by identity while proofreading (the same colours as the ``identities``
trails and the timeline); select an instance's points there for "Selected instance -> track A".
Name the animals (the identity classes) with "Selected → new track" and "Rename track A" (a typed name).
Keys (while the ``identities`` layer is selected): ``n`` next suspect, ``Shift+n`` previous suspect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QFileDialog, QFormLayout, QGroupBox, QLineEdit, QListWidget, QMenu, QProgressBar

from ..core.errors import PoseTrackError
from ..core.session import EditSession
from .dock import PoseDock
from .timeline import TrackTimeline
from .tracks_layer import show_tracks
from .widgets import button, combo, dspin, label, row, spin

__all__ = ["ProofreadingDock"]


class ProofreadingDock(PoseDock):
    """Tracking + identity proofreading for the viewer's session.

    Attributes that tests (or scripts) may replace: ``ask_open_path(kind) -> path or None``
    (kind ``"store"``: a ``*.posetrack.zarr`` folder; ``"file"``: a poses file) and ``notify``.
    """

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.session: EditSession | None = None
        self.queue = None
        self._pos = -1
        self._worker = None
        self.ask_open_path = self._open_dialog_path
        lay = self.body_layout
        lay.addLayout(self._build_open_row())
        lay.addWidget(self._build_track_box())
        self._build_suspects(lay)
        lay.addWidget(self._build_edit_box())
        self.undo_btn = button("Undo", lambda: self._ok(self.session.undo))
        self.redo_btn = button("Redo", lambda: self._ok(self.session.redo))
        self.save_btn = button("Save", self.save)
        lay.addLayout(row(self.undo_btn, self.redo_btn, self.save_btn))
        lay.addStretch(1)

        self.listen(self.viewer.dims.events.current_step, self._on_step)
        self.shell.connect(self, session=self._set_session, change=lambda action, cmd: self.refresh())
        from . import multiview_context

        multiview_context.connect(self.viewer, self, lambda: self.session is not None and self.refresh())
        if self.shell.session is not None:
            self._set_session(self.shell.session)
        self._enable()

    # ------------------------------------------------------------------ UI
    def _build_open_row(self):
        """Open… (a store or a poses file) and the status line."""
        self.open_btn = button("Open…")
        menu = QMenu(self.open_btn)
        self.open_store_action = menu.addAction("Project store (*.posetrack.zarr folder)…")
        self.open_file_action = menu.addAction("Poses file (.slp, DeepLabCut, analysis .h5, NWB, …)…")
        self.open_store_action.triggered.connect(lambda: self._open_clicked("store"))
        self.open_file_action.triggered.connect(lambda: self._open_clicked("file"))
        self.open_btn.setMenu(menu)
        self.status = self.error_label = label("no project open", wrap=False)
        top = row(self.open_btn)
        top.addWidget(self.status, 1)
        return top

    def _build_track_box(self) -> QGroupBox:
        """Tracker (from the registry), max tracks, window, Track predictions."""
        box = QGroupBox("Track")
        form = QFormLayout(box)
        from ..core.tracking import TRACKERS

        self.tracker = combo(TRACKERS)  # the registry: a new tracker shows up here
        self.max_tracks = spin(0, 1000, special="no limit")
        self.window = spin(1, 100, 5)
        self.identity_weight = dspin(0.0, 1.0, 0.5)
        self.identity_weight.setToolTip("Instances with identity-model class probabilities: their weight against "
                                        "the poses when tracking (0 = poses only); the tracks are then named "
                                        "after the animals.")
        self.track_btn = button("Track predictions", self.run_tracking)
        self.progress = QProgressBar()
        form.addRow("tracker", self.tracker)
        form.addRow("max tracks", self.max_tracks)
        form.addRow("window", self.window)
        form.addRow("identity weight", self.identity_weight)
        form.addRow(self.track_btn, self.progress)
        return box

    def _build_suspects(self, lay) -> None:
        """The ranked suspect frames, previous / next, and the track timeline."""
        lay.addWidget(label("Suspect frames (worst first)"))
        self.suspects = QListWidget()
        self.suspects.setMaximumHeight(140)
        self.suspects.currentRowChanged.connect(self._goto_suspect)
        lay.addWidget(self.suspects)
        self.prev_btn = button("◀ previous", lambda: self.next_suspect(-1))
        self.next_btn = button("next suspect ▶ (n)", lambda: self.next_suspect(1))
        lay.addLayout(row(self.prev_btn, self.next_btn))

        self.timeline = TrackTimeline()
        self.timeline.frame_clicked.connect(self.goto_frame)
        self.timeline.selection_changed.connect(self._on_selection)
        lay.addWidget(self.timeline)

    def _build_edit_box(self) -> QGroupBox:
        """Swap, merge, split, delete and assign: the identity edits on tracks A and B."""
        edit = QGroupBox("Edit identities")
        g = QFormLayout(edit)
        # wide enough for "12: track name" (they were cut off in a narrow dock)
        self.track_a, self.track_b = combo(fit=True), combo(fit=True)
        g.addRow("tracks", row(self.track_a, "and", self.track_b))
        self.start, self.stop = spin(0, 10_000_000), spin(0, 10_000_000)
        g.addRow("frames", row(self.start, "to", self.stop))
        self.swap_btn = button("Swap from start", lambda: self._swap(ranged=False))
        self.swap_range_btn = button("Swap in range", lambda: self._swap(ranged=True))
        self.merge_btn = button("Merge B into A", self._merge)
        self.split_btn = button("Split A at start", self._split)
        self.delete_track_btn = button("Delete track A", self._delete_track)
        self.min_score = dspin(0.0, 1.0, 0.2)
        self.delete_low_btn = button("Delete below score in range", self._delete_low)
        self.assign_btn = button("Selected instance → track A", self._assign_selected)
        self.delete_inst_btn = button("Delete selected instance", self._delete_selected)
        # naming the animals (the identity classes are the track names): rename track A, or start a named track
        self.track_name = QLineEdit()
        self.track_name.setPlaceholderText("name, e.g. F")
        self.track_name.setToolTip("An animal's name. 'Rename track A' gives it to track A (the name of another "
                                   "track merges the two); 'Selected → new track' starts a track of that name.")
        self.track_name.returnPressed.connect(self._rename)
        self.rename_btn = button("Rename track A", self._rename)
        self.new_track_btn = button("Selected → new track", self._assign_new,
                                    tip="The selected instance goes to a new track with the typed name (or to the "
                                        "track of that name if there is one)")
        for r in (row(self.swap_btn, self.swap_range_btn), row(self.merge_btn, self.split_btn, self.delete_track_btn),
                  row(self.min_score, self.delete_low_btn), row(self.assign_btn, self.delete_inst_btn),
                  row(self.track_name, self.rename_btn, self.new_track_btn)):
            g.addRow(r)
        return edit

    # ------------------------------------------------------------------ session
    def open_path(self, path) -> None:
        """Open a project store or a poses file as the viewer's session (errors are shown)."""
        self._guard(self.shell.open, Path(path))

    def _open_dialog_path(self, kind: str):
        if kind == "store":  # a store is a folder: a folder picker that shows *.posetrack.zarr folders
            return QFileDialog.getExistingDirectory(self, "Open a project store (*.posetrack.zarr folder)") or None
        path, _ = QFileDialog.getOpenFileName(
            self, "Open predictions or labels", "",
            "Poses files (*.slp *.yaml *.csv *.h5 *.nwb *.json *.nc);;All files (*)")
        return path or None

    def _open_clicked(self, kind: str) -> None:
        path = self.ask_open_path(kind)
        if path:
            self.open_path(path)

    def on_shutdown(self) -> None:
        if "identities" in self.viewer.layers:
            self.viewer.layers.remove("identities")

    def _set_session(self, session) -> None:
        fresh = session is not None and session is not self.session
        self.session = session
        if fresh:  # the keypoints layer shows the instances (in identity colours once there are tracks)
            self._identity_colours = False
            self.shell.show_labeling()
        self.refresh()

    def _show_identity_colours(self, table) -> None:
        """Colour the keypoints by track the first time this session has tracks (the user may switch back)."""
        if getattr(self, "_identity_colours", True) or not (table.track_id >= 0).any():
            return
        lab = self.shell.labeling_dock()
        if lab is not None:
            self._identity_colours = True
            lab.set_color_by("track")

    def _table_name(self) -> str:
        ds = self.session.dataset
        return "predictions" if len(ds.predictions) else "labels"

    def table(self):
        return getattr(self.session.dataset, self._table_name())

    def _enable(self) -> None:
        on = self.session is not None
        for w in (self.track_btn, self.swap_btn, self.swap_range_btn, self.merge_btn, self.split_btn,
                  self.delete_track_btn, self.delete_low_btn, self.assign_btn, self.delete_inst_btn, self.undo_btn,
                  self.track_name, self.rename_btn, self.new_track_btn,
                  self.redo_btn, self.save_btn,
                  self.next_btn, self.prev_btn):
            w.setEnabled(on)

    # ------------------------------------------------------------------ refresh
    def refresh(self) -> None:
        """Redraw layers, timeline, suspect queue and track lists from the session."""
        self._enable()
        if self.session is None:
            self.status.setText("no project open")
            return
        from ..core.proofread import suspect_frames

        ds = self.session.dataset
        t = self.table()
        store = self.session.store
        where = getattr(store, "path", None) or "in memory"
        ids = np.unique(t.track_id[t.track_id >= 0])
        self._show_identity_colours(t)
        self.status.setText(f"{len(t)} instances, {len(ids)} tracks · {Path(str(where)).name}"
                            + (" · unsaved" if self.session.dirty else ""))
        for box in (self.track_a, self.track_b):
            keep = box.currentData()
            box.blockSignals(True)
            box.clear()
            for i in ids:
                name = ds.track_names[i] if i < len(ds.track_names) else f"track_{i}"
                box.addItem(f"{i}: {name}", int(i))
            j = box.findData(keep)
            box.setCurrentIndex(j if j >= 0 else 0)
            box.blockSignals(False)
        if self.track_b.count() > 1 and self.track_b.currentData() == self.track_a.currentData():
            self.track_b.setCurrentIndex(1)
        n_frames = max((v.n_frames for v in ds.videos), default=0)
        self.timeline.set_data(t.frame_idx, t.track_id, n_frames, ds.track_names)
        from ..core.tracking.identity import identity_disagreements

        # where the identity model names another animal than the track: marks on the lanes + a suspect signal
        disagree = identity_disagreements(t)
        self.timeline.set_identity_marks(t.frame_idx[disagree], t.track_id[disagree])
        self.identity_weight.setEnabled(t.identity_probs.shape[1] >= 2)
        # a multi-camera session open in the 3D dock adds each label's distance from the other cameras
        from .multiview_context import reprojection_signal

        rep = reprojection_signal(self.viewer, self.session, self.shell.source, t)
        self.queue = (suspect_frames(t, identity_disagree=disagree if disagree.any() else None,
                                     track_names=self.session.dataset.track_names, **rep) if len(t) else None)
        self.suspects.blockSignals(True)
        self.suspects.clear()
        if self.queue is not None:
            for (_vid, f), s, r in zip(self.queue.frames, self.queue.scores, self.queue.reasons):
                self.suspects.addItem(f"frame {f}  [{s:.2f}]  {r}")
            self.timeline.set_suspects(self.queue.frames[:, 1])
        self.suspects.blockSignals(False)
        self._pos = -1
        try:
            from .keybindings import bind_suspect_keys

            layer = show_tracks(self.viewer, t, name="identities")
            if layer is not None:
                bind_suspect_keys([layer], self)
        except Exception as exc:  # noqa: BLE001 - layer trouble must not break the dock
            self.notify(f"{type(exc).__name__}: {exc}", "error")

    # ------------------------------------------------------------------ navigation
    def current_frame(self) -> int:
        return int(self.viewer.dims.current_step[0]) if self.viewer.dims.ndim else 0

    def goto_frame(self, frame: int) -> None:
        step = list(self.viewer.dims.current_step)
        if step:
            step[0] = int(frame)
            self.viewer.dims.current_step = tuple(step)
        self.start.setValue(int(frame))
        self.timeline.set_current_frame(int(frame))

    def _on_step(self, event=None) -> None:
        if self.viewer.dims.ndim:
            self.timeline.set_current_frame(self.current_frame())

    def next_suspect(self, direction: int = 1) -> None:
        if self.queue is None or not len(self.queue):
            return
        self._pos = (self._pos + direction) % len(self.queue)
        self.suspects.setCurrentRow(self._pos)

    def _goto_suspect(self, row: int) -> None:
        if self.queue is None or not 0 <= row < len(self.queue):
            return
        self._pos = row
        self.goto_frame(int(self.queue.frames[row, 1]))
        tracks = list(self.queue.tracks[row])
        for box, t in zip((self.track_a, self.track_b), tracks):
            j = box.findData(int(t))
            if j >= 0:
                box.setCurrentIndex(j)
        if len(tracks) == 1 and self.track_b.currentData() == self.track_a.currentData() and self.track_b.count() > 1:
            self.track_b.setCurrentIndex(1 if self.track_b.currentIndex() == 0 else 0)

    def _on_selection(self, sel) -> None:
        if sel is None:
            return
        track, a, b = sel
        j = self.track_a.findData(int(track))
        if j >= 0:
            self.track_a.setCurrentIndex(j)
        self.start.setValue(int(a))
        self.stop.setValue(int(b))

    # ------------------------------------------------------------------ edits
    def _ok(self, fn, *args) -> bool:
        """Run ``fn`` under the shell's error policy; True when it did not fail."""
        if self.session is None:
            return False
        return self._guard(lambda: (fn(*args), True)[1]) is True

    def push(self, cmd) -> bool:
        return self._ok(self.session.push, cmd)

    def _need_tracks(self, *combos) -> bool:
        if any(c.currentData() is None for c in combos):
            from ..core.errors import TrackingError

            self._ok(self._raise, TrackingError("Select the track(s) first (there are no tracks yet?).",
                                                   hint="Run 'Track predictions' or pick tracks in the lists."))
            return False
        return True

    @staticmethod
    def _raise(exc):
        raise exc

    def _swap(self, ranged: bool) -> bool:
        from ..core.proofread import SwapTracks

        stop = self.stop.value() if ranged else None
        if not self._need_tracks(self.track_a, self.track_b):
            return False
        return self.push(SwapTracks(self.track_a.currentData(), self.track_b.currentData(), self.start.value(), stop))

    def _merge(self) -> bool:
        from ..core.proofread import MergeTracks

        if not self._need_tracks(self.track_a, self.track_b):
            return False
        return self.push(MergeTracks(keep=self.track_a.currentData(), remove=self.track_b.currentData()))

    def _split(self) -> bool:
        from ..core.proofread import SplitTrack

        if not self._need_tracks(self.track_a):
            return False
        return self.push(SplitTrack(self.track_a.currentData(), self.start.value()))

    def _delete_track(self) -> bool:
        from ..core.proofread import DeleteTrack

        if not self._need_tracks(self.track_a):
            return False
        return self.push(DeleteTrack(self.track_a.currentData(), tables=(self._table_name(),)))

    def _delete_low(self) -> bool:
        from ..core.proofread import DeleteLowScore

        return self.push(DeleteLowScore(self.min_score.value(), self.start.value(), self.stop.value()))

    def selected_instances(self) -> list[int]:
        """Rows (in the tracked table) of the instances whose points are selected in the keypoints layer."""
        lab = self.shell.labeling_dock()
        c = lab.controller if lab is not None else None
        if c is None or c._closed or not c.points.selected_data:
            return []
        feats = c.points.features.iloc[sorted(c.points.selected_data)]
        source = 1 if self._table_name() == "predictions" else 0
        return sorted({int(i) for i in feats.loc[feats["source"] == source, "instance"]})

    def _assign_selected(self) -> bool:
        from ..core.errors import TrackingError
        from ..core.proofread import AssignTrack

        rows = self.selected_instances()
        if len(rows) != 1:
            return self._ok(self._raise, TrackingError(f"Select the points of one instance (got {len(rows)}).",
                                                          hint="Select its points in the keypoints layer."))
        if not self._need_tracks(self.track_a):
            return False
        return self.push(AssignTrack(self._table_name(), rows[0], self.track_a.currentData()))

    def _rename(self) -> bool:
        """Give track A the typed name (the name of another track merges A into it); the field is cleared."""
        from ..core.identity_commands import RenameTrack

        if not self._need_tracks(self.track_a):
            return False
        ok = self.push(RenameTrack(self.track_a.currentData(), self.track_name.text()))
        if ok:
            self.track_name.clear()
        return ok

    def _assign_new(self) -> bool:
        """The selected instance to the track with the typed name: that track if the project has it, else a new
        one (named ``track_<i>`` when nothing is typed), in one undo step."""
        from ..core.errors import TrackingError
        from ..core.identity_commands import RenameTrack
        from ..core.labeling import CompoundCommand
        from ..core.proofread import AssignTrack

        rows = self.selected_instances()
        if len(rows) != 1:
            return self._ok(self._raise, TrackingError(f"Select the points of one instance (got {len(rows)}).",
                                                          hint="Select its points in the keypoints layer."))
        name = self.track_name.text().strip()
        names = [str(n) for n in self.session.dataset.track_names]
        if name in names:
            cmd = AssignTrack(self._table_name(), rows[0], names.index(name))
        else:
            cmd = AssignTrack(self._table_name(), rows[0], None)
            if name:
                cmd = CompoundCommand([cmd, RenameTrack(len(names), name)], text=f"new track {name!r}")
        ok = self.push(cmd)
        if ok:
            self.track_name.clear()
        return ok

    def _delete_selected(self) -> bool:
        from ..core.proofread import DeleteInstances

        rows = self.selected_instances()
        if not rows:
            return False
        return self.push(DeleteInstances(self._table_name(), rows))

    def save(self) -> bool:
        if self.session is None:
            return False
        ok = self._ok(self.shell.save, True)
        self.refresh()
        return ok

    # ------------------------------------------------------------------ tracking
    def run_tracking(self):
        """Track the session's instances in a worker; the result is one undoable command."""
        if self.session is None:
            return None
        from napari.qt.threading import thread_worker

        from ..core.tracking import TRACKERS, TrackerConfig, iter_track

        table = self.table()
        name = self._table_name()
        try:
            named = table.identity_probs.shape[1] >= 2  # identity-model probabilities: columns = the tracks
            cfg = TrackerConfig(tracker=self.tracker.currentText(), window=self.window.value(),
                                max_tracks=self.max_tracks.value() or None,
                                identity_weight=self.identity_weight.value() if named else 0.0)
            class_names = list(self.session.dataset.track_names) if named else None
        except PoseTrackError as exc:
            self.notify(str(exc), "error")
            return None
        source = None
        if getattr(TRACKERS.get(cfg.tracker), "needs_images", False):  # the registry says which need frames
            videos = self.session.dataset.videos
            store = self.session.store

            def source(vid):
                if store is not None:
                    return store.open_video(vid)
                from ..core.video import open_video

                return open_video(videos[vid].path)

        worker = thread_worker(iter_track, start_thread=False)(table, cfg, frame_source=source,
                                                               class_names=class_names)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda res: self._on_tracked(name, res))
        worker.errored.connect(lambda exc: self.notify(f"Tracking failed: {exc}", "error"))
        self.track_btn.setEnabled(False)
        worker.finished.connect(lambda: self.track_btn.setEnabled(True))
        self._worker = worker
        worker.start()
        return worker

    def _on_progress(self, ev) -> None:
        if ev.total:
            self.progress.setMaximum(int(ev.total))
            self.progress.setValue(int(ev.step))

    def _on_tracked(self, name, result) -> None:
        from ..core.proofread import SetTracks

        self.push(SetTracks(name, result.table.track_id, result.track_names))
        for w in result.warnings:
            self.notify(w, "warning")
