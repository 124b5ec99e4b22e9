"""Predictors: coordinate geometry (scale, stride, crops), filters, loading and bad input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from napari_posetrack.core.errors import ConfigError, SkeletonMismatchError  # noqa: E402
from napari_posetrack.core.posetable import PREDICTED, UNLABELED  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.nn.inference.filters import FilterConfig, filter_instances, pairwise_oks  # noqa: E402
from napari_posetrack.nn.inference.predictors import (BottomUpPredictor, SingleInstancePredictor,  # noqa: E402
                                                      TopDownPredictor, load_predictor)
from napari_posetrack.nn.inference.toy import blob_frames, echo_stages, save_random_checkpoint  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])
CPU = torch.device("cpu")


@pytest.mark.parametrize("stride,scale", [(1, 1.0), (2, 1.0), (4, 1.0), (2, 0.5)])
def test_single_instance_geometry(stride, scale):
    truth = np.array([[21.3, 30.6], [50.2, 11.7]])
    frames = blob_frames(truth[:, None, None, :], 64, 80, sigma=3.0)
    pred = SingleInstancePredictor(echo_stages("single", SK, stride=stride, input_scale=scale), CPU)
    tab = pred.predict_frames(frames, frame_idx=[7, 8], video_id=2)
    assert len(tab) == 2 and (tab.source == PREDICTED).all()
    np.testing.assert_array_equal(tab.frame_idx, [7, 8])
    np.testing.assert_array_equal(tab.video_id, [2, 2])
    tol = 0.05 if stride == 1 else 0.15
    assert np.abs(tab.points[:, 0] - truth).max() < tol
    assert np.all(tab.instance_score > 0.6) and np.allclose(tab.instance_score, tab.score.mean(1))


def test_topdown_crops_map_back_to_the_frame():
    truth = np.array([[[20.3, 30.6]], [[70.2, 60.1]], [[90.0, 8.4]]])  # 3 animals, one blob each
    frames = blob_frames(truth.reshape(1, 3, 1, 2), 96, 112, sigma=3.0)
    pred = TopDownPredictor(echo_stages("topdown", SK, crop_size=32), CPU)
    tab = pred.predict_frames(frames)
    assert len(tab) == 3
    got = tab.points[np.argsort(tab.points[:, 0, 0]), 0]
    np.testing.assert_allclose(got, truth[np.argsort(truth[:, 0, 0]), 0], atol=0.05)
    pred.settings.filters.max_instances = 2
    assert len(pred.predict_frames(frames)) == 2


def test_bottomup_echo_groups_blobs():
    # node a, b, c of one animal are blobs on a line; PAFs from the echo model are positive (x, y)
    truth = np.array([[[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]]])
    frames = blob_frames(truth[None], 48, 48, sigma=2.0)
    pred = BottomUpPredictor(echo_stages("bottomup", SK), CPU)
    pred.settings.paf_min_fraction = 0.0
    tab = pred.predict_frames(frames)
    assert len(tab) >= 1 and (tab.state != UNLABELED).sum(1).max() == 3


def test_filters():
    a = np.array([[0, 0], [10, 0], [20, 0]], np.float32)
    pts = np.stack([a, a + 0.2, a + 100, np.array([[np.nan, np.nan], [np.nan, np.nan], [5, 5]], np.float32)])
    scores = np.array([[0.9] * 3, [0.8] * 3, [0.7] * 3, [np.nan, np.nan, 0.99]], np.float32)
    inst = np.nan_to_num(scores, nan=0).mean(1)
    oks = pairwise_oks(pts[:2])
    assert oks[0, 1] > 0.9 and np.isclose(oks[0, 0], 1.0)
    keep = filter_instances(pts, scores, inst, FilterConfig(min_visible_nodes=2))
    assert keep.tolist() == [0, 2]  # duplicate 1 and the one-node instance 3 removed
    assert filter_instances(pts, scores, inst, FilterConfig(oks_threshold=None, min_visible_nodes=1)).tolist() == \
        [0, 1, 2, 3]
    assert filter_instances(pts, scores, inst, FilterConfig(max_instances=1)).tolist() == [0]
    assert filter_instances(pts, scores, inst, FilterConfig(min_instance_score=0.75)).tolist() == [0]


@pytest.mark.parametrize("kind", ["single", "bottomup", "topdown"])
def test_load_random_checkpoints_through_the_checkpoint_api(tmp_path, kind):
    model_dir = save_random_checkpoint(tmp_path / kind, kind, SK, seed=1, crop_size=32)
    pred = load_predictor(model_dir, "cpu", peak_threshold=-1.0, max_instances=3)
    assert pred.kind == kind and pred.skeleton == SK
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 1), dtype=np.uint8)
    t1 = pred.predict_frames(frames)
    t2 = pred.predict_frames(frames)
    assert t1.equals(t2) and t1.n_nodes == 3 and (t1.source == PREDICTED).all()
    if kind != "topdown":
        assert len(t1) >= 3  # threshold -1: every frame has something
    pred.check_skeleton(SK)
    with pytest.raises(SkeletonMismatchError, match="retrain"):
        pred.check_skeleton(Skeleton.from_names(["a", "b"], [("a", "b")]), source="project x")


def test_bad_model_dirs(tmp_path):
    save_random_checkpoint(tmp_path / "td", "topdown", SK)
    with pytest.raises(ConfigError, match="only the centroid half"):
        load_predictor(tmp_path / "td" / "centroid", "cpu")
    with pytest.raises(ConfigError, match="Unknown inference setting"):
        load_predictor(tmp_path / "td", "cpu", bogus=1)
    from napari_posetrack.nn.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="not a model directory"):
        load_predictor(tmp_path, "cpu")
    (tmp_path / "td" / "centered_instance" / "best.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupted"):
        load_predictor(tmp_path / "td", "cpu")


def test_cpu_bf16_is_opt_in_and_close_to_float32(tmp_path, monkeypatch):
    """bfloat16 on CPU is used only when asked for (and the CPU has it); positions stay close."""
    from napari_posetrack.nn.inference.predictors import cpu_has_bf16

    monkeypatch.setenv("POSETRACK_CPU_BF16", "1")  # treat this CPU as bf16-capable (emulated if not)
    assert cpu_has_bf16()
    model_dir = save_random_checkpoint(tmp_path / "m", "single", SK, seed=1)
    default = load_predictor(model_dir, "cpu")
    assert not default.stages["single"].bf16  # off unless asked for
    bf = load_predictor(model_dir, "cpu", cpu_bf16=True)
    assert bf.stages["single"].bf16
    monkeypatch.setenv("POSETRACK_CPU_BF16", "0")
    assert not load_predictor(model_dir, "cpu", cpu_bf16=True).stages["single"].bf16  # CPU without it
    frames = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 1), dtype=np.uint8)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)
    st32, st16 = default.stages["single"], bf.stages["single"]
    with torch.inference_mode():
        o32 = st32.forward(st32.prepare(x))["confmaps"]
        o16 = st16.forward(st16.prepare(x))["confmaps"]
    assert o16.dtype == torch.float32  # outputs are handed on as float32 either way
    assert torch.allclose(o16, o32, atol=0.05 * float(o32.abs().max()) + 1e-3)
