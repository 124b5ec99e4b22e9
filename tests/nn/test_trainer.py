"""Training loop on tiny synthetic data: learning, reproducibility, cancel, resume, bad input."""

import json

import numpy as np
import pytest
import torch

from napari_posetrack.core.errors import ConfigError
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.progress import CancelToken
from napari_posetrack.nn.checkpoint import load_model, load_pipeline
from napari_posetrack.nn.toy import make_toy_dataset
from napari_posetrack.nn.train import iter_train, train

torch.set_num_threads(1)

TINY = {"model": {"sigma": 2.0, "backbone": {"filters": 4, "down_blocks": 2}},
        "train": {"epochs": 2, "batch_size": 4, "steps_per_epoch": 3, "eval_every": 1, "val_fraction": 0.25,
                  "device": "cpu"},
        "augment": {"rotation": 10.0}}


def _events(gen):
    evs = []
    while True:
        try:
            evs.append(next(gen))
        except StopIteration as stop:
            return evs, stop.value


def test_single_instance_learns_and_saves(tmp_path):
    ds = make_toy_dataset(12, (32, 32), negatives=2)
    ov = {"model": {"sigma": 1.5, "backbone": {"filters": 8, "down_blocks": 2}},
          "train": {"epochs": 4, "batch_size": 4, "steps_per_epoch": 20, "eval_every": 0, "val_fraction": 0.2,
                    "learning_rate": 3e-3, "scheduler": "none"}, "augment": {"enabled": False}}
    evs, res = _events(iter_train(ds, "single", tmp_path / "m", overrides=ov))
    st = res["stages"]["single"]
    losses = [e.metrics["loss"] for e in evs if e.stage == "train"]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    assert st["metrics"]["pck"][10] > 0.5  # learns where the blobs are within 4 epochs
    model, cfg = load_model(tmp_path / "m")
    assert cfg["model"]["type"] == "single" and cfg["model"]["output_stride"] == 2
    assert (tmp_path / "m" / "best.safetensors").is_file() and (tmp_path / "m" / "last.safetensors").is_file()
    hist = json.loads((tmp_path / "m" / "history.json").read_text())
    assert len(hist) == 4 and "val_oks_map" in cfg["data"]["metrics"]
    assert cfg["data"]["n_val_frames"] >= 1
    for plot in ("val_errors.png", "val_grid.png"):
        assert (tmp_path / "m" / plot).read_bytes()[:4] == b"\x89PNG"


def test_seed_reproducible(tmp_path):
    ds = make_toy_dataset(8, (32, 32))
    r1 = train(ds, "single", tmp_path / "a", overrides=TINY, show_progress=False)
    r2 = train(ds, "single", tmp_path / "b", overrides=TINY, show_progress=False)
    h1, h2 = r1["stages"]["single"]["history"], r2["stages"]["single"]["history"]
    assert [h["train_loss"] for h in h1] == pytest.approx([h["train_loss"] for h in h2], rel=1e-5)


def test_cancel_keeps_best_and_resume_continues(tmp_path):
    ds = make_toy_dataset(8, (32, 32))
    ov = json.loads(json.dumps(TINY))
    ov["train"]["epochs"] = 3
    token = CancelToken()
    gen = iter_train(ds, "single", tmp_path / "m", overrides=ov, cancel=token)
    n_epochs = 0
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            res = stop.value
            break
        if ev.stage == "epoch":
            n_epochs += 1
            token.cancel()
    st = res["stages"]["single"]
    assert st["stopped"] == "cancelled" and n_epochs <= 2
    assert (tmp_path / "m" / "best.safetensors").is_file()
    res2 = train(ds, "single", tmp_path / "m", overrides=ov, resume=True, show_progress=False)
    hist = res2["stages"]["single"]["history"]
    assert hist[0]["epoch"] == 1 and hist[-1]["epoch"] == 3  # history continues from the stopped run


def test_topdown_and_bottomup_end_to_end(tmp_path):
    ds = make_toy_dataset(8, (48, 48), n_animals=2, nodes=5, negatives=1)
    res = train(ds, "topdown", tmp_path / "td", overrides=TINY, show_progress=False)
    assert set(res["stages"]) == {"centroid", "centered_instance"}
    pipe = load_pipeline(tmp_path / "td")
    assert pipe["kind"] == "topdown"
    ci_model, ci_cfg = pipe["models"]["centered_instance"]
    assert ci_cfg["model"]["crop_size"] > 0
    assert (tmp_path / "td" / "centered_instance" / "val_grid.png").is_file()
    assert (tmp_path / "td" / "centroid" / "val_grid.png").is_file()
    out = ci_model(torch.rand(1, 1, 32, 32))
    assert out["confmaps"].shape[1] == 5
    res = train(ds, "bottomup", tmp_path / "bu", overrides=TINY, show_progress=False)
    m, cfg = load_model(tmp_path / "bu")
    assert set(m(torch.rand(1, 1, 48, 48))) == {"confmaps", "pafs"}
    assert "oks_map" in res["stages"]["bottomup"]["metrics"]


def test_no_labeled_frames_error(tmp_path):
    ds = make_toy_dataset(4, (32, 32))
    ds.labels = PoseTable.empty(3)
    with pytest.raises(ConfigError, match="no labeled frames"):
        train(ds, "single", tmp_path / "m", overrides=TINY, show_progress=False)


def test_never_labeled_node_warns(tmp_path):
    ds = make_toy_dataset(6, (32, 32))
    ds.labels.state[:, 2] = 0
    with pytest.warns(UserWarning, match="tail"):
        train(ds, "single", tmp_path / "m", overrides=TINY, show_progress=False)


def test_mixed_frame_sizes_are_padded(tmp_path):
    a = make_toy_dataset(4, (32, 32), seed=1)
    b = make_toy_dataset(4, (40, 48), seed=2)
    evs, res = _events(iter_train([a, b], "single", tmp_path / "m", overrides=TINY))
    msgs = " ".join(e.message for e in evs)
    assert "mixed sizes" in msgs and "40x48" in msgs, msgs
    assert res["stages"]["single"]["epochs_run"] == 2


def test_crop_larger_than_frame(tmp_path):
    ds = make_toy_dataset(4, (32, 32))
    with pytest.raises(ConfigError, match="crop size 64 px is larger than the frames"):
        train(ds, "topdown", tmp_path / "m", overrides=TINY, show_progress=False,
              stage_overrides={"centered_instance": {"model": {"crop_size": 64}}})


def test_out_of_memory_suggests_batch_size(tmp_path, monkeypatch):
    from napari_posetrack.nn import trainer
    from napari_posetrack.nn.trainer import OutOfMemory

    def boom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer, "compute_loss", boom)
    ds = make_toy_dataset(4, (32, 32))
    with pytest.raises(OutOfMemory, match=r"smaller batch size \(try 2\)"):
        train(ds, "single", tmp_path / "m", overrides=TINY, show_progress=False)
    assert not (tmp_path / "m" / "config.yaml").exists()


def test_cosine_with_time_limit_anneals_over_the_budget(tmp_path):
    """A budget-limited cosine run ends near the floor learning rate, not at the start value."""
    ds = make_toy_dataset(8, (32, 32))
    ov = {"model": {"sigma": 2.0, "backbone": {"filters": 4, "down_blocks": 2}},
          "train": {"epochs": 100000, "batch_size": 2, "steps_per_epoch": 2, "eval_every": 0, "val_fraction": 0.25,
                    "learning_rate": 1e-3, "scheduler": "cosine", "max_minutes": 0.04, "time_clock": "wall",
                    "patience": 0, "device": "cpu", "warmup": 0.0}, "augment": {"enabled": False}}
    evs, res = _events(iter_train(ds, "single", tmp_path / "m", overrides=ov))
    hist = res["stages"]["single"]["history"]
    assert res["stages"]["single"]["stopped"] == "time limit"
    lrs = [h["lr"] for h in hist]
    assert len(lrs) >= 3
    assert lrs[0] > 0.8e-3  # starts near the configured rate
    assert lrs[-1] < 0.3e-3  # and has annealed by the end of the budget
    assert all(b <= a + 1e-12 for a, b in zip(lrs, lrs[1:]))


def test_warmup_then_cosine_learning_rate():
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.trainer import lr_factor

    cfg = TrainingConfig().update({"train": {"warmup": 0.1, "scheduler": "cosine"}})
    f = [lr_factor(cfg, p) for p in np.linspace(0, 1, 101)]
    assert f[0] == pytest.approx(0.05)  # warm-up starts low
    assert max(f) == pytest.approx(1.0, abs=1e-6) and int(np.argmax(f)) == 10  # peak at the end of the warm-up
    assert all(b <= a + 1e-12 for a, b in zip(f[10:], f[11:]))  # then anneals
    assert f[-1] == pytest.approx(0.01)
    flat = TrainingConfig().update({"train": {"warmup": 0.0, "scheduler": "none"}})
    assert {lr_factor(flat, p) for p in (0.0, 0.5, 1.0)} == {1.0}


def test_settings_that_train_badly_warn(tmp_path):
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.trainer import config_warnings

    cfg = TrainingConfig().update({"model": {"sigma": 1.0, "output_stride": 2}, "augment": {"flip": 0.5}})
    cfg.skeleton = {"node_names": ["a", "b"], "edges": [[0, 1]], "symmetries": []}
    msgs = config_warnings(cfg)
    assert len(msgs) == 1 and "sigma 1" in msgs[0]
    cfg.model.sigma = 1.5  # 0.75 x the stride: fine (the auto centroid sigma goes down to it)
    assert config_warnings(cfg) == []
    cfg = TrainingConfig().update({"model": {"sigma": 2.5, "output_stride": 2}, "augment": {"flip": 0.5}})
    cfg.skeleton = {"node_names": ["aL", "aR"], "edges": [[0, 1]], "symmetries": [[0, 1]]}
    assert config_warnings(cfg) == []
    # and the trainer reports them as setup events
    ds = make_toy_dataset(8, (32, 32))
    ov = {**TINY, "model": {"sigma": 1.0, "backbone": {"filters": 4, "down_blocks": 2}},
          "train": {**TINY["train"], "epochs": 1}}
    evs, _ = _events(iter_train(ds, "single", tmp_path / "w", overrides=ov))
    assert any(e.stage == "setup" and "smaller than the output stride" in e.message for e in evs)


def test_flip_needs_left_right_pairs(tmp_path):
    """Flip augmentation (on by default) swaps left/right nodes: pairs come from the skeleton or from the node
    names; without any, flipping would teach mirrored labels, so it is switched off and the log says so."""
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.config import TrainingConfig

    assert TrainingConfig().augment.flip == 0.5
    ov = {**TINY, "train": {**TINY["train"], "epochs": 1}}
    ds = make_toy_dataset(8, (32, 32))
    evs, _ = _events(iter_train(ds, "single", tmp_path / "off", overrides=ov))
    assert any(e.stage == "setup" and e.message.startswith("flip augmentation off") for e in evs)
    assert load_model(tmp_path / "off")[1]["augment"]["flip"] == 0.0
    # the same nodes named as left/right pairs: proposed from the names, flips kept, the project untouched
    sk = ds.skeleton
    names = [f"part{'L' if i % 2 else 'R'}{i // 2}" for i in range(sk.n_nodes)]
    ds.skeleton = Skeleton(names, list(sk.edges), name=sk.name)
    evs, _ = _events(iter_train(ds, "single", tmp_path / "on", overrides=ov))
    assert any(e.stage == "setup" and "left/right pairs" in e.message and "auto: from the node names" in e.message
               for e in evs)
    cfg = load_model(tmp_path / "on")[1]
    assert cfg["augment"]["flip"] == 0.5 and len(cfg["skeleton"]["symmetries"]) == sk.n_nodes // 2
    assert ds.skeleton.symmetries == []


def _frameset(side, animal, n=4, k=3):
    from napari_posetrack.nn.data import FrameSet

    rng = np.random.default_rng(0)
    images, points = [], []
    for _ in range(n):
        images.append(np.zeros((side, side, 1), np.uint8))
        c = rng.uniform(animal, side - animal, size=2)
        pts = c + np.array([[-animal / 2, 0], [0, 0], [animal / 2, animal / 4]])[:k]
        points.append(pts[None].astype(np.float32))
    return FrameSet(images, points, np.array([[0, i] for i in range(n)]), np.zeros(n, bool),
                    node_names=[f"n{i}" for i in range(k)], edges=[(0, 1), (1, 2)])


@pytest.mark.parametrize("kind,side,animal,expected", [
    ("centroid", 1024, 100, 0.125),     # fly-sized: a coarse view (12 px flies) finds the animals
    ("centroid", 1024, 80, 0.125),      # 10 px flies are still found at 1/8
    ("centroid", 1024, 72, 0.25),       # ... but nothing smaller than 10 px
    ("bottomup", 1024, 100, 0.5),
    ("single", 1024, 100, 0.5),
    ("centroid", 1024, 16, 1.0),        # tiny animals keep full resolution
    ("bottomup", 1024, 40, 1.0),
    ("bottomup", 32, 10, 1.0),          # small frames are never shrunk
    ("centroid", 2048, 400, 0.125),
])
def test_auto_input_scale(kind, side, animal, expected):
    from napari_posetrack.nn.batches import animal_size, auto_input_scale
    from napari_posetrack.nn.config import TrainingConfig

    fs = _frameset(side, animal)
    assert animal_size(fs) == pytest.approx(animal)
    cfg = TrainingConfig().update({"model": {"type": kind}})
    assert cfg.preprocess.input_scale == 0  # the default is auto
    assert auto_input_scale(fs, cfg) == expected


def test_auto_input_scale_for_crops_follows_the_crop():
    from napari_posetrack.nn.batches import auto_input_scale
    from napari_posetrack.nn.config import TrainingConfig

    fs = _frameset(1024, 100)
    cfg = TrainingConfig().update({"model": {"type": "centered_instance", "crop_size": 120}})
    assert auto_input_scale(fs, cfg) == 1.0
    # crops are kept to about 128 px of network input: a 224 px crop is seen at half size
    cfg = TrainingConfig().update({"model": {"type": "centered_instance", "crop_size": 224}})
    assert auto_input_scale(fs, cfg) == 0.5
    cfg = TrainingConfig().update({"model": {"type": "centered_instance", "crop_size": 600}})
    # 600 px crops fit 128 px at 1/8, but the 100 px animal would then be 12.5 px (< 32): 1/2
    assert auto_input_scale(fs, cfg) == 0.5


def test_auto_crop_size_ignores_a_few_outlying_instances():
    """One instance with a stretched-out (or mislabeled) node must not double every crop."""
    from napari_posetrack.nn.batches import raw_crop_size
    from napari_posetrack.nn.config import TrainingConfig

    fs = _frameset(1024, 100, n=60)
    cfg = TrainingConfig().update({"model": {"type": "centered_instance", "anchor_node": "", "heading_node": ""}})
    base = raw_crop_size(fs, cfg)
    far = [p.copy() for p in fs.points]
    far[0][0, -1] = far[0][0, 0] + 400  # one node of one instance 400 px away
    fs.points = far
    assert raw_crop_size(fs, cfg) == pytest.approx(base, rel=0.05)


def test_auto_input_scale_is_resolved_and_saved(tmp_path):
    ds = make_toy_dataset(8, (32, 32))
    evs, res = _events(iter_train(ds, "single", tmp_path / "m", overrides=TINY))
    assert any(e.stage == "setup" and e.message.startswith("input scale 1 (auto") for e in evs)
    _, cfg = load_model(tmp_path / "m")
    assert cfg["preprocess"]["input_scale"] == 1.0  # the checkpoint records the scale used, never 0


def test_input_scale_between_zero_and_minimum_is_refused():
    from napari_posetrack.nn.config import TrainingConfig

    with pytest.raises(ConfigError, match="0 \\(auto\\) or a factor"):
        TrainingConfig().update({"preprocess": {"input_scale": 0.01}})


def test_bf16_without_cpu_support_warns_and_trains_in_float32(monkeypatch):
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.trainer import training_precision

    cpu = torch.device("cpu")
    monkeypatch.setenv("POSETRACK_CPU_BF16", "0")
    prec, warn = training_precision(TrainingConfig().update({"train": {"precision": "bf16"}}), cpu)
    assert prec == "float32" and "does not compute bfloat16 natively" in warn
    assert training_precision(TrainingConfig(), cpu) == ("float32", None)  # auto: silent
    monkeypatch.setenv("POSETRACK_CPU_BF16", "1")
    assert training_precision(TrainingConfig(), cpu) == ("bf16", None)
    assert training_precision(TrainingConfig().update({"train": {"precision": "float32"}}), cpu)[0] == "float32"


def test_bf16_training_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("POSETRACK_CPU_BF16", "1")  # emulated where the CPU lacks it: slow but correct
    ds = make_toy_dataset(6, (32, 32))
    res = train(ds, "single", tmp_path / "m", overrides=TINY, show_progress=False)
    st = res["stages"]["single"]
    assert st["epochs_run"] == 2 and np.isfinite(st["history"][-1]["train_loss"])
    _, cfg = load_model(tmp_path / "m")
    assert cfg["data"]["precision"] == "bf16"


def test_a_model_that_finds_nothing_is_reported():
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.trainer import result_warnings

    cfg = TrainingConfig().update({"model": {"type": "bottomup"}})
    nothing = {"n_gt_instances": 20, "n_pred_instances": 0, "error": {"n": 0}, "per_node": {}}
    (msg,) = result_warnings(cfg, nothing, [{}] * 3)
    assert "the model finds no animals on the validation frames after 3 epochs" in msg
    partial = {"n_gt_instances": 20, "n_pred_instances": 20, "error": {"n": 100},
               "per_node": {"head": {"detected": 1.0}, "leg": {"detected": 0.0}}}
    (msg,) = result_warnings(cfg, partial, [{}])
    assert "['leg']" in msg


def test_best_checkpoint_is_chosen_by_pose_metric():
    from napari_posetrack.nn.trainer import _better, _pose_score

    good = _pose_score({"oks_map": 0.5, "pck_5": 0.8}, val_loss=0.02)
    worse_but_lower_loss = _pose_score({"oks_map": 0.4, "pck_5": 0.9}, val_loss=0.01)
    assert _better(good, worse_but_lower_loss) and not _better(worse_but_lower_loss, good)
    assert _better(good, (-0.001,))  # pose-scored beats loss-only
    assert not _better((-0.0001,), good) and not _better(None, good)


def test_early_stopping_waits_for_steps_as_well_as_epochs(tmp_path, monkeypatch):
    """Short epochs (few frames) must not end a run a few dozen steps after its best epoch."""
    import napari_posetrack.nn.trainer as trainer

    monkeypatch.setattr(trainer, "_better", lambda score, best: best is None)  # only epoch 1 is ever the best
    ds = make_toy_dataset(8, (32, 32))
    ov = {"model": {"backbone": {"filters": 4, "down_blocks": 2}},
          "train": {"epochs": 8, "batch_size": 2, "steps_per_epoch": 5, "eval_every": 0, "patience": 1,
                    "device": "cpu"}, "augment": {"enabled": False}}
    monkeypatch.setattr(trainer, "MIN_PATIENCE_STEPS", 15)
    _, res = _events(iter_train(ds, "single", tmp_path / "a", overrides=ov))
    st = res["stages"]["single"]
    # patience 1 alone would stop after epoch 2; the 15-step wait holds it until epoch 4 (step 20 - 5)
    assert st["stopped"] == "early stopping" and st["epochs_run"] == 4
    monkeypatch.setattr(trainer, "MIN_PATIENCE_STEPS", 1000)
    _, res = _events(iter_train(ds, "single", tmp_path / "b", overrides=ov))
    assert res["stages"]["single"]["stopped"] == "epochs" and res["stages"]["single"]["epochs_run"] == 8


def test_early_stopping_waits_for_most_of_a_cosine_time_budget(tmp_path, monkeypatch):
    """Under max_minutes with the cosine schedule the learning rate is still high early on, so a stalled
    validation score does not stop the run before 3/4 of the budget; with a flat rate it does."""
    import napari_posetrack.nn.trainer as trainer

    monkeypatch.setattr(trainer, "_better", lambda score, best: best is None)  # only epoch 1 is ever the best
    monkeypatch.setattr(trainer, "MIN_PATIENCE_STEPS", 1)
    ds = make_toy_dataset(8, (32, 32))
    ov = {"model": {"backbone": {"filters": 4, "down_blocks": 2}},
          "train": {"epochs": 5, "max_minutes": 60.0, "batch_size": 2, "steps_per_epoch": 3, "eval_every": 0,
                    "patience": 1, "device": "cpu"}, "augment": {"enabled": False}}
    _, res = _events(iter_train(ds, "single", tmp_path / "cosine", overrides=ov))
    assert res["stages"]["single"]["stopped"] == "epochs" and res["stages"]["single"]["epochs_run"] == 5
    ov["train"]["scheduler"] = "none"
    _, res = _events(iter_train(ds, "single", tmp_path / "flat", overrides=ov))
    assert res["stages"]["single"]["stopped"] == "early stopping" and res["stages"]["single"]["epochs_run"] == 2


def test_slow_pose_validation_is_spaced_out(tmp_path, monkeypatch):
    """Pose metrics that take seconds run on about a tenth of the time, and always on the last epoch."""
    import napari_posetrack.nn.trainer as trainer

    fake = {"t": 0.0}
    monkeypatch.setattr(trainer.time, "process_time", lambda: fake["t"])
    real_validate = trainer.validate

    def slow_validate(*a, **k):
        fake["t"] += 10.0  # each pose validation costs 10 s
        return real_validate(*a, **k)

    def tick(*a, **k):
        fake["t"] += 3.0  # each epoch's validation loss: 3 s, so an epoch is about 3 s of "training"
        return 0.5

    monkeypatch.setattr(trainer, "validate", slow_validate)
    monkeypatch.setattr(trainer, "_val_loss", tick)
    ds = make_toy_dataset(8, (32, 32))
    ov = {"model": {"backbone": {"filters": 4, "down_blocks": 2}},
          "train": {"epochs": 40, "batch_size": 2, "steps_per_epoch": 2, "eval_every": 1, "patience": 0,
                    "time_clock": "cpu", "device": "cpu"}, "augment": {"enabled": False}}
    _, res = _events(iter_train(ds, "single", tmp_path / "m", overrides=ov))
    hist = res["stages"]["single"]["history"]
    scored = [h["epoch"] for h in hist if "val_oks_map" in h]
    assert len(hist) == 40 and scored[0] == 1 and scored[-1] == 40
    # 10 s of validation wants 90 s of other work in between: every 30th epoch or so (3 s each)
    assert 2 <= len(scored) <= 4, scored


def test_top_down_uses_the_skeletons_alignment_choice():
    from napari_posetrack.core.skeleton import NO_NODE
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.train import prepare_config

    ds = make_toy_dataset(4, (32, 32))  # nodes head, thorax, tail: proposed thorax -> head
    cfg = prepare_config(TrainingConfig(), "centered_instance", ds)
    assert (cfg.model.anchor_node, cfg.model.heading_node) == ("thorax", "head")
    ds.skeleton = ds.skeleton.with_alignment("tail", NO_NODE)
    cfg = prepare_config(TrainingConfig(), "centered_instance", ds)
    assert (cfg.model.anchor_node, cfg.model.heading_node) == ("tail", "")
    assert "set in the skeleton" in cfg.data["anchor_note"] and "Skeleton dock" in cfg.data["anchor_note"]
    # an explicit config value still wins over the skeleton
    cfg = prepare_config(TrainingConfig(), "centroid", ds, {"model": {"anchor_node": "head", "heading_node": "tail"}})
    assert (cfg.model.anchor_node, cfg.model.heading_node) == ("head", "tail")


def test_time_budget_keeps_room_for_the_final_scoring():
    """A budget-limited run stops early enough for the last validation and the final scoring (about one pose
    validation each), so --max-minutes is not overrun by them."""
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.budget import Budget as _Budget
    from napari_posetrack.nn.trainer import _finish_reserve

    cfg = TrainingConfig().update({"train": {"max_minutes": 1.0}})
    b = _Budget(cfg.train, 50)
    now = [b.start + 50.0]
    b.clock = lambda: now[0]
    assert not b.over() and not b.over(_finish_reserve((4.0, 0.0)))  # 10 s left, 8 s kept
    now[0] = b.start + 53.0
    assert not b.over() and b.over(_finish_reserve((4.0, 0.0)))  # 7 s left: stop now
    assert b.left()["budget_left_s"] == 7.0
    assert _Budget(TrainingConfig().train, 50).over(1e9) is False  # no time limit: never over
