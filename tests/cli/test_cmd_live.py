"""`posetrack live` from the command line: summary, recording, UDP trigger, JSON figures, bad input."""

import json
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from napari_posetrack.cli import main  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.nn.inference.toy import blob_frames, save_random_checkpoint, write_video  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("live_cli")
    poses = np.random.default_rng(0).uniform(8, 40, (20, 1, 3, 2))
    video = write_video(d / "clip.mp4", blob_frames(poses, 48, 48), fps=25)
    model = save_random_checkpoint(d / "single", "single", SK, head_bias=1.0)
    return d, model, video


def test_live_on_a_replayed_video_records_and_triggers(assets, tmp_path, capsys):
    from napari_posetrack.core.store import ProjectStore

    d, model, video = assets
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    recv.bind(("127.0.0.1", 0))
    recv.settimeout(5)
    port = recv.getsockname()[1]
    store = tmp_path / "live.posetrack.zarr"
    rc = main(["live", str(model), "--source", str(video), "--realtime", "--max-frames", "8", "--device", "cpu",
               "--record", str(store), "--record-video", str(tmp_path / "raw.mkv"), "--json",
               str(tmp_path / "stats.json"), "--when-near", "a", "a", "1000", "--udp", f"127.0.0.1:{port}",
               "--same-animal", "--busy-wait"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "latency frame arrival -> callback (ms): p50" in out and "frames/s sustained" in out
    assert "busy wait: polled for frames" in out
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["busy_wait"] is True and 0 < stats["busy_wait_s"] < stats["duration_s"]
    assert stats["n_processed"] == 8 and stats["latency_p99_ms"] >= stats["latency_p50_ms"] > 0
    assert stats["n_triggers"] == 8 and "8 UDP message(s) sent" in out
    msgs = [json.loads(recv.recv(1024)) for _ in range(8)]
    frames = [m["frame"] for m in msgs]
    assert frames == sorted(set(frames)) and all(m["n"] == 1 and m["latency_ms"] > 0 for m in msgs)
    recv.close()
    st = ProjectStore.open(store, mode="r")
    assert len(st.predicted_frames(0)) == 8 and st.videos[0].path.endswith("raw.mkv")
    from napari_posetrack.core.video import open_video

    with open_video(tmp_path / "raw.mkv") as r:  # every arriving frame was written
        assert r.n_frames == stats["n_arrived"] >= 8


def test_live_with_the_onnx_backend(assets, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    d, model, video = assets
    assert main(["export-model", str(model), "--out", str(tmp_path / "x"), "--frame-size", "24x24"]) == 0
    capsys.readouterr()
    rc = main(["live", str(tmp_path / "x"), "--source", str(video), "--backend", "onnx", "--max-frames", "5"])
    cap = capsys.readouterr()
    assert rc == 0 and "onnx backend" in cap.out and "5 processed" in cap.out
    assert "48x48 but the model expects 24x24: resizing" in cap.err
    rc = main(["live", str(tmp_path / "x"), "--source", str(video), "--backend", "onnx", "--refuse-size-mismatch"])
    assert rc == 1 and "48x48 (HxW) but the model expects 24x24" in capsys.readouterr().err


def test_bad_input(assets, tmp_path, capsys):
    d, model, video = assets
    rc = main(["live", str(model), "--source", str(tmp_path / "nope.mp4")])
    assert rc == 1 and "nope.mp4: the file does not exist" in capsys.readouterr().err
    bu = save_random_checkpoint(tmp_path / "bu", "bottomup", SK)
    rc = main(["live", str(bu), "--source", str(video)])
    assert rc == 1 and "supports ['single', 'topdown']" in capsys.readouterr().err
    rc = main(["live", str(model), "--source", str(video), "--udp", "localhost"])
    assert rc == 1 and "HOST:PORT" in capsys.readouterr().err
    rc = main(["live", str(model), "--source", str(video), "--when-near", "a", "zz", "5"])
    assert rc == 1 and "Node 'zz' is not in the model's skeleton ['a', 'b', 'c']" in capsys.readouterr().err
