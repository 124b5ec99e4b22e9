"""Identity models outside ``posetrack predict``: the ONNX export keeps the identity outputs (the ``identity``
head of topdown-id, the class maps of bottomup-id) and names the classes in its sidecar, and the onnxruntime
backend decodes them exactly as the checkpoint does; live mode refuses both kinds with a message."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch.set_num_threads(1)

from napari_posetrack.core.skeleton import Skeleton  # noqa: E402

SK = Skeleton.from_names(["head", "thorax", "tail"], [("head", "thorax"), ("thorax", "tail")])
CLASSES = ("F", "M")


def _topdown_id(path):
    from napari_posetrack.nn.inference.toy import save_random_checkpoint

    return save_random_checkpoint(path, "topdown", SK, crop_size=32, head_bias=1.0, identity_classes=CLASSES)


def _bottomup_id(path):
    """A random-init bottomup-id model (confidence maps + class maps; biased so that peaks are found)."""
    from napari_posetrack.nn.checkpoint import save_checkpoint
    from napari_posetrack.nn.inference.toy import toy_config
    from napari_posetrack.nn.model import build_model

    torch.manual_seed(0)
    cfg = toy_config("bottomup", SK)
    cfg.data["identity_classes"] = list(CLASSES)
    model = build_model(cfg)
    with torch.no_grad():
        for head in model.heads.values():
            head.bias.fill_(0.5)
    save_checkpoint(path, model, cfg, which=("best",))
    return path


def _frames():
    from napari_posetrack.nn.inference.toy import blob_frames

    rng = np.random.default_rng(0)
    poses = np.stack([rng.uniform(10, 40, (3, 3, 2)), rng.uniform(60, 90, (3, 3, 2))], 1)
    return blob_frames(poses, 64, 96)


@pytest.mark.parametrize("kind,make,heads", [
    ("topdown-id", _topdown_id, {"centroid": ["centroids"], "centered_instance": ["confmaps", "identity"]}),
    ("bottomup-id", _bottomup_id, {"bottomup": ["confmaps", "classmaps"]}),
])
def test_export_keeps_the_identity_and_onnx_names_the_animals_as_torch_does(tmp_path, kind, make, heads):
    from napari_posetrack.nn.export import export_model, load_onnx_predictor, read_sidecar
    from napari_posetrack.nn.inference.predictors import load_predictor

    model = make(tmp_path / "model")
    meta = export_model(model, tmp_path / "export")
    assert meta["identity_classes"] == list(CLASSES)
    assert {n: sorted(st["heads"]) for n, st in meta["stages"].items()} == {n: sorted(h) for n, h in heads.items()}
    assert read_sidecar(tmp_path / "export")["identity_classes"] == list(CLASSES)
    assert json.loads((tmp_path / "export" / "export.json").read_text())["identity_classes"] == list(CLASSES)

    frames = _frames()
    ref = load_predictor(model, "cpu")
    onnx = load_onnx_predictor(tmp_path / "export")
    assert ref.kind == onnx.kind == kind and onnx.class_names == list(CLASSES) and onnx.backend == "onnx"
    a, b = ref.predict_frames(frames), onnx.predict_frames(frames)
    assert len(a) > 0, "the random model should find instances"
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.frame_idx, b.frame_idx)
    np.testing.assert_array_equal(a.track_id, b.track_id)  # the same animals named the same
    assert b.identity_probs.shape == (len(b), len(CLASSES))
    np.testing.assert_allclose(a.identity_probs, b.identity_probs, atol=1e-3)
    np.testing.assert_allclose(np.nan_to_num(a.points, nan=-1), np.nan_to_num(b.points, nan=-1), atol=1e-2)
    for f in np.unique(b.frame_idx):  # no two instances of a frame share a class
        ids = b.track_id[b.frame_idx == f]
        assert len(set(ids.tolist())) == len(ids)


def test_a_model_without_identity_has_no_classes_in_its_sidecar(tmp_path):
    from napari_posetrack.nn.export import export_model
    from napari_posetrack.nn.inference.toy import save_random_checkpoint

    model = save_random_checkpoint(tmp_path / "model", "topdown", SK, crop_size=32, head_bias=1.0)
    assert export_model(model, tmp_path / "export")["identity_classes"] == []


@pytest.mark.parametrize("make", [_topdown_id, _bottomup_id])
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_live_refuses_identity_models(tmp_path, capsys, make, backend):
    from napari_posetrack.cli import main
    from napari_posetrack.nn.inference.toy import write_video

    model = make(tmp_path / "model")
    video = write_video(tmp_path / "clip.mp4", _frames())
    record = tmp_path / "live.posetrack.zarr"
    rc = main(["live", str(model), "--source", str(video), "--backend", backend, "--device", "cpu",
               "--max-frames", "2", "--record", str(record)])
    err = capsys.readouterr().err
    assert rc == 1, err
    kind = "topdown-id" if make is _topdown_id else "bottomup-id"
    assert f"Live mode does not run '{kind}' models" in err and "['single', 'topdown']" in err
    assert not record.exists()
