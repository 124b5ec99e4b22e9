"""Live thread count: fixed or measured ("auto"), onnxruntime sessions per count, same poses either way."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from napari_posetrack.core.errors import ConfigError  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.nn.inference.predictors import SingleInstancePredictor, TopDownPredictor  # noqa: E402
from napari_posetrack.nn.inference.toy import blob_frames, echo_stages  # noqa: E402
from napari_posetrack.nn.live import LivePredictor, live  # noqa: E402
from napari_posetrack.nn.live.predictor import live_threads  # noqa: E402
from napari_posetrack.nn.live.sources import ArraySource  # noqa: E402
from napari_posetrack.nn.live.threads import ThreadTuner, parse_threads, thread_candidates  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread_after():
    yield
    torch.set_num_threads(1)  # the tuner changes torch's process-wide setting


def _drive(tuner, cost, frames):
    """Run ``frames`` frames whose time is ``cost(frame, threads)``; returns the thread count of each frame."""
    used = []
    for i in range(frames):
        n = tuner.before_frame()
        used.append(n)
        tuner.after_frame(cost(i, n))
    return used


def test_tuner_picks_the_faster_count_and_follows_a_change_of_load():
    applied = []
    tuner = ThreadTuner([1, 2], applied.append, warm=4, window=5, probe_every=50)
    # idle: 2 threads 12 ms, 1 thread 20 ms; from frame 100 another process takes a core: 2 threads 70 ms;
    # from frame 400 the core is free again
    def cost(i, n):
        busy = 100 <= i < 400
        return {1: 21.0 if busy else 20.0, 2: 70.0 if busy else 12.0}[n]

    used = _drive(tuner, cost, 1000)
    assert used[:8] == [1, 2] * 4  # the start alternates
    assert used[8:100].count(1) == 1 and used[58] == 1  # then the faster, with one probe every 50 frames
    # the slow count is left as soon as its time (mean of the last 5 without the slowest) is slow: 2 frames
    assert used[100:104] == [2, 2, 1, 1] and tuner.switches[0] == (102, 2, 1)
    # then probed soon after the switch (4, 8, 16, 32 frames), then every 50
    assert [i for i in range(104, 400) if used[i] == 2] == [106, 110, 118, 134, 166, 216, 266, 316, 366]
    # back to 2 threads once 4 of its last 5 probes (417, 467, 517, 567) are fast again; 1 thread probed the same way
    assert tuner.switches[1:] == [(567, 1, 2)]
    assert [i for i in range(567, 800) if used[i] == 1] == [571, 575, 583, 599, 631, 681, 731, 781]
    assert used[-1] == 2 and tuner.best == 2
    assert sum(tuner.counts.values()) == 1000 and "threads auto, now 2" in tuner.summary()
    assert applied[0] == 1 and all(a != b for a, b in zip(applied, applied[1:]))  # applied only on a change


def test_a_short_burst_of_load_costs_about_160_frames():
    tuner = ThreadTuner([1, 2], lambda n: None)  # the defaults: probe every 200 frames
    used = _drive(tuner, lambda i, n: {1: 20.0, 2: 70.0 if 300 <= i < 303 else 12.0}[n], 600)
    assert tuner.switches == [(302, 2, 1), (463, 1, 2)]  # not 800 frames at the slower count
    assert [i for i in range(302, 463) if used[i] == 2] == [322, 342, 382, 462]  # probes; the fourth switches back
    assert used[463:].count(1) <= 3  # then only probes of 1 thread


def test_a_count_far_slower_at_the_start_gets_one_frame_only():
    # both cores taken by others: 2 threads 1.5 s a frame, 1 thread 50 ms (measured: 1553 against 49 ms)
    tuner = ThreadTuner([1, 2], lambda n: None)
    used = _drive(tuner, lambda i, n: {1: 50.0, 2: 1500.0}[n], 300)
    assert used[:4] == [1, 2, 1, 1] and tuner.best == 1 and not tuner.switches
    assert [i for i, n in enumerate(used) if n == 2] == [1, 205]  # the start's one frame, then one probe


def test_frequent_slow_frames_count_and_one_spike_does_not():
    # 2 threads: 12 ms, but every other frame 30 ms (a core shared with the grabber); 1 thread: a steady 14 ms
    tuner = ThreadTuner([1, 2], lambda n: None, warm=4, window=5, probe_every=50)
    used = _drive(tuner, lambda i, n: 14.0 if n == 1 else (30.0 if i % 2 else 12.0), 100)
    assert tuner.best == 1 and used[8:].count(2) <= 2  # a median (12 ms) would have kept 2 threads
    tuner = ThreadTuner([1, 2], lambda n: None, warm=4, window=5, probe_every=50)
    used = _drive(tuner, lambda i, n: 14.0 if n == 1 else (200.0 if i == 40 else 12.0), 100)
    assert tuner.best == 2 and not tuner.switches  # one 200 ms frame at 2 threads changes nothing


def test_tuner_needs_a_clear_gain_to_switch_and_one_candidate_is_fixed():
    tuner = ThreadTuner([1, 2], lambda n: None, warm=2, window=5, probe_every=10)
    # 2 threads are a little faster at the start, then 1 thread is a little faster (5%): no switch
    used = _drive(tuner, lambda i, n: {1: 20.0, 2: 19.0 if i < 50 else 21.0}[n], 200)
    assert tuner.best == 2 and not tuner.switches and used[4:].count(1) == len(range(14, 200, 10))
    one = ThreadTuner([1], lambda n: None)
    assert set(_drive(one, lambda i, n: 5.0, 20)) == {1}
    assert thread_candidates(1) == [1] and thread_candidates(2) == [1, 2] and thread_candidates(16) == [1, 4]


def test_thread_settings_are_parsed_with_clear_errors(monkeypatch):
    assert parse_threads(None) == parse_threads("auto") == parse_threads(" AUTO ") == "auto"
    assert parse_threads("3") == parse_threads(3) == 3
    for bad in ("two", 0, -1, 1.5, ""):
        with pytest.raises(ConfigError, match=r"threads should be 'auto' or a whole number of at least 1, got"):
            parse_threads(bad)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert live_threads(None) == 1 and live_threads("auto") == "auto" and live_threads(2) == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert live_threads(None) == "auto"


def test_auto_threads_give_the_same_poses_as_fixed_threads():
    rng = np.random.default_rng(3)
    poses = rng.uniform(16, 80, (30, 2, 1, 2))
    poses[:, 1] += [[40, 0]]
    frames = blob_frames(poses, 96, 128, sigma=3.0)
    pred = TopDownPredictor(echo_stages("topdown", SK, input_scale=0.5, crop_size=32), CPU)
    fixed = LivePredictor(pred, threads=1)
    ref = [fixed.predict(f) for f in frames]
    assert torch.get_num_threads() == 1 and fixed.tuner is None and fixed.threads == 1
    lp = LivePredictor(pred, threads="auto")
    lp.tuner = ThreadTuner([1, 2], lp.set_threads, warm=3, probe_every=5)  # both counts used on 30 frames
    lp.warmup(frames[0].shape, 1)
    got = [lp.predict(f) for f in frames]
    assert lp.tuner.counts[1] >= 3 and lp.tuner.counts[2] >= 3
    for (p0, s0), (p1, s1) in zip(ref, got):
        np.testing.assert_allclose(p1, p0, atol=1e-5)
        np.testing.assert_allclose(s1, s0, atol=1e-6)
    # a live session reports what the tuner did
    st = live(LivePredictor(SingleInstancePredictor(echo_stages("single", SK), CPU), threads="auto"),
              ArraySource(frames[:12], realtime=False), warmup=1)
    assert st.n_processed == 12 and st.threads.startswith("threads auto, now ")
    assert "CPU threads: threads auto" in st.summary() and st.to_dict()["threads"] == st.threads
    st = live(LivePredictor(SingleInstancePredictor(echo_stages("single", SK), CPU), threads=1),
              ArraySource(frames[:3], realtime=False), warmup=0)
    assert st.threads == "1"
