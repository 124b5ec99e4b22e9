"""``posetrack filter``: smooth, threshold and gap-fill pose trajectories.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_filter`).
"""

from __future__ import annotations

from pathlib import Path


def filter(input, out, *, method: str | None = "median", window: int = 5, polyorder: int = 2,  # noqa: A001
           min_score: float | None = None, max_gap: int = 0, process_noise: float = 1.0,
           measurement_noise: float = 2.0, instances: str = "auto", format: str | None = None,  # noqa: A002
           overwrite: bool = False):
    """Filter the poses of ``input`` and write them to ``out``; returns the :class:`FilterReport`."""
    from ..core.errors import FormatError
    from ..core.filters import FilterReport, filter_table
    from ..core.io import load_dataset, save_dataset
    from ..core.plots import pick_table

    input, out = Path(input), Path(out)
    if out.exists() and not overwrite:
        raise FormatError(f"{out} already exists.", path=out, hint="Pass --overwrite to replace it.")
    ds = load_dataset(input, check_videos="ignore")
    which = instances
    if which == "auto":
        which = "predictions" if len(ds.predictions) else "labels"
    table = pick_table(ds, which)
    if not len(table):
        raise FormatError(f"{input} holds no {which} to filter.", path=input,
                          hint="Pass a file with predictions (posetrack predict) or labels.")
    report = FilterReport()
    filtered = filter_table(table, method=None if method in (None, "none") else method, window=window,
                            polyorder=polyorder, min_score=min_score, max_gap=max_gap,
                            process_noise=process_noise, measurement_noise=measurement_noise, report=report)
    setattr(ds, which, filtered)
    save_dataset(ds, out, format=format, overwrite=overwrite)
    return report

