"""Frame selection: uniform / random / k-means on thumbnails (streamed)."""

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.errors import ConfigError
from napari_posetrack.core.progress import drain
from napari_posetrack.core.skeleton import Skeleton
from napari_posetrack.core.suggest import (
    iter_suggest_frames, iter_suggest_kmeans, merge_suggestions, parse_range, suggest_random,
    suggest_uniform, thumbnail,
)


class SceneReader:
    """Fake reader: 4 distinct scenes (bright square in a different corner), 50 frames each,
    in a shuffled order; records how many frames it ever held at once (streaming check)."""

    def __init__(self, n_frames=200, seed=0):
        rng = np.random.default_rng(seed)
        self.scene = rng.permutation(np.repeat(np.arange(4), n_frames // 4))
        self.n_frames = n_frames
        self.closed = False

    def frame(self, i):
        img = np.full((64, 80, 3), 20, np.uint8)
        s = self.scene[i]
        y, x = divmod(int(s), 2)
        img[y * 32 : y * 32 + 32, x * 40 : x * 40 + 40] = 230
        return img + np.uint8(i % 3)

    def iter_frames(self, start=0, stop=None):
        for i in range(start, self.n_frames if stop is None else stop):
            yield i, self.frame(i)

    def close(self):
        self.closed = True


def test_uniform_and_random():
    f = suggest_uniform(1000, 10, 100, 200)
    assert len(f) == 10 and f.min() >= 100 and f.max() < 200 and np.all(np.diff(f) == 10)
    r = suggest_random(1000, 50, 0, 60, seed=1)
    assert len(np.unique(r)) == 50 and r.max() < 60
    assert np.array_equal(r, suggest_random(1000, 50, 0, 60, seed=1))
    assert len(suggest_uniform(5, 10)) == 5  # never more frames than exist
    with pytest.raises(ConfigError, match="empty"):
        suggest_uniform(100, 3, 50, 40)
    assert parse_range("10:20") == (10, 20) and parse_range(":5") == (None, 5)
    with pytest.raises(ConfigError, match="START:STOP"):
        parse_range("abc")


def test_thumbnail_shapes():
    assert thumbnail(np.zeros((480, 640, 3), np.uint8)).shape == (32, 32)
    assert thumbnail(np.zeros((20, 30), np.uint8), 32).shape == (32, 32)


def test_kmeans_picks_one_frame_per_scene():
    reader = SceneReader()
    frames = drain(iter_suggest_kmeans(reader, 4, seed=0), show=False)
    assert len(frames) == 4
    assert sorted(reader.scene[frames].tolist()) == [0, 1, 2, 3]


def test_kmeans_subsamples_long_videos():
    reader = SceneReader(400)
    frames = drain(iter_suggest_kmeans(reader, 4, max_samples=100, seed=0), show=False)
    assert np.all(frames % 4 == 0)  # stride 4 over 400 frames
    assert len(np.unique(reader.scene[frames])) == 4


def test_iter_suggest_frames_over_videos():
    ds = PoseDataset(Skeleton.from_names(["a"]), [VideoInfo("a", 200, 64, 80, 3), VideoInfo("b", 100, 64, 80, 3)])
    readers = {}

    def open_reader(v):
        readers[v] = SceneReader(200 if v == 0 else 100, seed=v)
        return readers[v]

    sug = drain(iter_suggest_frames(ds, "kmeans", 4, open_reader=open_reader), show=False)
    assert sug.shape == (8, 2) and set(sug[:, 0]) == {0, 1}
    assert all(r.closed for r in readers.values())
    uni = drain(iter_suggest_frames(ds, "uniform", 5, video_ids=[1], start=0, stop=50), show=False)
    assert uni[:, 0].tolist() == [1] * 5 and uni[:, 1].max() < 50
    merged = merge_suggestions(sug, uni)
    assert len(merged) == len(np.unique(np.concatenate([sug, uni]), axis=0))
    with pytest.raises(ConfigError, match="Video 5 does not exist"):
        drain(iter_suggest_frames(ds, "uniform", 5, video_ids=[5]), show=False)
    with pytest.raises(ConfigError, match="Unknown frame selection"):
        drain(iter_suggest_frames(ds, "best", 5), show=False)
