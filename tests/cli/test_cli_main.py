"""The `posetrack` command: every subcommand is registered and documents itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from napari_posetrack import api
from napari_posetrack.cli import _command_modules, build_parser, main


def test_every_command_module_follows_the_contract():
    mods = _command_modules()
    assert mods, "no subcommands found"
    names = [m.NAME for m in mods]
    assert len(names) == len(set(names)), f"duplicate subcommand names: {names}"
    for m in mods:
        assert isinstance(m.HELP, str) and m.HELP, f"{m.__name__} has no HELP"
        assert callable(m.add_arguments) and callable(m.run)
        # the Python API exposes a function named like the command
        func = getattr(api, m.NAME.replace("-", "_") + ("_" if m.NAME == "import" else ""))
        assert callable(func)


@pytest.mark.parametrize("name", [m.NAME for m in _command_modules()])
def test_help_of_each_subcommand(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: posetrack" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_api_function_is_a_clear_attribute_error():
    with pytest.raises(AttributeError, match="has no function"):
        api.frobnicate  # noqa: B018


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "napari_posetrack", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "napari-posetrack" in out.stdout
    assert build_parser().prog == "posetrack"
