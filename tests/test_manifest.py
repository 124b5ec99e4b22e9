"""The npe2 manifest is valid, registered, and every contribution resolves."""

from __future__ import annotations

import importlib

import pytest


def test_manifest_validates_and_is_registered():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManager.instance()
    pm.discover()
    mf = pm.get_manifest("napari-posetrack")
    assert mf.name == "napari-posetrack"
    assert mf.contributions.readers and mf.contributions.writers and mf.contributions.sample_data
    assert len(mf.contributions.widgets) >= 1


def test_every_manifest_command_imports():
    npe2 = pytest.importorskip("npe2")
    from importlib.resources import files

    mf = npe2.PluginManifest.from_file(str(files("napari_posetrack") / "napari.yaml"))
    for cmd in mf.contributions.commands:
        module, _, attr = cmd.python_name.partition(":")
        mod = importlib.import_module(module)
        assert hasattr(mod, attr), f"{cmd.id}: {cmd.python_name} does not exist"


def test_root_manifest_is_the_package_manifest():
    from importlib.resources import files
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "napari.yaml"
    assert root.read_text() == (files("napari_posetrack") / "napari.yaml").read_text()
