"""The video pipeline: correctness, streaming into the store, resume, bad input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from napari_posetrack.core.dataset import VideoInfo  # noqa: E402
from napari_posetrack.core.errors import StoreError  # noqa: E402
from napari_posetrack.core.posetable import PREDICTED  # noqa: E402
from napari_posetrack.core.progress import CancelToken, drain  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.core.store import ProjectStore  # noqa: E402
from napari_posetrack.nn.inference.pipeline import iter_predict, iter_predict_videos  # noqa: E402
from napari_posetrack.nn.inference.predictors import SingleInstancePredictor  # noqa: E402
from napari_posetrack.nn.inference.toy import array_reader, blob_frames, echo_stages, write_video  # noqa: E402

SK = Skeleton.from_names(["head", "tail"], [("head", "tail")])
T, H, W = 48, 48, 64


def truth():
    t = np.arange(T)
    x = 8 + 0.9 * t + 0.37
    y = 12 + 0.5 * np.sin(t / 5) * 10 + 0.21
    return np.stack([x, y], -1)  # (T, 2)


@pytest.fixture(scope="module")
def frames():
    xy = truth()
    return blob_frames(xy[:, None, None, :], H, W)


@pytest.fixture()
def predictor():
    return SingleInstancePredictor(echo_stages("single", SK), torch.device("cpu"))


def make_store(tmp_path, name="p"):
    return ProjectStore.create(tmp_path / f"{name}.posetrack.zarr", SK,
                               videos=[VideoInfo("clip.mp4", n_frames=T, height=H, width=W, channels=1)])


def test_predicts_every_frame_with_subpixel_positions(predictor, frames):
    res = drain(iter_predict(predictor, array_reader(frames), batch_size=5), show=False)
    tab = res.table
    assert res.complete and res.n_frames == T and len(tab) == T
    np.testing.assert_array_equal(tab.frame_idx, np.arange(T))
    assert (tab.source == PREDICTED).all() and np.all(tab.score > 0.9)
    err = np.abs(tab.points[:, 0] - truth()).max()
    assert err < 0.1, err


def test_real_video_sequential_decode_and_frame_subset(tmp_path, predictor, frames):
    path = write_video(tmp_path / "clip.mp4", frames)
    res = drain(iter_predict(predictor, str(path), batch_size=4, frames=(10, 30)), show=False)
    np.testing.assert_array_equal(res.table.frame_idx, np.arange(10, 30))
    assert np.abs(res.table.points[:, 0] - truth()[10:30]).max() < 0.5  # H.264 loses a little
    res2 = drain(iter_predict(predictor, str(path), batch_size=4, frames=[40, 3, 17]), show=False)
    np.testing.assert_array_equal(res2.table.frame_idx, [3, 17, 40])
    np.testing.assert_allclose(res2.table.points[1], res.table.points[7], atol=1e-5)


def test_stream_to_store_kill_and_resume_is_identical(tmp_path, predictor, frames):
    ref = drain(iter_predict(predictor, array_reader(frames), batch_size=4), show=False).table
    store = make_store(tmp_path)
    gen = iter_predict(predictor, array_reader(frames), store=store, batch_size=4, flush_every=8,
                       progress_every=0.0)
    for _ in range(5):  # a few batches, then the process "dies" (generator closed, nothing flushed)
        next(gen)
    gen.close()
    partial = store.predicted_frames(0)
    assert 0 < len(partial) < T and len(partial) % 8 == 0  # only whole flushes were committed
    again = ProjectStore.open(store.path)
    res = drain(iter_predict(predictor, array_reader(frames), store=again, batch_size=4, flush_every=8), show=False)
    assert res.n_frames == T - len(partial) and res.table is None
    got = ProjectStore.open(store.path, mode="r").predictions.sorted()
    assert got.equals(ref.sorted())
    assert again.get_attr("predict_status")["0"]["status"] == "complete"


def test_cancel_keeps_processed_frames(tmp_path, predictor, frames):
    store = make_store(tmp_path)
    token = CancelToken()
    gen = iter_predict(predictor, array_reader(frames), store=store, batch_size=4, cancel=token, progress_every=0.0)
    next(gen)
    next(gen)
    token.cancel()
    res = drain(gen, show=False)
    assert res.cancelled and not res.complete
    assert len(store.predicted_frames(0)) == res.n_frames < T
    assert store.get_attr("predict_status")["0"]["status"] == "cancelled"


def test_corrupt_frame_is_skipped_and_recorded(tmp_path, predictor, frames):
    store = make_store(tmp_path)
    res = drain(iter_predict(predictor, array_reader(frames, fail_at={7, 30}), store=store, batch_size=4),
                show=False)
    assert res.skipped_frames == {0: [7, 30]} and not res.complete
    assert "could not be decoded" in res.warnings[0]
    done = store.predicted_frames(0)
    assert sorted(set(range(T)) - set(done.tolist())) == [7, 30]
    st = store.get_attr("predict_status")["0"]
    assert st["status"] == "incomplete" and st["skipped_frames"] == [7, 30]


def test_video_shorter_than_metadata(tmp_path, predictor, frames):
    res = drain(iter_predict(predictor, array_reader(frames, stop_at=20), batch_size=8), show=False)
    assert res.truncated == {0: (20, T)} and len(res.table) == 20 and not res.complete
    assert f"metadata says {T} frames" in res.warnings[0]


class _FullDisk:
    """Wraps a store; the second append fails like a full disk."""

    def __init__(self, store):
        self._s, self.calls = store, 0

    def __getattr__(self, name):
        return getattr(self._s, name)

    def append_predictions(self, *a, **k):
        self.calls += 1
        if self.calls == 2:
            raise OSError(28, "No space left on device")
        return self._s.append_predictions(*a, **k)


def test_full_disk_gives_clear_error_and_store_stays_readable(tmp_path, predictor, frames):
    store = make_store(tmp_path)
    with pytest.raises(StoreError, match="No space left on device.*still readable"):
        drain(iter_predict(predictor, array_reader(frames), store=_FullDisk(store), batch_size=4, flush_every=8),
              show=False)
    ro = ProjectStore.open(store.path, mode="r")
    np.testing.assert_array_equal(ro.predicted_frames(0), np.arange(8))
    assert len(ro.predictions) == 8
    assert ro.get_attr("predict_status")["0"]["status"] == "running"  # not marked complete


def test_several_videos_merge(predictor, frames):
    jobs = [(0, array_reader(frames), (0, 10)), (1, array_reader(frames[::-1]), [0, 1])]
    res = drain(iter_predict_videos(predictor, jobs, batch_size=4), show=False)
    assert res.n_frames == 12 and res.complete
    np.testing.assert_array_equal(res.table.video_id, [0] * 10 + [1, 1])
    np.testing.assert_allclose(res.table.points[10, 0], truth()[T - 1], atol=0.1)


def test_model_skeleton_must_match_the_store(tmp_path, predictor, frames):
    from napari_posetrack.core.errors import SkeletonMismatchError

    other = Skeleton.from_names(["tail", "head"], [("tail", "head")])  # same count, other order
    store = ProjectStore.create(tmp_path / "o.posetrack.zarr", other,
                                videos=[VideoInfo("clip.mp4", n_frames=T, height=H, width=W, channels=1)])
    with pytest.raises(SkeletonMismatchError, match="other order"):
        drain(iter_predict(predictor, array_reader(frames), store=store), show=False)
    assert len(store.predicted_frames(0)) == 0 and store.get_attr("predict_status") is None
