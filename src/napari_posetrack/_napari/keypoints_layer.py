"""The editable keypoints layer: a napari Points layer whose content belongs to the session.

The Labeling dock shows one frame at a time in this layer and rebuilds it from the session on
every frame step and edit (:class:`~napari_posetrack._napari.labeling_layers.LabelingLayers`).
Other code may still set its attributes: napari-animation, for one, sets every attribute of a
recorded key frame back on the layer, recorded at another frame with another number of points.
So that the layer stays a valid napari layer and no such write becomes an edit:

* ``data`` is written only by the controller (inside :meth:`KeypointsLayer.writing`); a write
  from elsewhere is ignored, because napari would report it as the user moving every point;
* a per-point attribute (``face_color``, ``border_color``, ``symbol``, ``size``,
  ``border_width``, ``shown``, ``features``) given for another number of points than the layer
  holds is ignored instead of raising "Symbol array must be the same length as data".

Everything else (one colour, opacity, blending, text, visibility) is set as on any Points layer.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np
from napari.layers import Points

__all__ = ["KeypointsLayer"]

log = logging.getLogger(__name__)

#: attributes with one entry per point, and the array rank that means "per point"
_PER_POINT = {"face_color": 2, "border_color": 2, "symbol": 1, "size": 1, "border_width": 1, "shown": 1,
              "features": 1}


def _n_entries(value, rank: int) -> int | None:
    """How many points ``value`` speaks for, or None for a value shared by all points."""
    if isinstance(value, str) or value is None:
        return None
    if hasattr(value, "shape") and hasattr(value, "columns"):  # a DataFrame
        return len(value)
    if isinstance(value, dict):
        lens = {len(v) for v in value.values() if hasattr(v, "__len__") and not isinstance(v, str)}
        return lens.pop() if len(lens) == 1 else None
    try:
        arr = np.asarray(value, dtype=object)
    except (TypeError, ValueError):
        return None
    return len(arr) if arr.ndim >= rank and arr.ndim >= 1 else None


class KeypointsLayer(Points):
    """A Points layer that only its controller fills (see the module notes)."""

    _posetrack_writing = False

    @property
    def _type_string(self) -> str:  # napari's name of the layer type: a Points layer for readers/writers
        return "points"

    @contextmanager
    def writing(self):
        """The controller's updates: ``data`` and per-point attributes are set as given."""
        prev = self._posetrack_writing
        self._posetrack_writing = True
        try:
            yield self
        finally:
            self._posetrack_writing = prev

    def _refused(self, name: str, value) -> bool:
        if self._posetrack_writing:
            return False
        if name == "data":
            log.debug("keypoints layer: data written from outside ignored (the session decides what it shows)")
            return True
        n = _n_entries(value, _PER_POINT[name])
        if n is not None and n != len(self.data):
            log.debug("keypoints layer: %s for %d points ignored (the layer holds %d)", name, n, len(self.data))
            return True
        return False


def _guarded(name: str):
    base = getattr(Points, name)

    def fset(self, value):
        if not self._refused(name, value):
            base.fset(self, value)

    return property(base.fget, fset, doc=base.__doc__)


for _name in ("data", *_PER_POINT):
    setattr(KeypointsLayer, _name, _guarded(_name))
del _name
