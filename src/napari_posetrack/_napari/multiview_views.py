"""The 3D dock's camera views: the cameras side by side in 2D with the labelling aids.

:class:`CameraViews` draws, for one triangulated session, a grid of the cameras' videos (one
cell per camera, on the session's frame axis) and four layers over them:

* ``2D labels``: every camera's labels, coloured by node (editable: a drag is handed to the
  dock, which saves it and calls :meth:`CameraViews.update_aids`);
* ``reprojected``: where each node must be in each camera according to the *other* cameras;
* ``epipolar lines``: for a node labelled in only one other camera, the curve it must lie on;
* ``reprojection outliers``: a red line from each label farther than the threshold from its
  reprojection to that reprojection.

After an edit only the data of the aid layers changes (:meth:`CameraViews.update_aids` sets
their data, features and colours in place): removing and adding layers makes napari rebuild
its scene graph, which took seconds with the ~7000 rings of a real 4-camera session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["CameraViews", "VIEW_LAYER_NAMES", "GAP"]

VIEW_LAYER_NAMES = ("2D labels", "reprojected", "epipolar lines", "reprojection outliers")
GAP = 40  # px between camera cells


class CameraViews:
    """The camera-view layers of one triangulated session in ``viewer``.

    Parameters
    ----------
    viewer : napari.Viewer
    threshold : callable() -> float
        The max reprojection error (px) of the outlier lines and the summary.
    on_move : callable(rows) -> bool or None
        Called with the rows of the labels layer just dragged; a result of ``None`` (refused)
        puts the labels back.
    notify : callable(text, level)
    """

    def __init__(self, viewer, threshold: Callable[[], float], on_move: Callable, notify: Callable):
        self.viewer = viewer
        self.threshold = threshold
        self.on_move = on_move
        self.notify = notify
        self.session = self.group = self.views = self.predictions = None
        self.cell_origin: dict[str, tuple[float, float]] = {}  # camera -> (y, x) of its cell
        self.label_keys = np.zeros((0, 4), np.int64)  # (c, t, i, k) of each point of the labels layer
        self._updating = False

    def set_session(self, session, group, views, predictions) -> None:
        self.session, self.group, self.views, self.predictions = session, group, views, predictions

    def layer_names(self) -> list[str]:
        cams = self.views.cameras if self.views is not None else []
        return list(VIEW_LAYER_NAMES) + [f"{c} video" for c in cams]

    # ------------------------------------------------------------------ drawing
    def cells(self) -> dict:
        """camera -> (y, x) origin of its cell in a grid of ceil(sqrt(C)) columns."""
        cams = self.views.cameras
        cols = int(np.ceil(np.sqrt(len(cams))))
        w = max(self.group[c].size[0] for c in cams) + GAP
        h = max(self.group[c].size[1] for c in cams) + GAP
        return {c: (float((j // cols) * h), float((j % cols) * w)) for j, c in enumerate(cams)}

    def show(self) -> None:
        """Add the videos, the labels and the aids (the caller removed the old layers)."""
        self.cell_origin = self.cells()
        self._add_camera_videos()
        self._add_labels_layer()
        self.update_aids()

    def node_colors(self) -> np.ndarray:
        import napari

        k_n = len(self.views.node_names)
        return napari.utils.colormaps.ensure_colormap("turbo").map(np.arange(k_n) / max(1, k_n - 1))

    def marker_size(self) -> float:
        return max(4.0, max(self.group[c].size[0] for c in self.views.cameras) / 120)

    def view_coords(self, arr: np.ndarray, mask: np.ndarray):
        """(frame, y, x) in the camera-views plane of ``arr[mask]`` (C, T, I, K, 2), and the indices."""
        views = self.views
        c_i, t_i, i_i, k_i = np.nonzero(mask)
        org = np.array([self.cell_origin[views.cameras[c]] for c in c_i]).reshape(-1, 2)
        yx = arr[c_i, t_i, i_i, k_i][:, ::-1] + org
        return np.column_stack([views.frames[t_i], yx]), c_i, t_i, i_i, k_i

    def view_features(self, c_i, i_i, k_i, **extra) -> dict:
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
        """Every camera's labels (editable: a drag is handed to ``on_move``)."""
        labelled = np.isfinite(self.views.points).all(-1)
        data, c_i, t_i, i_i, k_i = self.view_coords(self.views.points, labelled)
        self.label_keys = np.column_stack([c_i, t_i, i_i, k_i])
        layer = self.viewer.add_points(data, name=VIEW_LAYER_NAMES[0], size=self.marker_size(),
                                       face_color=self.node_colors()[k_i], border_color="white", border_width=0.1,
                                       features=self.view_features(c_i, i_i, k_i), out_of_slice_display=False)
        layer.mode = "select"
        layer.events.data.connect(self._on_labels_data)

    def aid_layers(self) -> list[tuple[str, str, np.ndarray, dict]]:
        """(name, kind, data, keyword arguments) of the reprojected points, epipolar lines and outlier lines.

        A layer without content is left out of the list.
        """
        from ..core.multiview.consistency import PREDICTED

        views, pred = self.views, self.predictions
        size, node_color = self.marker_size(), self.node_colors()
        out = []
        sel = (pred.status == PREDICTED) & np.isfinite(pred.points).all(-1)
        data, c_i, _, i_i, k_i = self.view_coords(pred.points, sel)
        out.append((VIEW_LAYER_NAMES[1], "points", data, dict(
            size=size * 1.6, symbol="ring", face_color=node_color[k_i], out_of_slice_display=False,
            features=self.view_features(c_i, i_i, k_i, error_px=pred.error_px[sel], n_views=pred.n_sources[sel]))))
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
            far = np.isfinite(pred.error_px) & (pred.error_px > self.threshold())
        if far.any():
            a = self.view_coords(views.points, far)[0]
            b = self.view_coords(pred.points, far)[0]
            out.append((VIEW_LAYER_NAMES[3], "vectors", np.stack([a, b - a], 1), dict(
                edge_color="red", edge_width=size / 3, features={"error_px": pred.error_px[far]})))
        return out

    def update_aids(self) -> dict:
        """Draw the reprojections, epipolar lines and outlier lines from ``predictions``; the labels stay active.

        A layer that is already shown gets its data, features and colours in place; one that
        has become empty goes, one that now has content is added. Returns ``{name: "updated" |
        "added" | "removed"}``.
        """
        layers = self.viewer.layers
        active = layers.selection.active
        wanted = {name: (kind, data, kwargs) for name, kind, data, kwargs in self.aid_layers()}
        done = {}
        for name in VIEW_LAYER_NAMES[1:]:
            if name not in wanted:
                if name in layers:
                    layers.remove(name)
                    done[name] = "removed"
                continue
            kind, data, kwargs = wanted[name]
            if name in layers:
                layer = layers[name]
                layer.data = data
                layer.features = kwargs["features"]
                if kind == "points":
                    layer.face_color = kwargs["face_color"]
                else:
                    layer.edge_color = kwargs["edge_color"]
                done[name] = "updated"
            elif kind == "points":
                self.viewer.add_points(data, name=name, **kwargs)
                done[name] = "added"
            else:
                self.viewer.add_vectors(data, name=name, **kwargs)
                done[name] = "added"
        if active is not None and active in layers:
            layers.selection.active = active
        return done

    def put_labels_back(self) -> None:
        """The labels layer at the positions of ``views`` (after a refused move or an undo)."""
        layer = self.viewer.layers[VIEW_LAYER_NAMES[0]] if VIEW_LAYER_NAMES[0] in self.viewer.layers else None
        if layer is None or not len(self.label_keys):
            return
        c, t, i, k = self.label_keys.T
        org = np.array([self.cell_origin[self.views.cameras[j]] for j in c]).reshape(-1, 2)
        data = np.column_stack([self.views.frames[t], self.views.points[c, t, i, k][:, ::-1] + org])
        self._updating = True
        try:
            layer.data = data
        finally:
            self._updating = False

    def _on_labels_data(self, event) -> None:
        from napari.layers.base import ActionType

        if self._updating or getattr(event, "action", None) != ActionType.CHANGED or self.views is None:
            return
        idx = [int(i) for i in (getattr(event, "data_indices", ()) or ()) if 0 <= int(i) < len(self.label_keys)]
        if idx and self.on_move(idx) is None:
            self.put_labels_back()  # refused (outside the image, store not writable...): nothing changed

    def summary(self) -> str:
        from ..core.multiview.consistency import PREDICTED

        views, pred = self.views, self.predictions
        labelled = np.isfinite(views.points).all(-1)
        have = pred.status == PREDICTED
        n_curves = len([cv for cv in pred.curves if len(cv.pixels) > 1])
        with np.errstate(invalid="ignore"):
            n_far = int((np.isfinite(pred.error_px) & (pred.error_px > self.threshold())).sum())
        return (f"{len(views.cameras)} camera views; {int(labelled.sum())} labels, {int(have.sum())} reprojections "
                f"from the other cameras ({int((have & ~labelled).sum())} where a camera has no label yet), "
                f"{n_curves} epipolar lines, {n_far} labels more than {self.threshold():.0f} px from their "
                "reprojection. Drag a label to correct it (saved to its camera's project store).")

    def centre_on(self, camera: str, t_index: int, individual: int, node: int) -> None:
        """Centre the view on a label (zoomed in to at least 2x)."""
        c = self.views.cameras.index(camera)
        x, y = self.views.points[c, t_index, individual, node]
        y0, x0 = self.cell_origin[camera]
        self.viewer.camera.center = (y + y0, x + x0)
        self.viewer.camera.zoom = max(self.viewer.camera.zoom, 2.0)
