"""``posetrack export STORE --format F --out PATH [--overwrite] [--video I]``.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_export`).

Python: ``export(store, format, out, overwrite=False, video=None) -> Path``. The input is a
project store or any labels file :func:`napari_posetrack.core.io.load_dataset` reads. The
write is atomic and refuses an existing file unless ``overwrite``.
"""

from __future__ import annotations

from pathlib import Path


def export(store, format: str, out, overwrite: bool = False, video: int | None = None) -> Path:
    """Export ``store`` (a project store or labels file) to ``out`` in ``format``; returns ``out``."""
    import warnings

    from ..core.io import get_format, load_dataset, save_dataset
    from ..core.io.videos import MissingVideoWarning

    from ..core.io._atomic import check_writable

    spec = get_format(format, kind="write")  # unknown names fail before any loading
    if spec.atomic:
        check_writable(out, overwrite=overwrite, format_name=format)  # fail before loading a big project
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingVideoWarning)
        ds = load_dataset(store)
    options = {} if video is None else {"video": int(video)}
    return save_dataset(ds, out, format=format, overwrite=overwrite, **options)

