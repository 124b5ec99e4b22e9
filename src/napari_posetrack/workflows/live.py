"""``posetrack live``: pose estimation on a camera, a stream or a replayed video, with latency figures.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_live`).
"""

from __future__ import annotations


def live(model, source, on_pose=None, condition=None, **kwargs):
    """Run a live session; returns LiveStats (see ``napari_posetrack.nn.live.live``)."""
    from ..nn.live import live as _live

    return _live(model, source, on_pose=on_pose, condition=condition, **kwargs)

