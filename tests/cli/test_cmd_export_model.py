"""`posetrack export-model` and `posetrack predict --backend onnx` from the command line."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
torch.set_num_threads(1)

from napari_posetrack.cli import main  # noqa: E402
from napari_posetrack.core.io import load_dataset  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.nn.inference.toy import blob_frames, save_random_checkpoint, write_video  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    poses = np.random.default_rng(0).uniform(8, 40, (12, 1, 3, 2))
    video = write_video(d / "clip.mp4", blob_frames(poses, 48, 48))
    model = save_random_checkpoint(d / "single", "single", SK, head_bias=1.0)
    return d, model, video


def test_export_then_predict_with_onnx_matches_torch(assets, tmp_path, capsys):
    d, model, video = assets
    out = tmp_path / "onnx"
    assert main(["export-model", str(model), "--out", str(out), "--frame-size", "48x48"]) == 0
    text = capsys.readouterr().out
    assert "single: single.onnx" in text and "max |onnx - torch|" in text and "exported a single model" in text
    meta = json.loads((out / "export.json").read_text())
    assert meta["frame_size"] == [48, 48] and meta["skeleton"]["node_names"] == ["a", "b", "c"]
    for backend, src, dst in (("torch", model, "t.slp"), ("onnx", out, "o.slp"), ("onnx", model, "m.slp")):
        rc = main(["predict", str(src), str(video), "--out", str(tmp_path / dst), "--device", "cpu", "--quiet",
                   "--backend", backend])
        assert rc == 0, backend
    ref = load_dataset(tmp_path / "t.slp").predictions.sorted()
    assert len(ref) == 12
    for name in ("o.slp", "m.slp"):  # from the export, and from the model dir (exported on the fly)
        got = load_dataset(tmp_path / name).predictions.sorted()
        np.testing.assert_array_equal(got.frame_idx, ref.frame_idx)
        np.testing.assert_allclose(got.points, ref.points, atol=1e-3, rtol=0)


def test_bad_input_is_explained(assets, tmp_path, capsys):
    d, model, video = assets
    assert main(["export-model", str(model), "--out", str(tmp_path / "x"), "--format", "tflite"]) == 1
    err = capsys.readouterr().err
    assert "'tflite' is not supported; supported: ['onnx']" in err and "What to do" in err
    assert main(["export-model", str(model), "--out", str(tmp_path / "x"), "--frame-size", "big"]) == 1
    assert "HxW" in capsys.readouterr().err
    assert main(["export-model", str(model), "--out", str(tmp_path / "x")]) == 0
    capsys.readouterr()
    assert main(["export-model", str(model), "--out", str(tmp_path / "x")]) == 1
    assert "--overwrite" in capsys.readouterr().err
    rc = main(["predict", str(tmp_path / "x"), str(video), "--out", str(tmp_path / "p.slp"), "--quiet"])
    assert rc == 1 and "--backend onnx" in capsys.readouterr().err
    rc = main(["predict", str(model), str(video), "--out", str(tmp_path / "p.slp"), "--quiet", "--backend", "onnx",
               "--scheduler", "local"])
    assert rc == 1 and "cannot be combined with --scheduler" in capsys.readouterr().err
    assert not (tmp_path / "p.slp").exists()
