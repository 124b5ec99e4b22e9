"""The import rule of the architecture: core never loads torch, Qt or napari; nn never loads Qt or
napari (nor cli / _napari / api, through which they could come); cli reaches torch only through nn;
workflows (the commands' Python functions) imports no cli, _napari, api, napari or Qt, and api no cli."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import napari_posetrack.core as core

FORBIDDEN = ("torch", "qtpy", "napari", "PyQt6", "PyQt5", "PySide6", "magicgui", "superqt")


def _core_modules() -> list[str]:
    names = ["napari_posetrack", "napari_posetrack.core"]
    for info in pkgutil.walk_packages(core.__path__, prefix="napari_posetrack.core."):
        names.append(info.name)
    return names



def _forbidden_loaded(mods, forbidden) -> dict:
    """Import ``mods`` one by one in a fresh interpreter; the first whose import loaded any of ``forbidden``."""
    code = (
        "import importlib, json, sys\n"
        f"mods = {list(mods)!r}\n"
        f"forbidden = {list(forbidden)!r}\n"
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
    return json.loads(out.stdout.strip().splitlines()[-1])

def test_core_modules_exist():
    mods = _core_modules()
    assert "napari_posetrack.core.posetable" in mods
    assert "napari_posetrack.core.skeleton" in mods


def test_importing_core_loads_no_torch_qt_or_napari():
    """Import every core module in a fresh interpreter and list forbidden modules loaded."""
    mods = _core_modules()
    bad = _forbidden_loaded(mods, FORBIDDEN)
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


# ---------------------------------------------------------------------------------------------
# nn: torch, never napari or Qt, directly or through cli / _napari / api
QT_NAPARI = ("qtpy", "napari", "PyQt6", "PyQt5", "PySide6", "PySide2", "magicgui", "superqt", "vispy")
UPPER_LAYERS = ("napari_posetrack.cli", "napari_posetrack._napari", "napari_posetrack.api")
PKG = Path(core.__file__).resolve().parent.parent


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at any depth (function-level imports too), as absolute names."""
    package = list(path.relative_to(PKG.parent).with_suffix("").parts[:-1])  # the package the file sits in
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out += [(node.lineno, f"{name}.{a.name}") for a in node.names]
    return out


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((PKG / folder).rglob("*.py")):
        for line, name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(PKG)}:{line} imports {name}")
    return bad


def test_imports_helper_resolves_relative_imports():
    names = {n for _, n in _imports(PKG / "workflows" / "demo.py")}
    assert "napari_posetrack.core.errors" in names  # `from ..core.errors import ...` inside a function


def test_nn_source_imports_no_qt_napari_or_upper_layers():
    """Static: no module under nn/ imports napari, Qt, cli, _napari or api, even inside a function."""
    bad = _violations("nn", QT_NAPARI + UPPER_LAYERS)
    assert not bad, "nn/ must not import napari, Qt or the layers above it:\n" + "\n".join(bad)


def test_core_source_imports_no_torch_nn_or_upper_layers():
    bad = _violations("core", FORBIDDEN + ("napari_posetrack.nn",) + UPPER_LAYERS)
    assert not bad, "core/ must not import torch, Qt, napari, nn or the layers above it:\n" + "\n".join(bad)


def test_cli_reaches_torch_only_through_nn():
    """cli/ uses torch through nn's functions (threads, devices), never by importing it."""
    bad = _violations("cli", ("torch",))
    assert not bad, "cli/ must not import torch directly; call an nn function instead:\n" + "\n".join(bad)


def test_importing_nn_loads_no_qt_or_napari():
    """Import every nn module in a fresh interpreter: neither Qt nor napari nor cli/_napari may load."""
    pytest.importorskip("torch")
    import napari_posetrack.nn as nn

    mods = ["napari_posetrack.nn"] + [i.name for i in pkgutil.walk_packages(nn.__path__, prefix="napari_posetrack.nn.")]
    bad = _forbidden_loaded(mods, QT_NAPARI + UPPER_LAYERS)
    assert bad == {}, f"nn modules load napari, Qt or an upper layer: {bad}"


# ---------------------------------------------------------------------------------------------
# workflows: the Python side of every command, below cli; api calls it and never cli
def test_workflows_source_imports_no_cli_napari_qt_or_torch():
    """Static: workflows/ imports neither the layers above it nor napari/Qt, and torch only through nn."""
    bad = _violations("workflows", QT_NAPARI + UPPER_LAYERS + ("torch",))
    assert not bad, "workflows/ must not import cli, _napari, api, napari, Qt or torch directly:\n" + "\n".join(bad)


def test_api_source_imports_nothing_from_cli():
    bad = [f"api.py:{line} imports {name}" for line, name in _imports(PKG / "api.py")
           if name == "napari_posetrack.cli" or name.startswith("napari_posetrack.cli.")]
    assert not bad, "api.py must call workflows, not cli:\n" + "\n".join(bad)


def test_every_command_has_a_workflow_and_api_function():
    """One workflows module per cli command module, and api gives each command's function."""
    import napari_posetrack.cli as cli
    import napari_posetrack.workflows as workflows
    from napari_posetrack import api

    commands = sorted(m.name[4:] for m in pkgutil.iter_modules(cli.__path__) if m.name.startswith("cmd_"))
    flows = sorted(m.name.rstrip("_") for m in pkgutil.iter_modules(workflows.__path__))
    assert commands == flows
    assert sorted(n.rstrip("_") for n in dir(api)) == commands
    for name in dir(api):
        assert callable(getattr(api, name)), name
    with pytest.raises(AttributeError, match="has no function 'nonsense'"):
        api.nonsense  # noqa: B018 - the attribute access is the test


def test_importing_api_and_workflows_loads_no_cli_qt_or_napari():
    """Fresh interpreter: every workflows module, and every api function looked up, loads no cli, Qt or napari."""
    import napari_posetrack.workflows as workflows

    mods = ["napari_posetrack.api"] + [f"napari_posetrack.workflows.{m.name}"
                                       for m in pkgutil.iter_modules(workflows.__path__)]
    bad = _forbidden_loaded(mods, QT_NAPARI + ("napari_posetrack.cli", "torch"))
    assert bad == {}, f"workflows modules load cli, Qt, napari or torch at import: {bad}"
    code = ("import sys\nfrom napari_posetrack import api\nfns = [getattr(api, n) for n in dir(api)]\n"
            "print(sorted(m for m in sys.modules if m.startswith('napari_posetrack.cli') or m in "
            f"{list(QT_NAPARI)!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"looking up the api functions loaded {out.stdout.strip()}"
