"""Live (closed-loop) pose estimation: frame sources, a batch-1 predictor, the loop and its hooks.

>>> from napari_posetrack.nn.live import live, NodesWithin, UDPTrigger
>>> stats = live("models/flies", "camera:0", on_pose=UDPTrigger("10.0.0.2", 5005),
...              condition=NodesWithin("head", "abdomen", 40), duration=600)   # doctest: +SKIP
>>> print(stats.summary())                                                     # doctest: +SKIP

See docs/live.md. Modules: :mod:`.sources` (registry of frame sources), :mod:`.predictor`
(:class:`LivePredictor`), :mod:`.loop` (:func:`live`, :class:`LiveSession`), :mod:`.hooks`
(conditions and outputs).
"""

from __future__ import annotations

from .hooks import CONDITIONS, OUTPUTS, NodesWithin, UDPTrigger
from .loop import LivePose, LiveSession, LiveStats, live
from .predictor import LIVE_KINDS, LivePredictor, load_live_predictor
from .sources import SOURCES, FrameSource, open_source, register_source

__all__ = ["live", "LiveSession", "LiveStats", "LivePose", "LivePredictor", "load_live_predictor", "LIVE_KINDS",
           "NodesWithin", "UDPTrigger", "CONDITIONS", "OUTPUTS", "SOURCES", "FrameSource", "open_source",
           "register_source"]
