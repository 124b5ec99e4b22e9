"""The import rule of the architecture: core never loads torch, Qt or napari."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import napari_posetrack.core as core

FORBIDDEN = ("torch", "qtpy", "napari", "PyQt6", "PyQt5", "PySide6", "magicgui", "superqt")


def _core_modules() -> list[str]:
    names = ["napari_posetrack", "napari_posetrack.core"]
    for info in pkgutil.walk_packages(core.__path__, prefix="napari_posetrack.core."):
        names.append(info.name)
    return names


def test_core_modules_exist():
    mods = _core_modules()
    assert "napari_posetrack.core.posetable" in mods
    assert "napari_posetrack.core.skeleton" in mods


def test_importing_core_loads_no_torch_qt_or_napari():
    """Import every core module in a fresh interpreter and list forbidden modules loaded."""
    mods = _core_modules()
    code = (
        "import importlib, json, sys\n"
        f"mods = {mods!r}\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "bad = {}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "    loaded = [f for f in forbidden if f in sys.modules]\n"
        "    if loaded:\n"
        "        bad[m] = loaded\n"
        "        break\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    bad = json.loads(out.stdout.strip().splitlines()[-1])
    assert bad == {}, f"core modules load forbidden packages: {bad}"


def test_cli_and_manifest_targets_import_fast():
    """`posetrack --help` and the package import must not pull torch or napari."""
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from napari_posetrack.cli import build_parser\n"
        "build_parser()\n"
        "dt = time.perf_counter() - t\n"
        "print(dt, 'torch' in sys.modules, 'napari' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    dt, torch_loaded, napari_loaded = out.stdout.split()
    assert torch_loaded == "False", "building the CLI parser imported torch"
    assert napari_loaded == "False", "building the CLI parser imported napari"
