"""Bad input gives typed VideoErrors naming the file; damaged and odd files are handled."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from napari_posetrack.core.errors import PoseTrackError, VideoError
from napari_posetrack.core.synthetic import make_synthetic_video, read_frame_number, synthetic_video_frame
from napari_posetrack.core.video import VideoReader, open_video, probe_video, reencode_video, seek_self_test


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    return make_synthetic_video(tmp_path_factory.mktemp("err") / "small.mp4", 60, (48, 64), gop=10, preset="veryfast")


def _check_error(err: VideoError, path) -> None:
    assert isinstance(err, PoseTrackError)
    assert str(path) in str(err) and err.path == str(path)
    assert err.hint  # says what to do
    assert "What to do" in str(err)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoError, match="not found") as info:
        open_video(path)
    _check_error(info.value, path)


def test_empty_and_garbage_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty") as info:
        open_video(empty)
    _check_error(info.value, empty)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="corrupt, truncated or not a video") as info:
        open_video(garbage)
    _check_error(info.value, garbage)
    assert "ffmpeg -i" in str(info.value) and "reencode_video" in str(info.value)


def test_truncated_file_index_at_end(small_video, tmp_path):
    """A plain MP4 keeps its index at the end: cut in half, it cannot be opened at all."""
    cut = tmp_path / "half.mp4"
    data = small_video.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated") as info:
        open_video(cut)
    _check_error(info.value, cut)


def test_truncated_file_index_at_start_opens_with_the_frames_it_has(tmp_path):
    """With the index first (faststart), the cut file opens; n_frames comes from what decodes."""
    full = make_synthetic_video(tmp_path / "fs.mp4", 90, (48, 64), gop=10, preset="veryfast", faststart=True)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with av.open(str(cut)) as container:
        assert container.streams.video[0].frames == 90  # the header still promises 90
    with open_video(cut, cache_bytes=0) as reader:
        assert 20 < reader.n_frames < 90
        assert reader.index.truncated
        order = np.random.default_rng(0).permutation(reader.n_frames)
        assert [read_frame_number(reader[int(i)]) for i in order] == order.tolist()
    info = probe_video(cut)
    assert info["truncated"] and info["header_frames"] == 90 and "shorter than its header" in info["seek_message"]


def test_unsupported_codec(tmp_path):
    """A Matroska file whose codec id FFmpeg does not know."""
    good = make_synthetic_video(tmp_path / "v.mkv", 10, (32, 32), gop=5)
    data = good.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    bad = tmp_path / "unknown_codec.mkv"
    bad.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_ZZZZZ/ISO/ZZZ"))
    with pytest.raises(VideoError, match="cannot decode") as info:
        open_video(bad)
    _check_error(info.value, bad)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "audio.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(VideoError, match="no video stream") as info:
        open_video(path)
    _check_error(info.value, path)


def test_empty_and_missing_image_folders(tmp_path):
    empty = tmp_path / "frames"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(VideoError, match="holds no image") as info:
        open_video(empty)
    _check_error(info.value, empty)


def test_image_folder_bad_images(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "a1.png")
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / "a2.png")
    (tmp_path / "a3.png").write_bytes(b"not a png")
    reader = open_video(tmp_path)
    with pytest.raises(VideoError, match="same size"):
        reader[1]
    with pytest.raises(VideoError, match="Cannot read the image"):
        reader[2]


def test_mkv_container_uses_exact_demux_index(tmp_path):
    path = make_synthetic_video(tmp_path / "v.mkv", 80, (48, 64), gop=12, preset="veryfast")
    with open_video(path, cache_bytes=0) as reader:
        assert reader.index.method == "demux" and reader.n_frames == 80
        order = np.random.default_rng(1).permutation(80)
        assert [read_frame_number(reader[int(i)]) for i in order] == order.tolist()


def _write_vfr(path, n=60, seed=0):
    """H.264 with B-frames and irregular timestamps (variable frame rate)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 90)
        stream.options = {"preset": "veryfast", "x264-params": "keyint=12:min-keyint=12:scenecut=0"}
        t = 0
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(synthetic_video_frame(i, (64, 96)), format="gray")
            frame.pts, frame.time_base = t, Fraction(1, 90)
            t += int(rng.choice([2, 3, 5, 9]))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_variable_frame_rate_is_read_exactly_and_flagged(tmp_path):
    path = _write_vfr(tmp_path / "vfr.mp4")
    with open_video(path, cache_bytes=0) as reader:
        assert reader.index.method == "entries"  # the fast index is wrong for VFR + B-frames...
        order = np.random.default_rng(0).permutation(reader.n_frames)
        assert [read_frame_number(reader[int(i)]) for i in order] == order.tolist()
        assert reader.index.method == "demux"  # ...caught on the first decode and rebuilt exactly
    info = probe_video(path)
    assert info["vfr"] and info["seek_ok"] and info["n_frames"] == 60
    assert "variable" in info["seek_message"] and "ffmpeg -i" in info["seek_message"]
    fixed = reencode_video(path, tmp_path / "cfr.mp4", gop=10)
    with open_video(fixed) as reader:
        assert reader.n_frames == 60
        assert [read_frame_number(reader[i]) for i in (0, 33, 59)] == [0, 33, 59]
    fixed_info = probe_video(fixed)
    assert not fixed_info["vfr"] and fixed_info["max_gop"] == 10 and fixed_info["seek_ok"]
    assert fixed_info["seek_message"].startswith("Seeking OK")


class _BrokenSeekReader(VideoReader):
    """A fake reader whose seeks land one frame early for frames 20..29 (a broken index)."""

    def __init__(self):
        super().__init__("fake.mp4")
        self.n_frames, self.height, self.width, self.channels = 50, 4, 4, 1

    def _frame(self, i):
        return np.full((4, 4, 1), i, np.uint8)

    def _read_uncached(self, i):
        return self._frame(i - 1 if 20 <= i < 30 else i)

    def _iter_uncached(self, start, stop):
        for i in range(start, stop):
            yield i, self._frame(i)

    def clone(self):
        return _BrokenSeekReader()


def test_seek_self_test_flags_broken_seeking():
    assert seek_self_test(_BrokenSeekReader(), [3, 21, 25, 40, 29, 30]) == [21, 25, 29]


def test_probe_good_video(small_video):
    info = probe_video(small_video)
    assert info["seek_ok"] and not info["vfr"] and not info["truncated"]
    assert (info["n_frames"], info["height"], info["width"], info["channels"]) == (60, 48, 64, 1)
    assert info["codec"] == "h264" and info["fps"] == pytest.approx(30) and info["max_gop"] == 10
    assert info["index_method"] == "entries"


def test_closed_reader_raises(small_video):
    reader = open_video(small_video)
    reader.close()
    with pytest.raises(VideoError, match="closed"):
        reader[0]
