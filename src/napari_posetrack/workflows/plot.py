"""``posetrack plot``: trajectory, coordinate, jump and bone plots (PNG) and bone features (CSV).

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_plot`).
"""

from __future__ import annotations


def plot(pred, out, *, video=None, instances: str = "auto", max_tracks: int = 6, dpi: int = 100,
         overwrite: bool = False):
    """Write the plots and the bone CSV of ``pred`` into folder ``out``; returns the paths written."""
    from ..core.io import load_dataset
    from ..core.plots import write_plots

    ds = load_dataset(pred, check_videos="ignore")
    return write_plots(ds, out, video_id=video, which=instances, max_tracks=max_tracks, dpi=dpi,
                       overwrite=overwrite)

