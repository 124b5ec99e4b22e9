"""Prediction-assisted labeling: commands that bring model predictions into a session.

Accepting predictions as user labels is :class:`~napari_posetrack.core.labeling.AcceptPredictions`
(labeling helper); this module adds what the inference dock needs around it:

* :class:`ReplacePredictions`: put new predictions for some frames into the session (the old
  predictions of those frames are removed), as one undoable step;
* :func:`frame_prediction_rows` and :func:`pick_prediction`: which predicted rows a key
  press means (all of the frame, or the one under the cursor / the best one).
"""

from __future__ import annotations

import numpy as np

from .edits import Command
from .errors import SkeletonMismatchError
from .posetable import PREDICTED, UNLABELED, PoseTable

__all__ = ["ReplacePredictions", "frame_prediction_rows", "pick_prediction"]


def _keys(video_id, frame_idx) -> np.ndarray:
    return (np.asarray(video_id, np.int64) << 40) | np.asarray(frame_idx, np.int64)


class ReplacePredictions(Command):
    """Replace the predictions of ``frames`` with ``table`` (undoable).

    Parameters
    ----------
    table : PoseTable
        New predicted rows (``source`` is set to predicted).
    frames : ndarray (M, 2)
        ``(video_id, frame_idx)`` of every frame that was predicted, including frames where
        nothing was found: their old predictions are removed too.
    """

    def __init__(self, table: PoseTable, frames, text: str = "predict"):
        self.table = table.with_columns(source=np.full(len(table), PREDICTED, np.uint8))
        self.frames = np.asarray(frames, np.int64).reshape(-1, 2)
        self.text = text
        self._old: PoseTable | None = None

    def do(self, session) -> None:
        ds = session.dataset
        if len(self.table) and self.table.n_nodes != ds.skeleton.n_nodes:
            raise SkeletonMismatchError(
                f"The predictions have {self.table.n_nodes} nodes but the project skeleton has "
                f"{ds.skeleton.n_nodes}.", hint="Use a model trained on this project's skeleton.")
        self._old = ds.predictions
        old = ds.predictions
        drop = np.isin(_keys(old.video_id, old.frame_idx), _keys(self.frames[:, 0], self.frames[:, 1]))
        ds.predictions = PoseTable.concat([old.take(~drop), self.table], n_nodes=ds.skeleton.n_nodes).sorted()

    def undo(self, session) -> None:
        session.dataset.predictions = self._old


def frame_prediction_rows(predictions: PoseTable, video_id: int, frame_idx: int) -> np.ndarray:
    """Rows of ``predictions`` in one frame, best instance score first."""
    rows = np.flatnonzero((predictions.video_id == video_id) & (predictions.frame_idx == frame_idx))
    score = np.nan_to_num(predictions.instance_score[rows], nan=-1.0)
    return rows[np.argsort(-score, kind="stable")]


def pick_prediction(predictions: PoseTable, video_id: int, frame_idx: int, xy=None) -> int | None:
    """The predicted row a single "accept" means: nearest node to ``xy`` (x, y), else the best.

    Returns None when the frame has no prediction.
    """
    rows = frame_prediction_rows(predictions, video_id, frame_idx)
    if not len(rows):
        return None
    if xy is None or not np.all(np.isfinite(xy)):
        return int(rows[0])
    pts = np.where((predictions.state[rows] != UNLABELED)[..., None], predictions.points[rows], np.nan)
    d = np.linalg.norm(pts - np.asarray(xy, np.float32)[None, None], axis=-1)
    d = np.where(np.isfinite(d), d, np.inf).min(axis=1)
    return int(rows[int(np.argmin(d))])
