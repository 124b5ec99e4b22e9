"""Labeled videos: exact frames and size, keypoints drawn where the predictions are, bad input."""

from __future__ import annotations

import av
import numpy as np
import pytest

from napari_posetrack.core.dataset import VideoInfo
from napari_posetrack.core.errors import ConfigError, FormatError, VideoError
from napari_posetrack.core.posetable import PREDICTED, PoseTable
from napari_posetrack.core.progress import ProgressEvent, drain
from napari_posetrack.core.render import iter_render, palette, render_frame
from napari_posetrack.core.skeleton import Skeleton

W, H, N = 160, 128, 40
BG = 40


def _write_grey_video(path, n=N, w=W, h=H):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"g": "10"}
        for i in range(n):
            img = np.full((h, w, 3), BG, np.uint8)
            img[:4, :4] = 255 if i % 2 else 0  # a little content per frame
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _decode(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _table(n=N):
    """Two tracks of three nodes moving right; node 2 of track 1 has a low score."""
    f = np.arange(n)
    pts, frames, tracks, scores = [], [], [], []
    for tr, y in enumerate((35.0, 90.0)):
        p = np.stack([np.stack([20 + 2 * f + 25 * j, np.full(n, y)], 1) for j in range(3)], 1)
        pts.append(p)
        frames.append(f)
        tracks.append(np.full(n, tr))
        sc = np.full((n, 3), 0.95)
        if tr == 1:
            sc[:, 2] = 0.1
        scores.append(sc)
    return PoseTable.from_arrays(np.concatenate(pts).astype(np.float32), frame_idx=np.concatenate(frames),
                                 track_id=np.concatenate(tracks), score=np.concatenate(scores), source=PREDICTED)


SKELETON = Skeleton.from_names(["head", "body", "tail"], [("head", "body"), ("body", "tail")])


@pytest.fixture(scope="module")
def grey_video(tmp_path_factory):
    return _write_grey_video(tmp_path_factory.mktemp("render") / "clip.mp4")


def test_render_exact_frames_size_and_colours(grey_video, tmp_path):
    table = _table()
    out = tmp_path / "labeled.mp4"
    events = []
    gen = iter_render(grey_video, table, SKELETON, out, frames="5:25", trail=5, radius=5, line_width=2)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        assert stop.value == out
    assert all(isinstance(e, ProgressEvent) for e in events)
    assert events[-1].step == events[-1].total == 20
    frames = _decode(out)
    assert frames.shape == (20, H, W, 3)
    colours = palette(2, "track")
    for f in (5, 14, 24):
        img = frames[f - 5].astype(int)
        for tr in (0, 1):
            row = table.take((table.frame_idx == f) & (table.track_id == tr))
            for node in (0, 1):  # confident nodes: filled discs of the track colour
                x, y = np.rint(row.points[0, node]).astype(int)
                assert np.abs(img[y, x] - colours[tr]).max() < 45, (f, tr, node, img[y, x], colours[tr])
    # far from any animal the frame is untouched background
    assert np.abs(frames[:, 120, 150].astype(int) - BG).max() < 12


def test_render_color_by_node_and_keypoints_only(grey_video, tmp_path):
    table = _table()
    out = tmp_path / "nodes.mp4"
    drain(iter_render(grey_video, table, SKELETON, out, frames=[3, 10, 7], color_by="node",
                      keypoints_only=True, radius=5), show=False)
    frames = _decode(out)
    assert frames.shape == (3, H, W, 3)
    node_colours = palette(3, "node")
    img = frames[1].astype(int)  # frame 10
    row = table.take((table.frame_idx == 10) & (table.track_id == 0))
    x, y = np.rint(row.points[0, 1]).astype(int)
    assert np.abs(img[y, x] - node_colours[1]).max() < 45
    # keypoints only: the middle of a bone stays background
    mx = int(np.rint((row.points[0, 0, 0] + row.points[0, 1, 0]) / 2))
    assert np.abs(img[y, mx] - BG).max() < 25
    # the low-score node is a hollow ring: background inside, its colour on the ring
    row = table.take((table.frame_idx == 10) & (table.track_id == 1))
    x, y = np.rint(row.points[0, 2]).astype(int)
    assert np.abs(img[y, x] - BG).max() < 30, img[y, x]
    ring = img[y - 6:y + 7, x - 6:x + 7].reshape(-1, 3)
    assert (np.abs(ring - node_colours[2]).max(1) < 60).any()


def test_frame_drawing_is_vectorised_and_in_place_safe():
    frame = np.full((50, 60), 10, np.uint8)
    table = _table(1)
    cols = np.broadcast_to(palette(2)[:, None], (2, 3, 3))
    out = render_frame(frame, table, SKELETON.edges, colours=cols, radius=3)
    assert out.shape == (50, 60, 3) and out.dtype == np.uint8
    assert (frame == 10).all()  # the input is not modified
    x, y = np.rint(table.points[0, 0]).astype(int)
    assert np.abs(out[y, x].astype(int) - palette(2)[0]).max() <= 1


def test_render_refuses_bad_input(grey_video, tmp_path):
    table = _table()
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"x")
    with pytest.raises(FormatError, match="already exists"):
        next(iter_render(grey_video, table, SKELETON, existing))
    with pytest.raises(FormatError, match="extension"):
        next(iter_render(grey_video, table, SKELETON, tmp_path / "out.gif"))
    longer = table.with_columns(frame_idx=table.frame_idx + 30)
    with pytest.raises(VideoError, match="another"):
        next(iter_render(grey_video, longer, SKELETON, tmp_path / "a.mp4"))
    info = VideoInfo(path="other.mp4", n_frames=N, height=480, width=640)
    with pytest.raises(VideoError, match="640x480"):
        next(iter_render(grey_video, table, SKELETON, tmp_path / "b.mp4", video_info=info))
    bigger = table.with_columns(points=table.points * 4)
    with pytest.raises(VideoError, match="outside"):
        next(iter_render(grey_video, bigger, SKELETON, tmp_path / "c.mp4"))
    with pytest.raises(ConfigError, match="outside the video"):
        next(iter_render(grey_video, table, SKELETON, tmp_path / "d.mp4", frames="30:50"))
    assert not any(p.name.startswith((".a", ".b", ".c", ".d", "a.", "b.", "c.", "d.")) for p in tmp_path.iterdir())
