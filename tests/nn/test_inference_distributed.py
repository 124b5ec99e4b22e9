"""Dask distributed scale-out gives the same output as one process."""

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("distributed")
torch.set_num_threads(1)

from napari_posetrack.core.dataset import VideoInfo  # noqa: E402
from napari_posetrack.core.progress import drain  # noqa: E402
from napari_posetrack.core.skeleton import Skeleton  # noqa: E402
from napari_posetrack.core.store import ProjectStore  # noqa: E402
from napari_posetrack.nn.inference.distributed import (SchedulerError, connect, iter_predict_distributed,  # noqa: E402
                                                       plan_chunks)
from napari_posetrack.nn.inference.pipeline import iter_predict_videos  # noqa: E402
from napari_posetrack.nn.inference.predictors import load_predictor  # noqa: E402
from napari_posetrack.nn.inference.toy import blob_frames, save_random_checkpoint, write_video  # noqa: E402

SK = Skeleton.from_names(["a", "b", "c"], [("a", "b"), ("b", "c")])


def test_plan_chunks_aligns_to_batches():
    ch = plan_chunks([(0, "a.mp4", 100, None), (1, "b.mp4", 50, (5, 30)), (2, "c.mp4", 9, [8, 1, 3])],
                     chunk_frames=30, batch_size=8)
    assert [(c.video_id, c.start, c.stop) for c in ch if c.frames is None] == [
        (0, 0, 24), (0, 24, 48), (0, 48, 72), (0, 72, 96), (0, 96, 100), (1, 5, 29), (1, 29, 30)]
    assert ch[-1].frames == (1, 3, 8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(1)
    poses = rng.uniform(8, 40, (30, 2, 3, 2))
    v0 = write_video(d / "v0.mp4", blob_frames(poses, 48, 48))
    v1 = write_video(d / "v1.mp4", blob_frames(poses[:13, :, ::-1], 48, 48))
    model = save_random_checkpoint(d / "model", "bottomup", SK, seed=3)
    return d, model, [str(v0), str(v1)]


def test_local_cluster_output_identical_to_single_process(setup):
    d, model, videos = setup
    # a random model: low thresholds so that it finds (meaningless but deterministic) instances
    kw = {"peak_threshold": -1.0, "paf_threshold": -1.0, "paf_min_fraction": 0.0}
    settings = {**kw, "filters": {"max_instances": 4}}
    pred = load_predictor(model, "cpu", max_instances=4, **kw)
    jobs = [(0, videos[0], None), (1, videos[1], (2, 13))]
    ref = drain(iter_predict_videos(pred, jobs, batch_size=4), show=False).table.sorted()
    assert len(ref) > 0
    djobs = [(0, videos[0], 30, None), (1, videos[1], 13, (2, 13))]
    client = connect("local", workers=2, processes=False)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        res = drain(iter_predict_distributed(model, djobs, client=client, chunk_frames=8, batch_size=4,
                                             settings=settings), show=False)
        assert res.n_frames == 30 + 11 and res.complete
        assert res.table.equals(ref)
        # streamed into a store, the same rows arrive; a second run resumes with nothing left to do
        store = ProjectStore.create(d / "s.posetrack.zarr", SK, videos=[
            VideoInfo(videos[0], 30, 48, 48, 1), VideoInfo(videos[1], 13, 48, 48, 1)])
        res2 = drain(iter_predict_distributed(model, djobs, client=client, chunk_frames=8, batch_size=4,
                                              settings=settings, store=store), show=False)
        res3 = drain(iter_predict_distributed(model, djobs, client=client, chunk_frames=8, batch_size=4,
                                              settings=settings, store=store), show=False)
    finally:
        client.cluster.close()
        client.close()
    assert res2.table is None and res3.n_frames == 0
    assert store.predictions.sorted().equals(ref)
    np.testing.assert_array_equal(store.predicted_frames(1), np.arange(2, 13))


def test_unreachable_scheduler_fails_fast_with_clear_message():
    t0 = time.perf_counter()
    with pytest.raises(SchedulerError, match="Could not reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        connect("tcp://127.0.0.1:9", timeout=1)
    assert time.perf_counter() - t0 < 15
