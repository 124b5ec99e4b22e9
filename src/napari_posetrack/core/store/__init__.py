"""The project store: a zarr v3 folder (``NAME.posetrack.zarr``) holding a whole project.

>>> from napari_posetrack.core.store import ProjectStore
>>> store = ProjectStore.create("mice.posetrack.zarr", skeleton, videos=["m1.mp4"])
>>> store.save(labels=table)                  # atomic
>>> store.append_predictions(batch)           # cheap, resumable
>>> ds = ProjectStore.open("mice.posetrack.zarr", mode="r").load()

See ``docs/store.md`` for the layout on disk and the atomicity design.
"""

from ._commits import SCHEMA_VERSION
from ._paths import STORE_SUFFIX, find_store, is_store_dir
from .project import ProjectStore

__all__ = ["ProjectStore", "SCHEMA_VERSION", "STORE_SUFFIX", "find_store", "is_store_dir"]
