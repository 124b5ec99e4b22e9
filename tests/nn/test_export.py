"""ONNX export + onnxruntime backend: same poses as torch (1e-3 px), sidecar contents, refusals."""


import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch.set_num_threads(1)

from napari_posetrack.core.errors import ConfigError  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.nn.export import (ExportError, export_model, load_backend_predictor,  # noqa: E402
                                        load_onnx_predictor, read_sidecar)
from napari_posetrack.nn.inference.predictors import load_predictor  # noqa: E402
from napari_posetrack.nn.inference.toy import save_random_checkpoint  # noqa: E402
from napari_posetrack.nn.toy import make_toy_dataset  # noqa: E402
from napari_posetrack.nn.train import train  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])
STEPS = {"model": {"sigma": 1.5, "backbone": {"filters": 4, "down_blocks": 2}},
         "preprocess": {"input_scale": 1.0},
         "train": {"epochs": 1, "batch_size": 4, "steps_per_epoch": 12, "eval_every": 0, "val_fraction": 0.2,
                   "learning_rate": 3e-3, "scheduler": "none", "device": "cpu"},
         "augment": {"enabled": False}}


def _gauss(points, h, w, sigma):
    """(n, K, 2) points -> (K, h, w) maximum of Gaussians (NaN points skipped)."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((points.shape[1], h, w), np.float32)
    for inst in points:
        for k, (x, y) in enumerate(inst):
            if np.isfinite(x):
                out[k] = np.maximum(out[k], np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)))
    return out


def _fit(model, images, targets, steps=40):
    """A few Adam steps of MSE on one head: enough for clear peaks on the toy blobs."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.stack(targets))
    head = next(iter(model.heads))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x)[head], y)
        loss.backward()
        opt.step()
    return model.eval()


def _fit_topdown(ds, out):
    """Both top-down stages fitted for a few steps (centroid = thorax; 32 px crops on it)."""
    from napari_posetrack.nn.checkpoint import save_checkpoint, write_pipeline
    from napari_posetrack.nn.inference.toy import toy_config
    from napari_posetrack.nn.model import build_model

    torch.manual_seed(0)
    images = ds.videos[0].embedded["images"]
    lab = ds.labels
    n, h, w, _ = images.shape
    cents = [lab.points[lab.frame_idx == f][:, 1] for f in range(n)]
    cfg = toy_config("centroid", ds.skeleton)
    model = _fit(build_model(cfg), images, [_gauss(c[:, None] / 2, h // 2, w // 2, 1.0) for c in cents])
    save_checkpoint(out / "centroid", model, cfg, which=("best",))
    crops, targets = [], []
    padded = np.pad(images, ((0, 0), (32, 32), (32, 32), (0, 0)))
    for f in range(n):
        for inst in lab.points[lab.frame_idx == f]:
            x0, y0 = np.round(inst[1]).astype(int) - 16
            crops.append(padded[f, y0 + 32:y0 + 64, x0 + 32:x0 + 64])
            targets.append(_gauss((inst[None] - [x0, y0]) / 2, 16, 16, 1.0))
    cfg = toy_config("centered_instance", ds.skeleton, crop_size=32)
    save_checkpoint(out / "centered_instance", _fit(build_model(cfg), np.stack(crops), targets, 60), cfg,
                    which=("best",))
    write_pipeline(out, "topdown")
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny models of each kind trained for a few steps on synthetic blobs, and clips to test on."""
    d = tmp_path_factory.mktemp("trained")
    out = {}
    one = make_toy_dataset(10, (48, 48), seed=1)
    two = make_toy_dataset(10, (64, 64), n_animals=2, seed=2)
    out["single"] = (train(one, "single", d / "single", overrides=STEPS, show_progress=False)["out_dir"],
                     one.videos[0].embedded["images"][:6])
    out["bottomup"] = (train(two, "bottomup", d / "bottomup", overrides=STEPS, show_progress=False)["out_dir"],
                       two.videos[0].embedded["images"][:6])
    out["topdown"] = (_fit_topdown(two, d / "topdown"), two.videos[0].embedded["images"][:6])
    return out


def _same_poses(t_torch, t_onnx, score_atol=1e-4):
    assert len(t_torch) == len(t_onnx)
    np.testing.assert_array_equal(t_torch.frame_idx, t_onnx.frame_idx)
    np.testing.assert_array_equal(t_torch.state, t_onnx.state)
    np.testing.assert_allclose(t_onnx.points, t_torch.points, atol=1e-3, rtol=0)  # NaN where torch has NaN
    np.testing.assert_allclose(t_onnx.score, t_torch.score, atol=score_atol, rtol=0)


@pytest.mark.parametrize("kind", ["single", "bottomup", "topdown"])
def test_onnx_backend_matches_torch_within_1e3_px(trained, tmp_path, kind):
    model_dir, frames = trained[kind]
    meta = export_model(model_dir, tmp_path / "x")
    names = ("centroid", "centered_instance") if kind == "topdown" else (kind,)
    assert meta["kind"] == kind and meta["predictor"] == kind and tuple(meta["stages"]) == names
    assert meta["skeleton"]["node_names"] == ["head", "thorax", "tail"] and len(meta["skeleton"]["edges"]) == 2
    for name in names:
        st = meta["stages"][name]
        assert (tmp_path / "x" / st["file"]).is_file() and st["verified"]["max_abs_diff"] < 1e-4
        assert st["input_scale"] == 1.0 and st["output_stride"] == 2 and st["pad_to"] == 4
        assert st["input"]["channels"] == 1 and st["input"]["dynamic_axes"] == ["batch", "height", "width"]
    if kind == "topdown":
        assert meta["stages"]["centered_instance"]["crop_size"] == 32
        assert "centroids" in meta["stages"]["centroid"]["heads"]
    if kind == "bottomup":
        assert meta["stages"]["bottomup"]["heads"] == {"confmaps": 3, "pafs": 4}
    assert read_sidecar(tmp_path / "x")["thresholds"]["peak_threshold"] == 0.2
    t_torch = load_predictor(model_dir, "cpu", max_instances=2).predict_frames(frames)
    onnx_pred = load_onnx_predictor(tmp_path / "x", max_instances=2)
    assert onnx_pred.kind == kind and onnx_pred.backend == "onnx"
    t_onnx = onnx_pred.predict_frames(frames)
    assert len(t_torch) >= len(frames)  # the trained models find the animals
    _same_poses(t_torch, t_onnx)
    # a frame of another size goes through the same dynamic-shape graph
    big = np.pad(frames[:2], ((0, 0), (5, 11), (0, 13), (0, 0)))
    _same_poses(load_predictor(model_dir, "cpu", max_instances=2).predict_frames(big),
                onnx_pred.predict_frames(big))


def test_backend_choice_and_on_the_fly_export(trained, tmp_path):
    model_dir, frames = trained["single"]
    pred = load_backend_predictor(model_dir, "cpu", backend="onnx")  # a training dir is exported on the fly
    assert pred.backend == "onnx" and type(pred.stages["single"].model).__name__ == "OnnxModule"
    _same_poses(load_backend_predictor(model_dir, "cpu", backend="torch").predict_frames(frames),
                pred.predict_frames(frames))
    export_model(model_dir, tmp_path / "x")
    with pytest.raises(ConfigError, match="--backend onnx"):
        load_backend_predictor(tmp_path / "x", "cpu", backend="torch")
    with pytest.raises(ConfigError, match="Unknown inference backend 'tensorrt'"):
        load_backend_predictor(model_dir, "cpu", backend="tensorrt")


def test_refusals(tmp_path):
    model = save_random_checkpoint(tmp_path / "m", "single", SK)
    with pytest.raises(ExportError, match=r"'tensorrt' is not supported; supported: \['onnx'\].*trtexec"):
        export_model(model, tmp_path / "o", format="tensorrt")
    with pytest.raises(ExportError, match="does not exist"):
        export_model(tmp_path / "nope", tmp_path / "o")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="exists and is not empty"):
        export_model(model, tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "x"
    with pytest.raises(ExportError, match="inside the model directory"):
        export_model(model, model / "onnx")
    untrained = save_random_checkpoint(tmp_path / "u", "single", SK, input_scale=0.0)
    with pytest.raises(ExportError, match="never trained"):
        export_model(untrained, tmp_path / "o")
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.tmp-*"))  # nothing half-written


def test_unknown_head_and_mismatched_graph_are_refused(tmp_path):
    from napari_posetrack.nn.checkpoint import load_model
    from napari_posetrack.nn.config import load_config
    from napari_posetrack.nn.export.exporter import _check_exportable, _export_graph, _verify

    model_dir = save_random_checkpoint(tmp_path / "m", "single", SK, seed=1)
    model, cfg = load_model(model_dir)
    model.heads["mystery"] = torch.nn.Conv2d(model.backbone.out_channels, 2, 1)
    with pytest.raises(ExportError, match=r"unknown: \['mystery'\]"):
        _check_exportable("single", model, load_config(cfg), model_dir)
    # a graph that does not compute what the torch network computes is never kept
    a, _ = load_model(model_dir)
    b, _ = load_model(save_random_checkpoint(tmp_path / "m2", "single", SK, seed=2))
    _export_graph(a, 1, 4, ["confmaps"], tmp_path / "a.onnx", 17)
    _verify(a, tmp_path / "a.onnx", 1, 4, ["confmaps"], 1)
    with pytest.raises(ExportError, match="does not reproduce the torch network"):
        _verify(b, tmp_path / "a.onnx", 1, 4, ["confmaps"], 1)


def test_half_models_and_damaged_exports(tmp_path):
    td = save_random_checkpoint(tmp_path / "td", "topdown", SK, crop_size=32)
    meta = export_model(td / "centroid", tmp_path / "c")  # one stage exports on its own...
    assert meta["kind"] == "centroid" and meta["predictor"] is None
    with pytest.raises(ConfigError, match=r"only a 'centroid' network.*\['bottomup', 'single', 'topdown'\]"):
        load_onnx_predictor(tmp_path / "c")  # ...but predicts nothing by itself
    export_model(td, tmp_path / "x")
    (tmp_path / "x" / "centroid.onnx").write_bytes(b"not a graph")
    with pytest.raises(ExportError, match="onnxruntime cannot load"):
        load_onnx_predictor(tmp_path / "x")
    (tmp_path / "x" / "centroid.onnx").unlink()
    with pytest.raises(ExportError, match="which is missing"):
        load_onnx_predictor(tmp_path / "x")
    with pytest.raises(ExportError, match="neither an exported model"):
        load_onnx_predictor(tmp_path)


def test_heading_aligned_topdown_matches_torch(tmp_path):
    """A top-down model with a heading head (rotated crops, 180-degree check) decodes the same in onnxruntime."""
    from napari_posetrack.nn.checkpoint import save_checkpoint, write_pipeline
    from napari_posetrack.nn.inference.toy import toy_config
    from napari_posetrack.nn.model import build_model

    torch.manual_seed(0)
    for stage, crop in (("centroid", 0), ("centered_instance", 32)):
        cfg = toy_config(stage, SK, crop_size=crop).update({"model": {"heading_node": "a", "anchor_node": "b"}})
        model = build_model(cfg)
        with torch.no_grad():
            for head in model.heads.values():
                head.bias.fill_(0.5)
        save_checkpoint(tmp_path / "td" / stage, model, cfg, which=("best",))
    write_pipeline(tmp_path / "td", "topdown")
    meta = export_model(tmp_path / "td", tmp_path / "x")
    assert "heading" in meta["stages"]["centroid"]["heads"] and meta["stages"]["centroid"]["heading_node"] == "a"
    ref = load_predictor(tmp_path / "td", "cpu", max_instances=2)
    got = load_onnx_predictor(tmp_path / "x", max_instances=2)
    assert ref.aligned and got.aligned
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 80, 1), dtype=np.uint8)
    t_ref = ref.predict_frames(frames)
    assert len(t_ref) >= 3
    # random weights: map values reach 1.6 and the rotated crops are resampled, so scores agree to 1e-3
    _same_poses(t_ref, got.predict_frames(frames), score_atol=1e-3)


def test_live_onnx_threads_one_session_per_count_same_poses(trained, tmp_path):
    from napari_posetrack.nn.live.predictor import ONNX_SPINNING, load_live_predictor
    from napari_posetrack.nn.live.threads import ThreadTuner

    model_dir, frames = trained["topdown"]
    export_model(model_dir, tmp_path / "x")
    ref = load_live_predictor(model_dir, backend="torch", device="cpu", threads=1, max_instances=2)
    lp = load_live_predictor(tmp_path / "x", backend="onnx", threads="auto", max_instances=2)
    lp.tuner = ThreadTuner([1, 2], lp.set_threads, warm=2, probe_every=2)  # both counts on 6 frames
    lp.warmup(frames.shape[1:], 1)
    modules = [st.model for st in lp.predictor.stages.values()]
    assert all(sorted(m._sessions) == [1, 2] and m.spinning is ONNX_SPINNING is False for m in modules)
    n_found = 0
    for f in frames:
        (p0, s0), (p1, s1) = ref.predict(f), lp.predict(f)
        np.testing.assert_allclose(p1, p0, atol=1e-3, rtol=0)
        np.testing.assert_allclose(s1, s0, atol=1e-4, rtol=0)
        n_found += len(p0)
    assert n_found >= len(frames) and lp.tuner.counts[1] >= 2 and lp.tuner.counts[2] >= 2
    opts = modules[0]._sessions[2].get_session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    torch.set_num_threads(1)
