"""Identity tracking (headless, numpy/scipy): costs, online trackers, tracklet stitching.

>>> from napari_posetrack.core.tracking import track_table
>>> result = track_table(predictions, tracker="kalman", max_tracks=2)   # doctest: +SKIP
>>> result.table.track_id, result.track_names, result.warnings          # doctest: +SKIP

Registries: :data:`COSTS` (``oks``, ``centroid``, ``iou``) and :data:`TRACKERS` (``simple``,
``flow``, ``kalman``). :func:`iter_track` is the generator form (yields ProgressEvent).
"""

from .costs import COSTS, get_cost, oks, register_cost
from .engine import OnlineTracker, TrackerConfig, hungarian
from .run import (TRACKERS, TrackResult, compact_track_ids, cull_short_tracks, iter_track, make_tracker,
                  register_tracker, track_table)
from .stitch import stitch_tracklets

__all__ = [
    "COSTS", "TRACKERS", "OnlineTracker", "TrackerConfig", "TrackResult", "compact_track_ids",
    "cull_short_tracks", "get_cost", "hungarian", "iter_track", "make_tracker", "oks", "register_cost",
    "register_tracker", "stitch_tracklets", "track_table",
]
