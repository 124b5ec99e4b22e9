"""Python API: every ``posetrack`` subcommand as a function of the same name.

>>> from napari_posetrack import api
>>> api.info("video.mp4")            # same as `posetrack info video.mp4`

``import`` is a Python keyword, so that function is ``api.import_``. Functions are loaded
lazily from :mod:`napari_posetrack.workflows` (``workflows/<command>.py``), the layer that the
``posetrack`` command line calls too; ``api.demo``, which opens napari, comes from
:mod:`napari_posetrack._napari.demo`. This module imports nothing from ``cli``.
"""

from __future__ import annotations

import importlib
import keyword
import pkgutil

__all__: list[str] = []

#: commands whose function lives outside ``workflows`` (they open a GUI), by module name
_ELSEWHERE = {"demo": "napari_posetrack._napari.demo"}


def _names() -> list[str]:
    """Command names, as Python names (``check_labels``, ``import``)."""
    from . import workflows

    return sorted(m.name.rstrip("_") for m in pkgutil.iter_modules(workflows.__path__) if not m.name.startswith("_"))


def _module_name(command: str) -> str:
    if command in _ELSEWHERE:
        return _ELSEWHERE[command]
    return f"napari_posetrack.workflows.{command}{'_' if keyword.iskeyword(command) else ''}"


def __getattr__(name: str):
    mod_name = name.rstrip("_").replace("-", "_")
    if name.startswith("__") or mod_name not in _names():
        raise AttributeError(f"napari_posetrack.api has no function {name!r}; it has {_names()}")
    mod = importlib.import_module(_module_name(mod_name))
    func = getattr(mod, name, None) or getattr(mod, mod_name + "_", None) or getattr(mod, mod_name, None)
    if func is None:
        raise AttributeError(f"{mod.__name__} defines no function {name!r}")
    return func


def __dir__():
    return sorted(n if n != "import" else "import_" for n in _names())
