"""Plots and skeleton features for real predictions and a small synthetic table."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.errors import ConfigError, FormatError
from napari_posetrack.core.plots import PLOTS, make_figure, skeleton_features, track_series, write_plots
from napari_posetrack.core.posetable import PREDICTED, PoseTable
from napari_posetrack.core.skeleton import Skeleton

SK = Skeleton.from_names(["head", "tail"], [("head", "tail")])


def _dataset():
    f = np.arange(30)
    pts = np.stack([np.stack([10 + f, 20 + 0 * f], 1), np.stack([10 + f + 3, 20 + 0 * f + 4], 1)], 1)
    table = PoseTable.from_arrays(np.concatenate([pts, pts + 50]).astype(np.float32),
                                  frame_idx=np.concatenate([f, f]), track_id=np.repeat([0, 1], 30),
                                  score=np.full((60, 2), 0.8), source=PREDICTED)
    return PoseDataset(SK, [VideoInfo("v.mp4", 30, 200, 200, 1)], ["left", "right"], predictions=table)


def test_skeleton_features_values():
    ds = _dataset()
    df = skeleton_features(ds.predictions, SK, track_names=ds.track_names)
    assert len(df) == 60
    assert set(df.track_name) == {"left", "right"}
    assert np.allclose(df.length, 5.0)  # a 3-4-5 bone
    # image y points down: the tail is below-right of the head, so the bone points at -53.13 degrees
    assert np.allclose(df.orientation, -np.degrees(np.arctan2(4, 3)))


def test_track_series_and_jumps_figure():
    ds = _dataset()
    series = track_series(ds.predictions, 0)
    assert [s[0] for s in series] == [0, 1] and series[0][2].shape == (30, 2, 2)
    fig = make_figure("jumps", ds.predictions, SK, track_names=ds.track_names)
    ax = fig.axes[0]
    # every node moves exactly 1 px per frame: the legend reports it for both tracks
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["left (median 1.0 px)", "right (median 1.0 px)"]


def test_write_plots_real_predictions(tmp_path, shared_data):
    from napari_posetrack.core.io import load_dataset

    ds = load_dataset(shared_data / "proofreading" / "centered_pair_predictions.slp", check_videos="ignore")
    paths = write_plots(ds, tmp_path, max_tracks=3)
    assert [p.name for p in paths] == [f"video0_{k}.png" for k in PLOTS] + ["video0_skeleton_features.csv"]
    for p in paths[:-1]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    import pandas as pd

    df = pd.read_csv(paths[-1])
    assert {"frame", "track_name", "bone", "length", "orientation"} <= set(df.columns)
    assert len(df) > 10_000 and df.length.between(0, 400).all()
    with pytest.raises(FormatError, match="already exist"):
        write_plots(ds, tmp_path)
    with pytest.raises(ConfigError, match="no instances"):
        write_plots(ds, tmp_path / "x", video_id=3)
