"""Put pose-table rows into per-frame "individual" columns, for dense formats.

Dense formats (movement's time x individuals arrays, DeepLabCut's individuals header, analysis
HDF5) need each instance in a column. Tracked rows go to their track's column; rows without a
track take extra columns ``untracked_0``, ``untracked_1``, ... in their order within the frame.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assign_slots", "UNTRACKED_PREFIX"]

UNTRACKED_PREFIX = "untracked_"


def assign_slots(table, track_names) -> tuple[np.ndarray, list[str]]:
    """Column of each row and the column names.

    Parameters
    ----------
    table : PoseTable
        Rows of one video.
    track_names : list of str

    Returns
    -------
    slots : ndarray (N,) int
        Column of each row: ``track_id`` for tracked rows, ``n_tracks + k`` for the k-th
        untracked row of its frame.
    names : list of str
        ``track_names`` followed by ``untracked_<k>`` for as many untracked columns as needed.

    Raises
    ------
    FormatError
        If two rows of one frame have the same track (a dense format cannot hold both).
    """
    from ..errors import FormatError

    n_tracks = len(track_names)
    n = len(table)
    slots = np.asarray(table.track_id, np.int64).copy()
    untracked = slots < 0
    n_extra = 0
    if untracked.any():
        order = np.flatnonzero(untracked)
        frames = table.frame_idx[order]
        # rank within frame, keeping row order
        sort = np.argsort(frames, kind="stable")
        sorted_frames = frames[sort]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_frames)) + 1]
        rank = np.arange(len(sort)) - np.repeat(starts, np.diff(np.r_[starts, len(sort)]))
        slots[order[sort]] = n_tracks + rank
        n_extra = int(rank.max()) + 1
    if n:
        key = table.frame_idx.astype(np.int64) * (n_tracks + n_extra + 1) + slots
        uniq, counts = np.unique(key, return_counts=True)
        if (counts > 1).any():
            bad = uniq[counts > 1][0]
            frame = int(bad // (n_tracks + n_extra + 1))
            raise FormatError(
                f"Frame {frame} has two instances on the same track; a dense format (one column per "
                "individual) cannot hold both.",
                hint="Fix the track assignment (proofread) or export to .slp / flat CSV, which keep every row.",
            )
    names = [str(t) for t in track_names] + [f"{UNTRACKED_PREFIX}{k}" for k in range(n_extra)]
    return slots, names
