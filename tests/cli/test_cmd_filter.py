"""`posetrack filter` end to end on a saved predictions file."""

from __future__ import annotations

import numpy as np
import pytest

from napari_posetrack.cli import main
from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.io import load_dataset, save_dataset
from napari_posetrack.core.posetable import PREDICTED, PoseTable
from napari_posetrack.core.skeleton import Skeleton


def _noisy_dataset(n_frames=80, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)
    clean, noisy, frames, tracks = [], [], [], []
    for tr in range(2):
        base = np.stack([100 + 60 * tr + 40 * np.cos(0.05 * t), 100 + 40 * np.sin(0.05 * t)], 1)
        nodes = base[:, None] + np.array([[0, 0], [12, 4]])[None]
        clean.append(nodes)
        noisy.append(nodes + rng.normal(0, 3, nodes.shape))
        frames.append(t)
        tracks.append(np.full(n_frames, tr))
    kw = dict(frame_idx=np.concatenate(frames), track_id=np.concatenate(tracks), source=PREDICTED,
              score=np.full((2 * n_frames, 2), 0.9, np.float32), instance_score=np.full(2 * n_frames, 0.9))
    sk = Skeleton.from_names(["head", "tail"], [("head", "tail")], name="toy")
    ds = PoseDataset(sk, [VideoInfo("clip.mp4", n_frames, 240, 320, 1, 30.0)], ["a", "b"],
                     predictions=PoseTable.from_arrays(np.concatenate(noisy).astype(np.float32), **kw))
    return ds, PoseTable.from_arrays(np.concatenate(clean).astype(np.float32), **kw)


def _err(table, clean):
    order_a = np.lexsort((table.track_id, table.frame_idx))
    order_b = np.lexsort((clean.track_id, clean.frame_idx))
    return float(np.sqrt(np.mean(np.sum((table.points[order_a] - clean.points[order_b]) ** 2, -1))))


@pytest.mark.parametrize("method", ["median", "savgol", "kalman"])
def test_filter_command_reduces_error(tmp_path, method, capsys):
    ds, clean = _noisy_dataset()
    src = save_dataset(ds, tmp_path / "pred.slp")
    out = tmp_path / f"filtered_{method}.slp"
    args = [ "filter", str(src), "--out", str(out), "--method", method, "--window", "7"]
    assert main(args) == 0
    assert "track(s) smoothed" in capsys.readouterr().out
    got = load_dataset(out, check_videos="ignore")
    assert len(got.predictions) == len(ds.predictions)
    assert got.track_names == ["a", "b"]
    assert _err(got.predictions, clean) < 0.8 * _err(ds.predictions, clean)
    # an existing output is refused without --overwrite, accepted with it
    assert main(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_filter_command_bad_input(tmp_path, capsys):
    ds, _ = _noisy_dataset(n_frames=6)
    src = save_dataset(ds, tmp_path / "short.slp")
    assert main(["filter", str(src), "--out", str(tmp_path / "o.slp"), "--window", "11"]) == 1
    err = capsys.readouterr().err
    assert "longer than every track" in err and "--window" in err
    assert main(["filter", str(src), "--out", str(tmp_path / "o.xyz"), "--format", "xyz"]) == 1
    err = capsys.readouterr().err
    assert "Unsupported format 'xyz'" in err and "slp" in err
    assert not (tmp_path / "o.slp").exists()
