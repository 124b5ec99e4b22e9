"""Streaming predictions into a store: cheap appends, resume, clearing (a ProjectStore mixin)."""

from __future__ import annotations

import os
import time

import numpy as np

from ..errors import SkeletonMismatchError
from ..posetable import PoseTable
from ._codec import columns_table, skeleton_from_entry, table_columns
from ._zarrio import append_columns

__all__ = ["PredictionsMixin"]


class PredictionsMixin:
    """Methods of :class:`~napari_posetrack.core.store.ProjectStore` for streamed predictions."""

    def predicted_frames(self, video_id: int) -> np.ndarray:
        """Sorted frame indices of ``video_id`` already predicted (committed), for resuming.

        Frames that yielded instances, plus frames passed as ``frames=`` to
        :meth:`append_predictions` (frames where the model found nothing).
        """
        with self._mutex:
            keys = self._prediction_keys(self.head())
            sel = keys[(keys >> 40) == int(video_id)]
            return np.unique(sel & ((1 << 40) - 1)).astype(np.int64)

    def _prediction_keys(self, head: dict) -> np.ndarray:
        ref_p, ref_f = head["tables"]["predictions"], head["tables"]["predicted_frames"]
        token = (ref_p["group"], int(ref_p["n_rows"]), ref_f["group"], int(ref_f["n_rows"]))
        if self._pred_keys is None or self._pred_keys[0] != token:
            p = self._read_table(head, "predictions", ("video_id", "frame_idx"))
            f = self._read_table(head, "predicted_frames")
            keys = np.concatenate([_keys(p["video_id"], p["frame_idx"]), _keys(f["video_id"], f["frame_idx"])])
            self._pred_keys = (token, np.unique(keys))
        return self._pred_keys[1]

    # ------------------------------------------------------------------ predictions streaming
    def append_predictions(self, table: PoseTable, *, frames=None, skip_existing_frames: bool = True) -> int:
        """Append prediction rows cheaply and commit them; return the number of rows appended.

        Parameters
        ----------
        table : PoseTable
            New prediction rows (all instances of the frames they cover).
        frames : array-like (M, 2), optional
            ``(video_id, frame_idx)`` of every frame processed in this batch, including frames
            where nothing was found, so :meth:`predicted_frames` (resume) counts them.
        skip_existing_frames : bool
            Drop rows of frames already committed, so a resumed run never duplicates a frame.
        """
        with self._writing() as head:
            k = skeleton_from_entry(self._meta(head).get("skeleton")).n_nodes
            if len(table) and table.n_nodes != k:
                raise SkeletonMismatchError(
                    f"The predictions have {table.n_nodes} nodes but the project skeleton has {k}.",
                    hint="Predict with a model trained on this project's skeleton.",
                )
            frames = np.zeros((0, 2), np.int64) if frames is None else np.asarray(frames, np.int64).reshape(-1, 2)
            if skip_existing_frames:
                done = self._prediction_keys(head)
                if len(table):
                    table = table.take(~np.isin(_keys(table.video_id, table.frame_idx), done))
                if len(frames):
                    frames = frames[~np.isin(_keys(frames[:, 0], frames[:, 1]), done)]
            if not len(table) and not len(frames):
                return 0
            new = {**head, "commit": int(head["commit"]) + 1, "time": time.time(), "pid": os.getpid(),
                   "tables": {t: dict(r) for t, r in head["tables"].items()}}
            frame_cols = table_columns("predicted_frames", frames) if len(frames) else None
            for name, cols in (("predictions", table.to_dict() if len(table) else None),
                               ("predicted_frames", frame_cols)):
                if cols is None:
                    continue
                ref = new["tables"][name]
                ref["n_rows"] = append_columns(self._root, ref["group"], int(ref["n_rows"]), cols)
            self._finish_commit(new, gc=False)
            # our own append is not "another writer": a later save of predictions from this store
            # object replaces them (or keeps them, if unchanged) instead of raising a conflict
            seen = self._seen.get("predictions")
            if seen is not None and len(table) and seen[0] == self._token(head, {}, "predictions"):
                self._seen["predictions"] = (self._token(new, {}, "predictions"), seen[1])
            old_keys = self._prediction_keys(head)
            add = np.concatenate([_keys(table.video_id, table.frame_idx), _keys(frames[:, 0], frames[:, 1])])
            p, f = new["tables"]["predictions"], new["tables"]["predicted_frames"]
            self._pred_keys = ((p["group"], p["n_rows"], f["group"], f["n_rows"]), np.union1d(old_keys, add))
            return len(table)

    def clear_predictions(self, video_id: int | None = None) -> int:
        """Remove all predictions, or those of one video; return the commit number."""
        with self._writing() as head:
            k = skeleton_from_entry(self._meta(head).get("skeleton")).n_nodes
            if video_id is None:
                preds = PoseTable.empty(k)
            else:
                cur = columns_table("predictions", self._read_table(head, "predictions"))
                preds = cur.take(cur.video_id != int(video_id))
            changes = {"predictions": preds}
            if video_id is not None:  # keep the resume record of the other videos
                pf = columns_table("predicted_frames", self._read_table(head, "predicted_frames"))
                changes["predicted_frames"] = pf[pf[:, 0] != int(video_id)]
            return self._commit_changes(head, changes)


def _keys(video_id, frame_idx) -> np.ndarray:
    return (np.asarray(video_id, np.int64) << 40) | np.asarray(frame_idx, np.int64)

