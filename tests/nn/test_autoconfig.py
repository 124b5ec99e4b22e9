"""Settings picked from the labels (nn/autoconfig.py): the centroid sigma that keeps close animals apart."""

import numpy as np
import pytest

from napari_posetrack.nn.autoconfig import DEFAULT_SIGMA, auto_sigma, closest_spacing
from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.data import FrameSet


def _animal(x, y, length=100.0):
    """A 3-node animal along x: tail, centre (the anchor), head; ``length`` px long."""
    return np.array([[x - length / 2, y], [x, y], [x + length / 2, y]], np.float32)


def _frames(gaps, length=100.0):
    """One frame per gap, two animals side by side ``gap`` px apart (centre to centre)."""
    pts = [np.stack([_animal(200, 200, length), _animal(200, 200 + g, length)]) for g in gaps]
    images = [np.zeros((512, 512, 1), np.uint8) for _ in gaps]
    keys = np.array([[0, i] for i in range(len(gaps))])
    return FrameSet(images, pts, keys, np.zeros(len(gaps), bool), ["tail", "centre", "head"], [(0, 1), (1, 2)],
                    None, None)


def _cfg(kind, scale=0.125, stride=2):
    cfg = TrainingConfig().update({"model": {"type": kind, "output_stride": stride, "anchor_node": "centre"},
                                   "preprocess": {"input_scale": scale}})
    cfg.skeleton = {"node_names": ["tail", "centre", "head"], "edges": [[0, 1], [1, 2]], "symmetries": []}
    return cfg


def test_spacing_is_half_an_animal_unless_labels_are_closer():
    spacing, why = closest_spacing(_frames([300, 320, 310]), 1)  # labeled far apart: animals could still touch
    assert spacing == pytest.approx(50.0) and "side by side" in why
    spacing, why = closest_spacing(_frames([30, 35, 40, 300]), 1)  # overlapping animals labeled
    assert spacing < 40 and "closest labeled" in why


def test_centroid_sigma_separates_animals_side_by_side():
    fs = _frames([300, 320])
    sigma, why = auto_sigma(fs, _cfg("centroid", scale=0.25, stride=2))
    # half a 100 px animal at scale 0.25 = 12.5 input px; 4 sigmas apart -> about 3.1, capped at the default
    assert sigma == DEFAULT_SIGMA and "side by side" in why
    sigma, _ = auto_sigma(fs, _cfg("centroid", scale=0.125, stride=2))
    assert sigma == pytest.approx(1.5)  # 6.25 / 4 = 1.56 -> 1.5 (quarter steps)
    sigma, _ = auto_sigma(fs, _cfg("centroid", scale=0.0625, stride=4))
    assert sigma == pytest.approx(3.0)  # never finer than 0.75 x the output stride
    for kind in ("centered_instance", "single", "bottomup"):
        assert auto_sigma(fs, _cfg(kind))[0] == DEFAULT_SIGMA


def test_sigma_auto_in_config_and_explicit_sigma_kept():
    assert TrainingConfig().model.sigma == 0  # auto
    with pytest.raises(Exception, match="sigma"):
        TrainingConfig().update({"model": {"sigma": 0.2}}).validate()
    cfg = TrainingConfig().update({"model": {"sigma": 3.0}})
    cfg.validate()
    assert cfg.model.sigma == 3.0


def test_training_reports_and_saves_the_auto_sigma(tmp_path):
    from napari_posetrack.nn.config import load_config
    from napari_posetrack.nn.toy import make_toy_dataset
    from napari_posetrack.nn.train import iter_train
    from test_trainer import _events

    ds = make_toy_dataset(6, (48, 48))
    ov = {"model": {"backbone": {"filters": 4, "down_blocks": 2}}, "train": {"epochs": 1, "batch_size": 2},
          "preprocess": {"input_scale": 1.0}}
    evs, _ = _events(iter_train(ds, "single", tmp_path / "m", overrides=ov))
    assert any(e.stage == "setup" and e.message.startswith("sigma 2.5 px (auto") for e in evs)
    assert load_config(tmp_path / "m").model.sigma == DEFAULT_SIGMA


@pytest.mark.parametrize("device, norm, n_train, batch, rate", [
    ("cpu", "group", 344, 4, 5e-3),
    ("cuda", "group", 344, 16, 1e-2),       # 5e-3 x sqrt(4) = 1e-2 (the cap)
    ("cuda", "batch", 64, 8, 5e-3 * 2 ** 0.5),  # an eighth of 64 samples
    ("cpu", "none", 10, 1, 1e-3 * 0.5),     # 10 samples: batch 1, plain UNet rate
])
def test_auto_batch_and_rate_from_device_and_samples(device, norm, n_train, batch, rate):
    from napari_posetrack.nn.autoconfig import auto_batch_and_rate

    cfg = TrainingConfig()
    assert cfg.train.batch_size == 0 and cfg.train.learning_rate == 0.0  # auto by default
    cfg.model.backbone.norm = norm
    msgs = auto_batch_and_rate(cfg, n_train, device)
    assert cfg.train.batch_size == batch
    assert cfg.train.learning_rate == pytest.approx(rate)
    assert len(msgs) == 2 and msgs[0].startswith(f"batch {batch} (auto:") and "learning rate" in msgs[1]
    assert "train.batch_size" in msgs[0] and "train.learning_rate" in msgs[1]


def test_auto_batch_and_rate_keep_what_the_user_set():
    from napari_posetrack.nn.autoconfig import auto_batch_and_rate

    cfg = TrainingConfig().update({"train": {"batch_size": 6, "learning_rate": 3e-4}})
    assert auto_batch_and_rate(cfg, 500, "cuda") == []
    assert (cfg.train.batch_size, cfg.train.learning_rate) == (6, 3e-4)


@pytest.mark.parametrize("norm, ema, kept", [("batch", 0.998, 0.0), ("group", 0.998, 0.998), ("batch", 0.0, 0.0)])
def test_weight_average_is_off_for_batch_norm(norm, ema, kept):
    from napari_posetrack.nn.autoconfig import ema_for_norm

    cfg = TrainingConfig().update({"train": {"ema": ema}})
    cfg.model.backbone.norm = norm
    msgs = ema_for_norm(cfg)
    assert cfg.train.ema == kept
    assert (len(msgs) == 1 and "batch norm" in msgs[0]) if ema != kept else msgs == []


def test_training_with_batch_norm_reports_the_weight_average_off(tmp_path):
    from napari_posetrack.nn.config import load_config
    from napari_posetrack.nn.toy import make_toy_dataset
    from napari_posetrack.nn.train import iter_train
    from test_trainer import _events

    ds = make_toy_dataset(6, (48, 48))
    ov = {"model": {"backbone": {"filters": 4, "down_blocks": 2, "norm": "batch"}},
          "train": {"epochs": 1, "batch_size": 2}, "preprocess": {"input_scale": 1.0}}
    evs, _ = _events(iter_train(ds, "single", tmp_path / "m", overrides=ov))
    assert any(e.stage == "setup" and "weight average off" in e.message for e in evs)
    assert load_config(tmp_path / "m").train.ema == 0.0


def test_body_sides_from_the_labels_for_bottom_up_grouping():
    from napari_posetrack.nn.autoconfig import body_sides

    rng = np.random.default_rng(0)
    names = ["thorax", "head", "wingL", "wingR", "legL", "legR"]
    pts = []
    for _ in range(12):  # animals facing every way; wingL always on the left of wingR, the legs at random
        ang = rng.uniform(0, 2 * np.pi)
        fwd, side = np.array([np.cos(ang), np.sin(ang)]), np.array([-np.sin(ang), np.cos(ang)])
        t = rng.uniform(100, 400, 2)
        flip = rng.choice([-1, 1])
        body = [t, t + 30 * fwd, t - 20 * fwd - 12 * side, t - 20 * fwd + 12 * side,
                t + 5 * fwd - flip * 15 * side, t + 5 * fwd + flip * 15 * side]
        pts.append(np.stack(body)[None].astype(np.float32))
    fs = FrameSet([np.zeros((512, 512, 1), np.uint8)] * 12, pts, np.array([[0, i] for i in range(12)]),
                  np.zeros(12, bool), names, [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)], None, None)
    sk = {"node_names": names, "symmetries": [[3, 2], [4, 5]]}
    axis, sides, msg = body_sides(fs, sk)
    assert axis == (0, 1)
    assert sides == [(2, 3)]  # wingL first: it lies on the smaller side; the legs switch sides, so not kept
    assert "thorax -> head" in msg and "wingL|wingR 100%" in msg
    assert body_sides(fs, {"node_names": ["a", "b", "wingL", "wingR", "legL", "legR"],
                           "symmetries": [[2, 3]]}) == ((), [], "")  # no axis can be proposed from these names


def test_auto_rate_scales_with_the_global_batch_of_data_parallel_training():
    from napari_posetrack.nn.autoconfig import auto_batch_and_rate

    cfg = TrainingConfig().update({"train": {"batch_size": 2}})
    cfg.model.backbone.norm = "group"
    msgs = auto_batch_and_rate(cfg, 100, "cpu", world_size=2)
    assert cfg.train.learning_rate == pytest.approx(5e-3)  # 2 per process x 2 processes = batch 4
    assert msgs and "global batch 4 = 2 x 2 processes" in msgs[0]
