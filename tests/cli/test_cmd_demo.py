"""`posetrack demo --no-gui` runs the real pipeline (clip, training, inference, tracking, metrics)."""

from __future__ import annotations

import json

import pytest

from napari_posetrack.cli import main
from napari_posetrack.cli.cmd_demo import DEFAULT_MIN_IDF1, DEFAULT_MIN_MAP


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_no_gui_passes_its_thresholds(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main(["demo", "--no-gui", "--out", str(out), "--minutes", "0.75", "--quiet"])
    text = capsys.readouterr()
    assert status == 0, text.out + text.err
    assert "passed" in text.out and "mAP" in text.out and "IDF1" in text.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["map"] >= DEFAULT_MIN_MAP and metrics["idf1"] >= DEFAULT_MIN_IDF1
    assert metrics["n_predicted"] > 0.9 * metrics["n_ground_truth"]
    # the project store and the exported predictions open again, with two tracks
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.store import ProjectStore

    store = ProjectStore.open(out / "demo.posetrack.zarr", mode="r")
    assert len(store.predictions) == metrics["n_predicted"] and len(store.labels) > 0
    assert len(store.track_names) == 2
    ds = load_dataset(out / "predictions.slp", check_videos="ignore")
    assert len(ds.predictions) == metrics["n_predicted"]
    # a second run into the same folder is refused without --overwrite (before any work)
    assert main(["demo", "--no-gui", "--out", str(out), "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_demo_impossible_threshold_fails_loudly(tmp_path, capsys, monkeypatch):
    """The exit status follows the metrics: an unreachable threshold gives status 1 and says why."""
    from napari_posetrack.workflows import demo as demo_workflow

    def fake_pipeline(out, **kw):  # the thresholds logic only; the real pipeline is tested above
        return {"metrics": {"map": 0.5, "mar": 0.5, "pck_5": 0.9, "median_error_px": 0.5, "idf1": 0.9,
                            "id_switches": 0, "mota": 0.9}, "store": out, "predictions": out, "model": out}

    monkeypatch.setattr(demo_workflow, "run_pipeline", fake_pipeline)
    assert main(["demo", "--no-gui", "--out", str(tmp_path), "--min-map", "0.9"]) == 1
    assert "FAILED: mAP 0.500 (min 0.9)" in capsys.readouterr().err


def test_demo_viewer_has_layers_and_docks(make_napari_viewer, tmp_path):
    """What `posetrack demo` opens: the project's video, labels, predictions, tracks and the docks."""
    import numpy as np

    from napari_posetrack._napari.demo import DEMO_DOCKS, populate_viewer
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.core.synthetic import make_synthetic_clip

    clip = make_synthetic_clip(tmp_path / "data", n_frames=12, n_animals=2, size=(96, 96))
    ds = clip["dataset"]
    ds.predictions = ds.labels.with_columns(source=np.ones(len(ds.labels), np.uint8))
    store = ProjectStore.create(tmp_path / "demo.posetrack.zarr", ds.skeleton, ds.videos)
    store.save(ds)
    store.close()
    viewer = make_napari_viewer()
    opened = populate_viewer(viewer, {"store": tmp_path / "demo.posetrack.zarr"})
    assert opened == list(DEMO_DOCKS)
    # the store opens as the viewer's editable session (video + skeleton + keypoints), and the docks
    # add the predictions and the identities (tracks)
    layers = {(type(layer).__name__, layer.name) for layer in viewer.layers}
    assert ("Image", "synthetic_clip.mp4") in layers
    import napari

    # labels and predictions are drawn once, in the keypoints layer (a Points layer; predictions are source 1)
    kp = viewer.layers["keypoints"]
    assert isinstance(kp, napari.layers.Points) and not any(name == "predictions" for _, name in layers)
    assert (np.asarray(kp.features["source"]) == 1).any()
    assert any(kind == "Tracks" for kind, _ in layers)
    from napari_posetrack._napari.session import get_session, set_session

    session = get_session(viewer)
    assert session is not None and len(session.dataset.predictions) == len(ds.predictions)
    set_session(viewer, None)
    session.store.close()


def test_demo_without_a_display_falls_back_to_headless(monkeypatch, capsys):
    """On a machine with no display the GUI demo must not abort Qt: it runs headless instead."""
    import argparse

    from napari_posetrack.cli import cmd_demo

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(cmd_demo.sys, "platform", "linux")
    seen = {}

    def fake_demo(out, **kw):
        seen.update(kw)
        m = {"map": 0.5, "mar": 0.5, "pck_5": 0.5, "median_error_px": 1.0, "idf1": 1.0, "id_switches": 0, "mota": 1.0}
        return {"metrics": m, "passed": True, "store": out, "predictions": "p.slp", "model": "m"}

    monkeypatch.setattr(cmd_demo, "demo", fake_demo)
    parser = argparse.ArgumentParser()
    cmd_demo.add_arguments(parser)
    assert cmd_demo.run(parser.parse_args([])) == 0
    assert seen["gui"] is False
    assert "no display found" in capsys.readouterr().err
