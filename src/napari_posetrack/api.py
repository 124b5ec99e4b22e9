"""Python API: every ``posetrack`` subcommand as a function of the same name.

>>> from napari_posetrack import api
>>> api.info("video.mp4")            # same as `posetrack info video.mp4`

``import`` is a Python keyword, so that function is ``api.import_``. Functions are loaded
lazily from ``napari_posetrack.cli.cmd_<name>``.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []


def _names() -> list[str]:
    from . import cli

    return [m.name[4:] for m in pkgutil.iter_modules(cli.__path__) if m.name.startswith("cmd_")]


def __getattr__(name: str):
    mod_name = name.rstrip("_").replace("-", "_")
    try:
        mod = importlib.import_module(f"napari_posetrack.cli.cmd_{mod_name}")
    except ModuleNotFoundError:
        raise AttributeError(f"napari_posetrack.api has no function {name!r}; it has {_names()}") from None
    func = getattr(mod, name, None) or getattr(mod, mod_name + "_", None) or getattr(mod, mod_name, None)
    if func is None:
        raise AttributeError(f"cli.cmd_{mod_name} defines no function {name!r}")
    return func


def __dir__():
    return sorted(n if n != "import" else "import_" for n in _names())
