"""``posetrack track`` on real files: .slp and store outputs, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.cli import main
from napari_posetrack.core.dataset import PoseDataset
from napari_posetrack.core.io import load_dataset, save_dataset
from napari_posetrack.core.metrics.tracking import tracking_metrics

from conftest import shared_file


def test_track_three_flies_slp(tmp_path, capsys):
    src = shared_file("flies", "three_flies.slp")
    gt = load_dataset(src, check_videos="ignore")
    stripped = PoseDataset(gt.skeleton, gt.videos, [], gt.labels.with_columns(track_id=np.full(len(gt.labels), -1)))
    pred = save_dataset(stripped, tmp_path / "stripped.slp")
    out = tmp_path / "tracked.slp"
    assert main(["track", str(pred), "--out", str(out), "--max-tracks", "3", "--tracker", "kalman", "--quiet"]) == 0
    assert "3 tracks" in capsys.readouterr().out
    res = load_dataset(out, check_videos="ignore")
    m = tracking_metrics(gt.labels, res.labels)
    assert m["idf1"] >= 0.99 and m["id_switches"] == 0 and len(res.track_names) == 3


def test_track_centered_pair_into_a_store(tmp_path, capsys):
    pytest.importorskip("napari_posetrack.core.store")
    from napari_posetrack.core.store import ProjectStore

    src = shared_file("proofreading", "centered_pair_predictions.slp")
    out = tmp_path / "cp.posetrack.zarr"
    assert main(["track", str(src), "--out", str(out), "--max-tracks", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "66 frames have more instances than max_tracks=2 (frames 25, 29, 32" in err
    store = ProjectStore.open(out, mode="r")
    try:
        tid = store.predictions.track_id
        assert set(np.unique(tid[tid >= 0]).tolist()) == {0, 1} and len(store.track_names) == 2
    finally:
        store.close()


def test_bad_inputs(tmp_path, capsys):
    src = load_dataset(shared_file("flies", "two_flies.slp"), check_videos="ignore")
    empty = save_dataset(PoseDataset(src.skeleton, src.videos), tmp_path / "empty.slp")
    assert main(["track", str(empty), "--out", str(tmp_path / "o.slp"), "--quiet"]) == 1
    assert "holds no instances to track" in capsys.readouterr().err
    lab = src.labels
    beyond = lab.with_columns(frame_idx=lab.frame_idx + 1000)  # the video has 128 frames
    bad = save_dataset(PoseDataset(src.skeleton, src.videos, ["F", "M"], beyond), tmp_path / "beyond.slp")
    assert main(["track", str(bad), "--out", str(tmp_path / "o.slp"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "which has only 128 frames" in err and "1000" in err
    good = save_dataset(src, tmp_path / "good.slp")
    assert main(["track", str(good), "--out", str(tmp_path / "o.slp"), "--max-tracks", "1", "--quiet"]) == 1
    assert "max_tracks=1 is smaller than the number of instances" in capsys.readouterr().err
