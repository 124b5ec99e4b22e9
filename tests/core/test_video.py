"""Frame accuracy of the video readers on real data, cache, read-ahead, dask, image folders."""

from __future__ import annotations

import hashlib
import time

import av
import numpy as np
import pytest

from conftest import shared_file
from napari_posetrack.core.synthetic import make_synthetic_video, read_frame_number
from napari_posetrack.core.video import (
    FrameCache,
    ImageFolderReader,
    PyAVReader,
    as_dask,
    natural_key,
    open_video,
    read_frames,
)


def _digest(frame: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16).hexdigest()


def _plain_decode_digests(path, grey: bool) -> list[str]:
    """Reference: a plain PyAV sequential decode, independent of our reader's code."""
    fmt = "gray" if grey else "rgb24"
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            arr = frame.to_ndarray(format=fmt)
            out.append(_digest(arr[..., None] if grey else arr))
        return out


def _random_order(n: int, block: int, seed: int) -> list[int]:
    """Every frame once: blocks of ``block`` consecutive frames visited in shuffled order."""
    rng = np.random.default_rng(seed)
    starts = rng.permutation(np.arange(0, n, block))
    return [i for s in starts for i in range(s, min(s + block, n))]


@pytest.mark.parametrize("name, block", [("two_flies.mp4", 1), ("three_flies.mp4", 8), ("single_fly.mp4", 8)])
def test_fly_videos_every_frame_random_access_equals_sequential(name, block):
    """Each of the 128 frames, read in a shuffled order, matches a plain sequential decode.

    ``block == 1``: a fully shuffled order (every read seeks back to the keyframe);
    ``block == 8``: runs of 8 frames in shuffled order (one seek per run), to stay fast.
    """
    path = shared_file("flies", name)
    with open_video(path, cache_bytes=0, read_ahead=0) as reader:
        assert reader.shape == (128, 1024, 1024, 1)  # grey content stored as yuv420p
        reference = _plain_decode_digests(path, grey=True)
        assert len(reference) == reader.n_frames
        bad = [i for i in _random_order(reader.n_frames, block, seed=0) if _digest(reader[i]) != reference[i]]
        assert bad == []


def test_mouse_video_every_frame_random_access_equals_sequential():
    """All 2,330 frames of a long-GOP (about 200) video, in shuffled blocks, plus 40 cold seeks."""
    path = shared_file("mouse-openfield", "videos", "m3v1mp4.mp4")
    with open_video(path, cache_bytes=0, read_ahead=0) as reader:
        assert reader.shape == (2330, 480, 640, 1)
        reference = _plain_decode_digests(path, grey=True)
        assert len(reference) == 2330
        bad = [i for i in _random_order(reader.n_frames, 100, seed=1) if _digest(reader[i]) != reference[i]]
        assert bad == []
        for i in np.random.default_rng(2).choice(reader.n_frames, 40, replace=False):
            fresh = reader.clone()  # a new decoder: no decode position to continue from
            assert _digest(fresh._read_uncached(int(i))) == reference[i]
            fresh.close()


def test_entries_index_matches_exact_demux_index():
    from napari_posetrack.core.video.index import index_from_demux

    path = shared_file("mouse-openfield", "videos", "m3v1mp4.mp4")
    with open_video(path) as reader:
        assert reader.index.method == "entries"
        exact = index_from_demux(path)
        np.testing.assert_array_equal(reader.index.pts, exact.pts)
        np.testing.assert_array_equal(reader.index.key_ts, exact.key_ts)
        assert len(exact.key_ts) > 5


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory):
    """300 frames, keyframe every 25, B-frames; every frame shows its own number."""
    path = tmp_path_factory.mktemp("video") / "numbered.mp4"
    return make_synthetic_video(path, 300, (64, 128), gop=25, preset="veryfast")


def test_numbered_video_random_reads_and_iter_frames(numbered_video):
    with open_video(numbered_video, cache_bytes=0, read_ahead=0) as reader:
        assert reader.n_frames == 300 and reader.channels == 1 and reader.fps == pytest.approx(30)
        order = np.random.default_rng(3).permutation(300)
        assert [read_frame_number(reader[int(i)]) for i in order] == order.tolist()
        seq = [(i, read_frame_number(f)) for i, f in reader.iter_frames(10, 60)]
        assert seq == [(i, i) for i in range(10, 60)]
        assert [i for i, _ in reader.iter_frames(295)] == list(range(295, 300))
        stack = reader.read_frames([5, 299, 5, 0])
        assert stack.shape == (4, 64, 128, 1)
        assert [read_frame_number(f) for f in stack] == [5, 299, 5, 0]
        assert read_frame_number(reader[-1]) == 299
        assert [read_frame_number(f) for f in reader[10:13]] == [10, 11, 12]
        assert reader[7, :8].shape == (8, 128, 1)
        with pytest.raises(IndexError, match="out of range"):
            reader[300]


def test_colour_video_has_three_channels(tmp_path):
    path = make_synthetic_video(tmp_path / "colour.mp4", 20, (48, 64), gop=5, color=True)
    with open_video(path) as reader:
        assert reader.shape == (20, 48, 64, 3)
        frame = reader[3]
        assert frame.dtype == np.uint8 and not np.array_equal(frame[..., 0], frame[..., 2])
    with open_video(path, grayscale=True) as reader:
        assert reader.shape == (20, 48, 64, 1)


def test_cache_is_lru_by_bytes_and_read_only():
    cache = FrameCache(max_bytes=3 * 100)
    for i in range(4):
        cache.put(i, np.full((10, 10, 1), i, np.uint8))
    assert cache.keys() == [1, 2, 3] and cache.nbytes == 300
    assert cache.get(1) is not None  # 1 becomes most recent
    cache.put(9, np.zeros((10, 10, 1), np.uint8))
    assert cache.keys() == [3, 1, 9]
    with pytest.raises(ValueError):
        cache.get(9)[0, 0, 0] = 1
    assert cache.get(2) is None and cache.misses == 1


def test_reader_cache_serves_repeated_frames(numbered_video):
    with open_video(numbered_video, read_ahead=0) as reader:
        first = reader[100]
        hits = reader.cache.hits
        assert reader[100] is first and reader.cache.hits == hits + 1


def test_read_ahead_fills_cache_when_scrubbing_forward(numbered_video):
    with open_video(numbered_video, read_ahead=6) as reader:
        reader[50]
        reader[51]  # sequential: the worker decodes 52..57 in the background
        deadline = time.time() + 20
        while time.time() < deadline and not all(i in reader.cache for i in range(52, 58)):
            time.sleep(0.05)
        assert all(i in reader.cache for i in range(52, 58))
        assert [read_frame_number(reader[i]) for i in range(52, 58)] == list(range(52, 58))
        assert 70 not in reader.cache


def test_clone_shares_index_and_cache(numbered_video):
    with open_video(numbered_video) as reader:
        clone = reader.clone()
        assert clone.index is reader.index and clone.cache is reader.cache
        frame = clone[42]
        assert reader.cache.get(42) is frame
        clone.close()
        assert read_frame_number(reader[43]) == 43


def test_as_dask_is_lazy_and_matches_reader(numbered_video, monkeypatch):
    calls = []
    original = PyAVReader._read_uncached
    monkeypatch.setattr(PyAVReader, "_read_uncached", lambda self, i: calls.append(i) or original(self, i))
    with open_video(numbered_video, read_ahead=0) as reader:
        stack = as_dask(reader)
        assert stack.shape == (300, 64, 128, 1) and stack.dtype == np.uint8
        assert stack.chunks[0] == (1,) * 300
        sub = stack[[3, 250]]
        assert calls == []  # building and slicing the graph decodes nothing
        got = sub.compute(scheduler="threads")
        assert [read_frame_number(f) for f in got] == [3, 250]
        np.testing.assert_array_equal(stack[120:124].compute(), reader.read_frames(range(120, 124)))
        assert 3 in calls and 250 in calls


def test_as_dask_from_path_opens_fast(numbered_video):
    t = time.perf_counter()
    stack = as_dask(str(numbered_video))
    assert time.perf_counter() - t < 5.0
    assert read_frame_number(np.asarray(stack[77])) == 77


def test_read_frames_function(numbered_video):
    frames = read_frames(numbered_video, [8, 2])
    assert [read_frame_number(f) for f in frames] == [8, 2]


# ---------------------------------------------------------------------- image folders
def test_natural_sort_key():
    names = ["img10.png", "img2.png", "img1.png", "IMG3.png"]
    assert sorted(names, key=natural_key) == ["img1.png", "img2.png", "IMG3.png", "img10.png"]


def test_image_folder_natural_order_grey_and_colour(tmp_path):
    from PIL import Image

    for i in [0, 1, 2, 10, 11]:
        Image.fromarray(np.full((6, 8), i * 10, np.uint8)).save(tmp_path / f"frame{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with open_video(tmp_path) as reader:
        assert isinstance(reader, ImageFolderReader)
        assert reader.shape == (5, 6, 8, 1)
        assert [int(reader[i][0, 0, 0]) for i in range(5)] == [0, 10, 20, 100, 110]
        assert reader.info().kind == "images" and reader.info().image_paths[-1].endswith("frame11.png")
    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), mode="RGBA").save(colour / "a.png")
    with open_video(colour) as reader:
        assert reader.shape == (1, 4, 4, 3)


def test_dlc_labeled_data_folder():
    folder = shared_file("mouse-openfield", "labeled-data", "m4s1")
    with open_video(folder) as reader:
        assert reader.shape == (116, 480, 640, 3)
        assert reader.image_paths[0].endswith("img0000.png") and reader.image_paths[-1].endswith("img0115.png")
        assert reader[115].shape == (480, 640, 3)
        stack = as_dask(reader)
        np.testing.assert_array_equal(stack[5].compute(), reader[5])


def test_read_behind_when_scrubbing_backward(numbered_video):
    with open_video(numbered_video, read_ahead=4) as reader:
        reader[200]
        reader[199]  # a step back: 184..199 are decoded in one pass
        assert all(i in reader.cache for i in range(184, 200))
        misses = reader.cache.misses
        assert [read_frame_number(reader[i]) for i in range(198, 183, -1)] == list(range(198, 183, -1))
        assert reader.cache.misses == misses  # all served from the cache


def test_as_dask_blank_frames_when_the_video_disappears(tmp_path):
    """on_error="blank" (used by the napari layers) keeps a viewer working after the file goes."""
    import shutil
    import threading
    import warnings

    from napari_posetrack.core.errors import VideoError
    from napari_posetrack.core.synthetic import make_synthetic_video
    from napari_posetrack.core.video import as_dask, open_video

    src = make_synthetic_video(tmp_path / "v.mp4", n_frames=6, size=(32, 48))
    moved = tmp_path / "moved.mp4"
    reader = open_video(src)
    raising = as_dask(reader)
    blank = as_dask(open_video(src), on_error="blank")
    shutil.move(str(src), moved)
    out = {}

    def read_in_thread():  # a new thread must open its own container: the file is gone
        try:
            raising[2].compute(scheduler="sync")
        except VideoError as exc:
            out["error"] = exc
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            out["frame"] = blank[3].compute(scheduler="sync")
            out["warnings"] = [str(w.message) for w in rec]

    t = threading.Thread(target=read_in_thread)
    t.start()
    t.join()
    assert isinstance(out["error"], VideoError) and "not found" in str(out["error"])
    assert out["frame"].shape == blank.shape[1:] and not out["frame"].any()
    assert any("blank frames" in w for w in out["warnings"])
