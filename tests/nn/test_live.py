"""Live mode: newest-frame slot, same poses as offline, drops, callbacks, conditions, UDP, sources, bad input."""

import json
import logging
import socket
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from napari_posetrack.core.errors import ConfigError, VideoError  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.nn.inference.predictors import (SingleInstancePredictor, TopDownPredictor,  # noqa: E402
                                                      load_predictor)
from napari_posetrack.nn.inference.toy import (blob_frames, echo_stages, save_random_checkpoint,  # noqa: E402
                                               write_video)
from napari_posetrack.nn.live import (LivePose, LivePredictor, NodesWithin, UDPTrigger, live,  # noqa: E402
                                      open_source)
from napari_posetrack.nn.live.sources import ArraySource, Frame, LatestFrame, StreamSource  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("live")
    poses = np.random.default_rng(0).uniform(8, 56, (40, 1, 3, 2))
    frames = blob_frames(poses, 64, 64)
    video = write_video(d / "clip.mp4", frames, fps=50)
    model = save_random_checkpoint(d / "single", "single", SK, seed=1, head_bias=1.0)
    return d, model, video


def _decoded(video):
    import av

    with av.open(str(video)) as c:
        return np.stack([f.to_ndarray(format="gray")[..., None] for f in c.decode(video=0)])


def test_latest_frame_slot_drops_and_never_queues():
    slot = LatestFrame()
    for i in range(3):
        slot.put(Frame(np.zeros((2, 2, 1), np.uint8), i, time.perf_counter()))
    assert slot.take().index == 2 and slot.n_dropped == 2 and slot.n_arrived == 3
    assert slot.take(timeout=0.01) is None  # empty: nothing was queued behind it
    slot.close()
    assert slot.take() is None


def test_polling_take_returns_the_frame_put_meanwhile_and_gives_up_on_timeout_or_close():
    slot = LatestFrame()
    t0 = time.perf_counter()
    assert slot.take(timeout=0.03, poll=True) is None  # polls 30 ms, gives up
    assert time.perf_counter() - t0 >= 0.03
    timer = threading.Timer(0.02, lambda: slot.put(Frame(np.zeros((2, 2, 1), np.uint8), 7, time.perf_counter())))
    timer.start()
    f = slot.take(timeout=2.0, poll=True)
    assert f is not None and f.index == 7 and slot.n_dropped == 0
    timer = threading.Timer(0.02, slot.close)
    timer.start()
    t0 = time.perf_counter()
    assert slot.take(timeout=2.0, poll=True) is None and time.perf_counter() - t0 < 1.0  # a close ends the polling


def test_a_replayed_file_decodes_like_a_camera_unless_one_thread_cannot_keep_up():
    from napari_posetrack.nn.live.sources import replay_threads

    assert replay_threads((1024, 1024), 25.0) == "SLICE"  # the fly videos: decoded when due, nothing ahead
    assert replay_threads((1080, 1920), 30.0) == "SLICE"
    assert replay_threads((2160, 3840), 30.0) == "AUTO"  # 4K at 30 fps keeps frame threads
    assert replay_threads((0, 0), 0.0) == "SLICE"


def test_busy_wait_polls_between_frames_and_gives_the_same_poses(assets):
    d, model, video = assets
    got = {False: [], True: []}
    stats = {busy: live(model, str(video), on_pose=lambda p, b=busy: got[b].append(p.points.copy()), realtime=False,
                        device="cpu", busy_wait=busy) for busy in (False, True)}
    off, on = stats[False], stats[True]
    assert off.n_processed == on.n_processed == 40
    np.testing.assert_array_equal(np.concatenate(got[False]), np.concatenate(got[True]))
    assert not off.busy_wait and off.busy_wait_s == 0 and "busy wait" not in off.summary()
    assert on.busy_wait and 0 < on.busy_wait_s < on.duration_s
    assert "busy wait: polled for frames" in on.summary() and on.to_dict()["busy_wait"] is True


def test_every_frame_matches_offline_and_is_recorded(assets, tmp_path):
    from napari_posetrack.core.store import ProjectStore

    d, model, video = assets
    got = []
    st = live(model, str(video), on_pose=lambda p: got.append((p.frame_idx, p.points.copy())), realtime=False,
              record=tmp_path / "rec.posetrack.zarr", device="cpu")
    assert st.n_arrived == st.n_processed == 40 and st.n_dropped == 0 and not st.callback_errors
    assert [i for i, _ in got] == list(range(40)) and len(st.latency_ms) == 40
    assert 0 < st.p50 <= st.p95 <= st.p99 and st.fps > 0
    ref = load_predictor(model, "cpu").predict_frames(_decoded(video))
    np.testing.assert_allclose(np.concatenate([p for _, p in got]), ref.points, atol=1e-4)
    store = ProjectStore.open(tmp_path / "rec.posetrack.zarr", mode="r")
    assert st.recorded_frames == 40 and len(store.predictions) == 40
    np.testing.assert_array_equal(store.predicted_frames(0), np.arange(40))
    assert store.videos[0].path.endswith("clip.mp4")
    np.testing.assert_allclose(store.predictions.sorted().points, ref.points, atol=1e-4)
    assert "p50" in st.summary() and "40 processed, 0 dropped" in st.summary()


def test_realtime_replay_drops_frames_behind_a_slow_callback(assets, caplog):
    d, model, video = assets
    seen = []

    def slow(pose):
        seen.append(pose.frame_idx)
        time.sleep(0.05)  # 50 ms against a 20 ms frame interval

    with caplog.at_level(logging.WARNING):
        st = live(model, str(video), on_pose=slow, realtime=True, device="cpu")
    assert st.n_arrived == 40 and st.n_dropped > 10
    assert st.n_processed + st.n_dropped == st.n_arrived and st.n_processed == len(seen)
    assert seen == sorted(seen) and len(set(np.diff(seen))) > 1  # newest frame each time: indices jump
    assert st.n_slow_callbacks >= 1
    msg = [w for w in st.warnings if "longer than the frame interval" in w]
    assert len(msg) == 1 and "20.0 ms at 50.0 fps" in msg[0]
    took = float(msg[0].split("took ")[1].split(" ms")[0])
    assert took >= 50  # the measured time of the call


def test_raising_callbacks_are_counted_logged_once_per_kind_and_the_loop_goes_on(assets, caplog):
    d, model, video = assets

    def bad(pose):
        if pose.frame_idx % 2:
            raise ValueError("odd frame")
        raise KeyError("even")

    with caplog.at_level(logging.WARNING):
        st = live(model, str(video), on_pose=bad, realtime=False, device="cpu", max_frames=11)
    assert st.n_processed == 11
    assert st.callback_errors == {"on_pose callback: KeyError": 6, "on_pose callback: ValueError": 5}
    assert len(st.warnings) == 2 and sum("raised" in r.getMessage() for r in caplog.records) == 2


def _pose(points, names=("a", "b", "c")):
    pts = np.asarray(points, np.float32)
    return LivePose(0, time.perf_counter(), pts, np.ones(pts.shape[:2], np.float32), list(names),
                    np.zeros((4, 4, 1), np.uint8))


def test_nodes_within_condition():
    far = [[[0, 0], [5, 0], [10, 0]], [[100, 0], [105, 0], [110, 0]]]
    near = [[[0, 0], [5, 0], [10, 0]], [[100, 0], [105, 0], [18, 0]]]  # c of animal 1 is 18 px from a of animal 0
    cond = NodesWithin("a", "c", 20).bind(SK.node_names)
    assert not cond(_pose(far)) and cond.last_distance == pytest.approx(90)
    assert cond(_pose(near)) and cond.last_distance == pytest.approx(18)
    assert not NodesWithin("a", "c", 20, animal_a=1, animal_b=0)(_pose(near))  # a of 1 vs c of 0: 90 px
    assert NodesWithin("a", "c", 20, animal_a=0, animal_b=1)(_pose(near))
    assert not NodesWithin("a", "c", 20, animal_a=0, animal_b=2)(_pose(near))  # no third animal
    assert NodesWithin("a", "c", 10, same_animal=True)(_pose(far))
    assert not cond(_pose(np.full((1, 3, 2), np.nan)))  # one animal, or nothing found: never true
    with pytest.raises(ConfigError, match=r"Node 'head' is not in the model's skeleton \['a', 'b', 'c'\]"):
        NodesWithin("head", "c", 20).bind(SK.node_names)
    with pytest.raises(ConfigError, match="distance should be > 0"):
        NodesWithin("a", "c", 0)


def test_udp_output_and_condition_in_the_loop():
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    recv.bind(("127.0.0.1", 0))
    recv.settimeout(5)
    port = recv.getsockname()[1]
    # two animals approaching each other; the top-down echo models see each blob as one animal with
    # every node on it, so node a of one animal is `gap` px from node c of the other
    frames = []
    for t in range(12):
        gap = 60 - 5 * t
        poses = np.array([[[20, 40]], [[20 + gap, 40]]], float)
        frames.append(blob_frames(poses[None], 80, 128, sigma=2.0)[0])
    pred = TopDownPredictor(echo_stages("topdown", SK, crop_size=16), CPU)
    pred.settings.filters.oks_threshold = None
    out = UDPTrigger("127.0.0.1", port)
    st = live(LivePredictor(pred), ArraySource(np.stack(frames), realtime=False), on_pose=out,
              condition=NodesWithin("a", "c", 24.0))
    assert st.n_processed == 12 and st.kind == "topdown"
    # within 24 px when gap <= 24: t >= 8
    assert st.n_triggers == out.n_sent == 4 and len(st.latency_ms) == 12
    msgs = [json.loads(recv.recv(1024)) for _ in range(4)]
    assert [m["frame"] for m in msgs] == [8, 9, 10, 11] and all(m["n"] == 2 for m in msgs)
    out.close()
    recv.close()


def test_topdown_live_matches_offline_with_one_preallocated_input():
    # two blobs a frame; input scale 0.5 for both stages, so the crop source is the shrunk frame too
    rng = np.random.default_rng(3)
    poses = rng.uniform(16, 80, (6, 2, 1, 2))
    poses[:, 1] += [[40, 0]]
    frames = blob_frames(poses, 96, 128, sigma=3.0)
    pred = TopDownPredictor(echo_stages("topdown", SK, input_scale=0.5, crop_size=32), CPU)
    pred.settings.filters.oks_threshold = None
    ref = pred.predict_frames(frames)
    lp = LivePredictor(pred)
    got = [lp.predict(f) for f in frames]
    assert sum(len(p) for p, _ in got) == len(ref) == 12
    np.testing.assert_allclose(np.concatenate([p for p, _ in got]), ref.points, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([s for _, s in got]), ref.score, atol=1e-6)
    # one float input buffer for every frame of a size (and both stages), a new one for a new size
    ptr = lp._fbuf.data_ptr()
    lp.predict(frames[0])
    assert lp.n_allocations == 1 and lp._fbuf.data_ptr() == ptr and lp._fbuf.dtype == torch.float32
    lp.predict(frames[0][:64, :96])
    assert lp.n_allocations == 2


def test_resize_or_refuse_a_frame_size_mismatch(caplog):
    truth = np.array([[20.3, 30.6], [50.2, 11.7]])  # one blob per frame: the echo model puts every node on it
    frames = blob_frames(truth[:, None, None], 64, 64, sigma=3.0)
    pred = SingleInstancePredictor(echo_stages("single", SK), CPU)
    lp = LivePredictor(pred, frame_size=(48, 48))
    with caplog.at_level(logging.WARNING):
        found = [lp.predict(f)[0][0] for f in frames]
    for pts, xy in zip(found, truth):  # found in the resized frame, mapped back to this frame's pixels
        assert np.abs(pts - xy).max() < 0.5
    assert sum("resizing" in r.getMessage() for r in caplog.records) == 1  # said once per size
    with pytest.raises(ConfigError, match=r"frames are 64x64 \(HxW\) but the model expects 48x48"):
        live(LivePredictor(pred, frame_size=(48, 48), on_size_mismatch="refuse"), ArraySource(frames))


def test_unsupported_model_and_unopenable_sources(assets, tmp_path):
    d, model, video = assets
    bu = save_random_checkpoint(tmp_path / "bu", "bottomup", SK)
    with pytest.raises(ConfigError, match=r"does not run 'bottomup' models; it supports \['single', 'topdown'\]"):
        live(bu, str(video))
    with pytest.raises(VideoError, match="missing.mp4: the file does not exist"):
        live(model, str(tmp_path / "missing.mp4"))
    with pytest.raises(VideoError, match=r"camera /dev/video97 \(v4l2\) cannot be opened"):
        open_source("camera:97")
    with pytest.raises(VideoError, match="rtsp://127.0.0.1:9/cam cannot be opened"):
        open_source("rtsp://127.0.0.1:9/cam", timeout=2)
    with pytest.raises(ConfigError, match="Cannot tell what live source 'nonsense' is"):
        open_source("nonsense")
    with pytest.raises(ConfigError, match="on_pose should be a function"):
        live(model, str(video), on_pose="print")


def test_stream_that_drops_reconnects_then_stops_cleanly(assets, tmp_path):
    import shutil

    d, model, video = assets
    copy = shutil.copy(video, tmp_path / "stream.mp4")
    # a stream that ends is reopened: the frames keep coming
    st = live(model, StreamSource(str(copy), reconnect=2), realtime=False, max_frames=55, device="cpu")
    assert st.n_processed == 55 and st.n_reconnects >= 1 and st.source_error is None
    # a stream that cannot be reopened: the message names it, the loop stops cleanly
    gone = threading.Event()

    def remove(pose):
        if not gone.is_set():
            (tmp_path / "stream.mp4").unlink()
            gone.set()

    st = live(model, StreamSource(str(copy), reconnect=1), on_pose=remove, device="cpu", duration=30)
    assert gone.is_set() and st.n_processed >= 1 and st.duration_s < 30
    assert "stream.mp4" in st.source_error and "gave up after 1 reconnect attempt(s)" in st.source_error
    assert "source stopped" in st.summary()


def test_half_precision_is_float32_on_a_cpu_without_bf16(assets, monkeypatch, caplog):
    from napari_posetrack.nn.live import load_live_predictor

    d, model, video = assets
    monkeypatch.setenv("POSETRACK_CPU_BF16", "0")
    with caplog.at_level(logging.WARNING):
        lp = load_live_predictor(model, device="cpu", half=True)
    assert lp.precision == "float32" and any("no native bfloat16" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("POSETRACK_CPU_BF16", "1")  # as on a CPU with AVX512-BF16 (emulated here if absent)
    assert load_live_predictor(model, device="cpu", half=True).precision == "bfloat16"
