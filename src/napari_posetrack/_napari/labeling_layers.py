"""The labeling layer controller: an EditSession shown as napari Points + Vectors layers.

Only the current frame's keypoints are in the Points layer (2D data, broadcast over the
frame axis), because napari's Points layer slows down with very many points. Every user
action (click, drag, key) becomes a core command pushed on the session; the layers are
rebuilt from ``session.dataset`` after each change, so the layer is never the source of truth.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from napari.layers.base import ActionType

from .convert import FramePoints, frame_edges, frame_points
from .keypoints_layer import KeypointsLayer
from .notify import notify as notify_default
from .styles import TEXT_STYLE, edge_colors, point_size, point_style
from ..core.errors import PoseTrackError
from ..core.labeling import (
    AcceptPredictions, CompoundCommand, DeleteInstances, LabelingError, MoveNodes, SetNodeState, SetTrack,
    copy_frame_command, new_instance, next_unlabeled_suggestion,
)
from ..core.posetable import UNLABELED

__all__ = ["LabelingLayers"]



class LabelingLayers:
    """Keeps a Points layer (current frame) and a Vectors layer (edges) in sync with a session.

    Parameters
    ----------
    viewer : napari.Viewer
    session : EditSession
    video_id : int
        Video shown (the frame is ``viewer.dims.current_step[0]``).
    notify : callable(str, level), optional
        Where messages go (default: napari notifications).
    listen : bool
        Follow the session's changes itself (False: the owner forwards them to
        :meth:`_on_session_change`, so that closing the owner stops them).
    token : str, optional
        The viewer shell's token, put in the keypoints layer's metadata (``posetrack_session``)
        so that napari's File > Save Layers saves the whole session.
    """

    def __init__(self, viewer, session, video_id: int = 0, notify: Callable | None = None, *, listen: bool = True,
                 token: str | None = None):
        self.viewer = viewer
        self.session = session
        self.video_id = int(video_id)
        self.notify = notify if notify is not None else notify_default
        self.color_by = "node"  # or "track"
        self.template = "mean"  # or "nearest"
        self.click_mode = "instance"  # "instance" (whole skeleton) | "node" (node by node) | "off"
        self.show_predictions = True
        self.jump_size = 10
        self.current_node = 0
        self.current_row: int | None = None  # row in labels of the instance being edited
        self._updating = False
        self._closed = False
        # videos missing from the start were reported as "not found" when opened; this set
        # then only warns about a video that disappears while open
        self._missing_warned: set[str] = {str(v.path) for v in session.dataset.videos
                                          if v.kind in ("video", "images") and v.path and not os.path.exists(v.path)}
        # what each point of the layer is: source (0 user / 1 predicted), table row, node, ...
        self._fp: FramePoints = frame_points([], self.video_id, 0)
        size = self._point_size()
        self.edges = viewer.add_vectors(np.zeros((0, 2, 2)), ndim=2, name="skeleton", edge_width=max(1.0, size / 5),
                                        vector_style="line", opacity=0.9)
        meta = {"posetrack_kind": "keypoints", "video_id": self.video_id}
        if token:
            meta["posetrack_session"] = token  # the writer saves this session, not the layer's one frame
        # a Points layer only this controller fills (other plugins' writes cannot become edits)
        self.points = viewer.add_layer(KeypointsLayer(np.zeros((0, 2)), ndim=2, name="keypoints", size=size,
                                                      features=self._fp.features(), border_width=0.15,
                                                      metadata=meta, text=TEXT_STYLE))
        self.points.mode = "select"
        self.points.mouse_drag_callbacks.insert(0, self._on_press)
        self.points.mouse_drag_callbacks.append(self._live_edges)
        self.points.events.data.connect(self._on_data)
        viewer.dims.events.current_step.connect(self._on_step)
        if listen:  # else the owner forwards the session's changes (and stops when it closes)
            session.on_change(self._on_session_change)
        self._last_frame = None
        self._style_key = self._edge_key = None
        self.refresh()

    # ------------------------------------------------------------------ state
    @property
    def dataset(self):
        return self.session.dataset

    @property
    def frame(self) -> int:
        dims = self.viewer.dims
        return int(dims.current_step[0]) if dims.ndim >= 3 else 0

    def set_frame(self, frame: int) -> None:
        v = self.dataset.videos[self.video_id] if self.video_id < len(self.dataset.videos) else None
        if v is not None and v.n_frames:
            frame = int(np.clip(frame, 0, v.n_frames - 1))
        if self.viewer.dims.ndim >= 3:
            self.viewer.dims.set_current_step(0, int(frame))

    def set_video(self, video_id: int) -> None:
        self.video_id = int(video_id)
        self.current_row = None
        self.refresh()

    def close(self) -> None:
        """Stop following the session and remove the layers."""
        self._closed = True
        try:
            self.viewer.dims.events.current_step.disconnect(self._on_step)
        except (TypeError, ValueError):
            pass
        for layer in (self.points, self.edges):
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)

    def _point_size(self) -> float:
        vids = self.dataset.videos
        v = vids[self.video_id] if self.video_id < len(vids) else None
        return point_size(getattr(v, "width", None), getattr(v, "height", None))

    # ------------------------------------------------------------------ layer <- dataset
    def _on_step(self, event=None) -> None:
        if self._closed:
            return
        f = self.frame
        if f != self._last_frame:
            self.current_row, self.current_node = None, 0  # a new frame starts at the first node
            self.refresh()

    def _on_session_change(self, action, cmd) -> None:
        if not self._closed and action != "save":
            self.refresh()

    def _frame_rows(self, table, frame) -> np.ndarray:
        return np.flatnonzero((table.frame_idx == frame) & (table.video_id == self.video_id))

    # what each point of the layer is (tests and key actions read these)
    _src = property(lambda self: self._fp.source)
    _row = property(lambda self: self._fp.row)
    _node = property(lambda self: self._fp.node)

    def refresh(self) -> None:
        """Rebuild both layers from the current frame of the session's dataset."""
        if self._closed:
            return
        ds = self.dataset
        f = self.frame
        self._last_frame = f
        self._check_video()
        tables = [(0, ds.labels)] + ([(1, ds.predictions)] if self.show_predictions else [])
        fp = self._fp = frame_points(tables, self.video_id, f)
        style_key = (self.color_by, fp.source.tobytes(), fp.node.tobytes(), np.asarray(fp.state).tobytes(),
                     fp.track.tobytes() if self.color_by == "track" else b"",
                     fp.score.tobytes() if self.color_by == "score" else b"")
        self._updating = True
        pts = self.points
        try:
            # one napari refresh for the whole update: setters with events blocked, then refresh()
            with pts.events.blocker_all(), pts.writing():
                pts.selected_data = set()
                pts.data = fp.yx
                pts.features = fp.features()
                if len(fp) and style_key != self._style_key:  # same layout as the last frame: colours kept
                    for name, value in point_style(fp.node, fp.state, fp.source, fp.track, score=fp.score,
                                                   n_nodes=ds.skeleton.n_nodes, color_by=self.color_by).items():
                        setattr(pts, name, value)
            self._style_key = style_key if len(fp) else None
            self._select_current()
            pts.refresh(thumbnail=False)  # the layer-list thumbnail is not worth a redraw per frame
        finally:
            self._updating = False
        self._update_edges()

    def _update_edges(self, yx: np.ndarray | None = None) -> None:
        vec, pred, track = frame_edges(self._fp, self.dataset.skeleton.edges, self.dataset.skeleton.n_nodes, yx)
        colors = edge_colors(pred, track, self.color_by)
        ckey = colors.tobytes()
        with self.edges.events.blocker_all():
            self.edges.data = vec
            if len(vec) and ckey != self._edge_key:  # same colours as the last frame: kept
                self.edges.edge_color = colors
        self._edge_key = ckey if len(vec) else None
        self.edges.refresh(thumbnail=False)

    def _live_edges(self, layer, event):
        """While napari drags points, keep the edges on them."""
        yield
        while event.type == "mouse_move":
            if len(layer.data) == len(self._fp):
                self._update_edges(np.asarray(layer.data))
            yield

    def _select_current(self) -> None:
        if self.current_row is None:
            return
        hit = np.flatnonzero((self._src == 0) & (self._row == self.current_row) & (self._node == self.current_node))
        self.points.selected_data = set(hit.tolist())

    def _check_video(self) -> None:
        vids = self.dataset.videos
        if self.video_id >= len(vids):
            return
        v = vids[self.video_id]
        missing = v.kind in ("video", "images") and v.path and not os.path.exists(v.path)
        if missing and str(v.path) not in self._missing_warned:
            self._missing_warned.add(str(v.path))
            self.notify(f"Video {v.path} is missing (moved or deleted while open). Your labels are kept and "
                        f"still saved; relink the video to see its frames again.", "warning")

    # ------------------------------------------------------------------ pushing commands
    def push(self, cmd) -> bool:
        """Push ``cmd`` on the session; show the error and return False if it is refused."""
        store = self.session.store
        if store is not None and getattr(store, "read_only", False):
            self.notify("This project is open read-only, so edits are refused. Reopen it with write access "
                        "(or save a copy) to label.", "error")
            return False
        try:
            self.session.push(cmd)
        except PoseTrackError as exc:
            self.notify(str(exc), "error")
            self.refresh()
            return False
        return True

    def _selection(self) -> list[tuple[int, int, int]]:
        """(source, row, node) of the selected points, else of the current node."""
        sel = sorted(i for i in self.points.selected_data if i < len(self._src))
        if sel:
            return [(int(self._src[i]), int(self._row[i]), int(self._node[i])) for i in sel]
        if self.current_row is not None and self.current_row < len(self.dataset.labels):
            return [(0, self.current_row, self.current_node)]
        return []

    def _selected_instances(self, source: int = 0) -> list[int]:
        rows = sorted({r for s, r, _ in self._selection() if s == source})
        return rows

    # ------------------------------------------------------------------ mouse
    def _on_press(self, layer, event):
        if event.button != 1 or "Shift" in event.modifiers or "Control" in event.modifiers:
            return
        value = layer.get_value(event.position, view_direction=event.view_direction,
                                dims_displayed=event.dims_displayed, world=True)
        if value is not None and value < len(self._src):
            if self._src[value] == 0:
                self.current_row, self.current_node = int(self._row[value]), int(self._node[value])
            return
        if self.click_mode == "off":
            return
        y, x = np.asarray(layer.world_to_data(event.position))[-2:]
        self.place_at(float(x), float(y))

    def place_at(self, x: float, y: float) -> bool:
        """What a click on empty image does: drop a whole skeleton, or place the current node."""
        ds, f = self.dataset, self.frame
        try:
            if self.click_mode == "node" and self._node_target() is not None:
                row = self._node_target()
                ok = self.push(MoveNodes([row], [self.current_node], [[x, y]], text="place node"))
            elif self.click_mode == "node":
                node = self.current_node if self.current_node < ds.skeleton.n_nodes else 0
                ok = self.push(new_instance(ds, self.video_id, f, (x, y), only_node=node))
                if ok:
                    self.current_row, self.current_node = len(self.dataset.labels) - 1, node
            else:
                ok = self.push(new_instance(ds, self.video_id, f, (x, y), template=self.template))
                if ok:
                    self.current_row, self.current_node = len(self.dataset.labels) - 1, 0
        except LabelingError as exc:  # refused before any command was built
            self.notify(str(exc), "error")
            return False
        if ok and self.click_mode == "node":
            self._advance_node()
        self._select_current_after_change()
        return ok

    def _node_target(self) -> int | None:
        r = self.current_row
        lab = self.dataset.labels
        if r is None or r >= len(lab) or lab.frame_idx[r] != self.frame or lab.video_id[r] != self.video_id:
            return None
        return r if (lab.state[r] == UNLABELED).any() else None

    def _advance_node(self) -> None:
        r, lab = self.current_row, self.dataset.labels
        if r is None or r >= len(lab):
            return
        empty = np.flatnonzero(lab.state[r] == UNLABELED)
        if not len(empty):
            self.current_row, self.current_node = None, 0  # instance complete: next click starts a new one
            return
        after = empty[empty > self.current_node]
        self.current_node = int(after[0] if len(after) else empty[0])

    def _select_current_after_change(self) -> None:
        self._updating = True
        try:
            self._select_current()
        finally:
            self._updating = False

    # ------------------------------------------------------------------ napari edits -> commands
    def _on_data(self, event) -> None:
        if self._updating or self._closed:
            return
        action = getattr(event, "action", None)
        if action == ActionType.CHANGED:
            idx = [i for i in (getattr(event, "data_indices", ()) or ()) if i < len(self._src)]
            if idx:
                self._moved(np.asarray(idx, np.int64))
        elif action == ActionType.ADDED:
            self.notify("Points are placed by clicking on the image (whole skeleton or node by node); "
                        "napari's add mode is not used here.", "info")
            self.refresh()
        elif action == ActionType.REMOVED:
            idx = [i for i in (getattr(event, "data_indices", ()) or ()) if i < len(self._src)]
            user = [i for i in idx if self._src[i] == 0]
            if user:
                self.push(SetNodeState(self._row[user], self._node[user], UNLABELED, text="delete node"))
            else:
                self.refresh()

    def _moved(self, idx: np.ndarray) -> None:
        yx = np.asarray(self.points.data)[idx]
        xy = yx[:, ::-1].astype(np.float32)
        src, rows, nodes = self._src[idx], self._row[idx].copy(), self._node[idx]
        cmds = []
        pred = src == 1
        if pred.any():  # dragging a prediction makes it a user label first
            prows = np.unique(rows[pred])
            n = len(self.dataset.labels)
            cmds.append(AcceptPredictions(prows))
            rows[pred] = n + np.searchsorted(prows, rows[pred])
        cmds.append(MoveNodes(rows, nodes, xy, text="move node" if len(idx) == 1 else f"move {len(idx)} nodes"))
        self.current_row, self.current_node = int(rows[-1]), int(nodes[-1])
        self.push(cmds[0] if len(cmds) == 1 else CompoundCommand(cmds, text="edit prediction"))
        self._select_current_after_change()

    # ------------------------------------------------------------------ key actions
    def next_frame(self, step: int = 1) -> None:
        self.set_frame(self.frame + step)

    def previous_frame(self) -> None:
        self.next_frame(-1)

    def jump_forward(self) -> None:
        self.next_frame(self.jump_size)

    def jump_back(self) -> None:
        self.next_frame(-self.jump_size)

    def next_suggestion(self) -> None:
        f = next_unlabeled_suggestion(self.dataset, self.video_id, self.frame)
        if f is None:
            self.notify("No unlabeled suggested frame left in this video.", "info")
        else:
            self.set_frame(f)

    def select_node(self, node: int) -> None:
        k = self.dataset.skeleton.n_nodes
        if not 0 <= node < k:
            return
        self.current_node = node
        if self.current_row is None:  # pick the first user instance of the frame
            user = self._row[self._src == 0]
            self.current_row = int(user[0]) if len(user) else None
        self._select_current_after_change()

    def next_node(self, step: int = 1) -> None:
        k = self.dataset.skeleton.n_nodes
        if k:
            self.select_node((self.current_node + step) % k)

    def previous_node(self) -> None:
        self.next_node(-1)

    def toggle_occluded(self) -> None:
        sel = [(r, n) for s, r, n in self._selection() if s == 0]
        if sel:
            r, n = zip(*sel)
            self.push(SetNodeState(r, n, None))

    def delete_selected(self) -> None:
        sel = self._selection()
        user = [(r, n) for s, r, n in sel if s == 0]
        if user:
            r, n = zip(*user)
            self.push(SetNodeState(r, n, UNLABELED, text="delete node"))
        elif sel:
            self.push(DeleteInstances(sorted({r for _, r, _ in sel}), which="predictions",
                                      text="delete prediction"))

    def delete_instance(self) -> None:
        sel = self._selection()
        users = sorted({r for s, r, _ in sel if s == 0})
        preds = sorted({r for s, r, _ in sel if s == 1})
        cmds = ([DeleteInstances(users)] if users else []) + (
            [DeleteInstances(preds, which="predictions", text="delete prediction")] if preds else [])
        if cmds and self.push(cmds[0] if len(cmds) == 1 else CompoundCommand(cmds)):
            self.current_row = None

    def copy_previous(self) -> None:
        try:
            cmd = copy_frame_command(self.dataset, self.video_id, self.frame)
        except LabelingError as exc:
            self.notify(str(exc), "error")
            return
        self.push(cmd)

    def set_track(self, track_id: int) -> None:
        rows = self._selected_instances(0)
        if not rows:
            self.notify("Select a point of a labeled instance first, then press Ctrl+1..9.", "info")
            return
        self.push(SetTrack(rows[:1], track_id))

    def accept_predictions(self) -> None:
        rows = self._selected_instances(1) or self._frame_rows(self.dataset.predictions, self.frame).tolist()
        if rows:
            self.push(AcceptPredictions(rows))

    def undo(self) -> None:
        if self.session.undo() is None:
            self.notify("Nothing to undo.", "info")

    def redo(self) -> None:
        if self.session.redo() is None:
            self.notify("Nothing to redo.", "info")


