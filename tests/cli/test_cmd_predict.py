"""`posetrack predict`: videos / labels / store in, .slp or store out; resume after a real kill."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from napari_posetrack.cli import main  # noqa: E402
from napari_posetrack.core.io import load_dataset  # noqa: E402
from napari_posetrack.core.posetable import PREDICTED  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.core.store import ProjectStore  # noqa: E402
from napari_posetrack.nn.inference.toy import blob_frames, save_random_checkpoint, write_video  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    poses = rng.uniform(8, 40, (24, 1, 3, 2))
    video = write_video(d / "clip.mp4", blob_frames(poses, 48, 48))
    model = save_random_checkpoint(d / "single", "single", SK, head_bias=1.0)
    return d, model, video


def test_video_to_slp(assets, tmp_path):
    d, model, video = assets
    out = tmp_path / "pred.slp"
    rc = main(["predict", str(model), str(video), "--out", str(out), "--frames", "2:10", "--batch-size", "3",
               "--device", "cpu", "--quiet"])
    assert rc == 0
    ds = load_dataset(out)
    p = ds.predictions
    np.testing.assert_array_equal(np.sort(p.frame_idx), np.arange(2, 10))
    assert (p.source == PREDICTED).all() and np.isfinite(p.points).all()
    assert ds.skeleton.node_names == SK.node_names
    # an existing output is refused before any work
    rc = main(["predict", str(model), str(video), "--out", str(out), "--quiet"])
    assert rc == 1


def test_store_output_skeleton_mismatch_writes_nothing(assets, tmp_path, capsys):
    d, model, video = assets
    other = Skeleton.from_names(["x", "y"], [("x", "y")])
    st = ProjectStore.create(tmp_path / "other.posetrack.zarr", other, videos=[str(video)])
    rc = main(["predict", str(model), str(video), "--out", str(st.path), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "skeleton" in err and "'a', 'b', 'c'" in err
    assert len(ProjectStore.open(st.path, mode="r").predicted_frames(0)) == 0


def test_unreachable_scheduler_leaves_no_output(assets, tmp_path, capsys):
    d, model, video = assets
    out = tmp_path / "x.posetrack.zarr"
    rc = main(["predict", str(model), str(video), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9",
               "--scheduler-timeout", "1", "--quiet"])
    assert rc == 1 and "Could not reach the Dask scheduler" in capsys.readouterr().err
    assert not out.exists()


def test_labels_input_predicts_labeled_frames(assets, tmp_path):
    pytest.importorskip("sleap_io")
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.io import save_dataset
    from napari_posetrack.core.posetable import PoseTable

    d, model, video = assets
    labels = PoseTable.from_arrays(np.full((2, 3, 2), 20.0, np.float32), frame_idx=[4, 17])
    from napari_posetrack.core.video import open_video

    with open_video(video) as r:
        info = r.info()
    lab = save_dataset(PoseDataset(SK, videos=[info], labels=labels), tmp_path / "labels.slp")
    out = tmp_path / "p.posetrack.zarr"
    assert main(["predict", str(model), str(lab), "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    st = ProjectStore.open(out, mode="r")
    np.testing.assert_array_equal(st.predicted_frames(0), [4, 17])
    assert st.get_attr("predict_status")["0"]["status"] == "complete"


def test_killed_run_resumes_without_loss_or_duplicates(assets, tmp_path):
    d, model, _ = assets
    rng = np.random.default_rng(2)
    long_video = write_video(tmp_path / "long.mp4", blob_frames(rng.uniform(8, 40, (96, 1, 3, 2)), 48, 48))
    ref = tmp_path / "ref.posetrack.zarr"
    assert main(["predict", str(model), str(long_video), "--out", str(ref), "--device", "cpu", "--quiet",
                 "--batch-size", "4"]) == 0
    out = tmp_path / "killed.posetrack.zarr"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    slow = ("import sys, time\n"
            "from napari_posetrack.nn.inference import predictors as p\n"
            "run = p.SingleInstancePredictor.run_batch\n"
            "def slow(self, x):\n"
            "    time.sleep(0.1)  # a slow model, so the kill lands mid-run on any machine\n"
            "    return run(self, x)\n"
            "p.SingleInstancePredictor.run_batch = slow\n"
            "from napari_posetrack.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", slow, "predict", str(model), str(long_video), "--out",
                             str(out), "--device", "cpu", "--quiet", "--batch-size", "4", "--flush-every", "8"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    n_done, t0 = 0, time.time()
    try:
        while time.time() - t0 < 120 and proc.poll() is None:
            time.sleep(0.05)
            if out.exists():
                try:
                    n_done = len(ProjectStore.open(out, mode="r").predicted_frames(0))
                except Exception:  # noqa: BLE001 - store still being created
                    continue
                if n_done >= 16:
                    break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 0 < n_done < 96, f"the run was not caught mid-way ({n_done} frames done)"
    partial = ProjectStore.open(out, mode="r")
    assert len(partial.predicted_frames(0)) < 96
    assert partial.get_attr("predict_status")["0"]["status"] == "running"  # does not look complete
    assert main(["predict", str(model), str(long_video), "--out", str(out), "--device", "cpu", "--quiet",
                 "--batch-size", "4"]) == 0
    got = ProjectStore.open(out, mode="r")
    want = ProjectStore.open(ref, mode="r")
    np.testing.assert_array_equal(got.predicted_frames(0), np.arange(96))
    assert got.predictions.sorted().equals(want.predictions.sorted())
    assert got.get_attr("predict_status")["0"]["status"] == "complete"


def test_flip_test_option_reaches_the_predictor(assets, tmp_path, monkeypatch):
    from napari_posetrack.nn.inference import predictors

    seen = {}
    real = predictors.load_predictor

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(predictors, "load_predictor", spy)
    d, model, video = assets
    out = tmp_path / "pred.slp"
    rc = main(["predict", str(model), str(video), "--out", str(out), "--frames", "0:4", "--device", "cpu",
               "--flip-test", "--quiet"])
    assert rc == 0 and seen.get("flip_test") is True
    assert len(load_dataset(out).predictions) == 4


@pytest.mark.parametrize("name", ["predictions", "predictions.csv"])  # no extension; one that fits 3 formats
def test_output_name_without_one_format_fails_before_predicting(assets, tmp_path, capsys, monkeypatch, name):
    from napari_posetrack.nn.inference import predictors

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded although the output name was refused")

    monkeypatch.setattr(predictors, "load_predictor", never)
    d, model, video = assets
    out = tmp_path / name
    rc = main(["predict", str(model), str(video), "--out", str(out), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "Nothing was predicted" in err and ".zarr" in err and ".slp" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
