"""`posetrack info`: videos, labels files and stores, as text and JSON."""

from __future__ import annotations

import json
import warnings

import pytest

from conftest import shared_file
from napari_posetrack.cli import main
from napari_posetrack.workflows.info import info
from napari_posetrack.core.errors import FormatError


def test_info_on_a_labels_file(capsys):
    path = shared_file("flies", "two_flies.slp")
    d = info(path)
    assert d["type"] == "labels" and d["format"] == "slp"
    assert d["skeleton"]["n_nodes"] == 13 and d["tracks"] == ["F", "M"]
    assert d["labels"] == {"frames": 128, "instances": 256, "tracked_instances": 256}
    assert d["videos"][0]["n_frames"] == 128 and d["videos"][0]["width"] == 1024
    assert d["missing_videos"] == []
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "256 instances on 128 frames" in out and "F, M" in out


def test_info_reports_missing_video_with_candidates(capsys):
    path = shared_file("fixtures", "minimal_instance.slp")
    d = info(path)
    assert len(d["missing_videos"]) == 1
    assert any(c.endswith("proofreading/centered_pair_low_quality.mp4") for c in d["missing_videos"][0]["candidates"])
    assert main(["info", str(path), "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["labels"]["instances"] == 2


def test_info_on_a_video_runs_the_seek_check(capsys):
    d = info(shared_file("flies", "single_fly.mp4"))
    assert d["type"] == "video" and d["n_frames"] == 128 and (d["height"], d["width"]) == (1024, 1024)
    assert d["codec"] == "h264" and d["seek_ok"] is True


def test_info_on_a_dlc_project():
    d = info(shared_file("mouse-openfield"))
    assert d["format"] == "dlc-project"
    assert d["skeleton"]["nodes"] == ["snout", "leftear", "rightear", "tailbase"]
    assert d["videos"][0]["kind"] == "images" and d["labels"]["frames"] == 116


def test_info_on_a_store(tmp_path):
    from napari_posetrack.cli.cmd_import import import_

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_([shared_file("fixtures", "minimal_instance.pkg.slp")], tmp_path / "p.posetrack.zarr")
    d = info(tmp_path / "p.posetrack.zarr")
    assert d["type"] == "store" and d["labels"]["instances"] == 2
    assert d["videos"][0]["kind"] == "embedded" and d["missing_videos"] == []


def test_info_on_missing_path(tmp_path, capsys):
    with pytest.raises(FormatError, match="does not exist"):
        info(tmp_path / "nope.slp")
    assert main(["info", str(tmp_path / "nope.slp")]) == 1
    assert "does not exist" in capsys.readouterr().err
