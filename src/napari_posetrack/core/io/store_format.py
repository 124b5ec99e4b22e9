"""The napari-posetrack project store as a format (read it, or write a dataset into a new store).

``core.store`` is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["is_store", "load_store", "save_store"]

STORE_SUFFIX = ".posetrack.zarr"


def is_store(path: Path) -> bool:
    """A ``*.posetrack.zarr`` folder, or a project folder holding exactly one."""
    path = Path(path)
    if not path.is_dir():
        return False
    try:
        from ..store._paths import is_store_dir
    except ImportError:  # the store package is not there
        return False
    if is_store_dir(path):
        return True
    found = [c for c in path.iterdir() if c.is_dir() and c.name.endswith(STORE_SUFFIX)]
    return len(found) == 1


def load_store(path: Path):
    """The whole project (skeleton, videos, tracks, labels, predictions, suggestions)."""
    from ..store import ProjectStore

    store = ProjectStore.open(path, mode="r")
    try:
        return store.load()
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def save_store(dataset, path: Path, *, overwrite: bool = False, video: int | None = None) -> None:
    """Create a store at ``path`` holding ``dataset`` (one atomic create; ``video`` keeps one video)."""
    from ..store import ProjectStore

    if video is not None:
        from .sleap_formats import select_video

        dataset = select_video(dataset, video)
    store = ProjectStore.create(path, dataset.skeleton, videos=list(dataset.videos), overwrite=overwrite,
                                dataset=dataset)
    store.close()
