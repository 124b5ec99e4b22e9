"""`posetrack render` on the real two-fly clip, and refusal of predictions from another video."""

from __future__ import annotations

import av
import numpy as np

from napari_posetrack.cli import main
from napari_posetrack.core.io import load_dataset
from napari_posetrack.core.render import palette

from conftest import shared_file


def test_render_real_flies(tmp_path, capsys):
    slp = shared_file("flies", "two_flies.slp")
    video = shared_file("flies", "two_flies.mp4")
    out = tmp_path / "flies_labeled.mp4"
    assert main(["render", str(video), str(slp), "--out", str(out), "--frames", "10:16", "--trail", "3",
                 "--radius", "6", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    with av.open(str(out)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert frames.shape == (6, 1024, 1024, 3)
    ds = load_dataset(slp, check_videos="ignore")
    colours = palette(max(len(ds.track_names), 1), "track")
    hits = total = 0
    for k, f in enumerate(range(10, 16)):
        rows = ds.labels.for_frame(f)
        for inst in range(len(rows)):
            tid = int(rows.track_id[inst])
            for node in range(rows.n_nodes):
                if rows.state[inst, node] == 0:
                    continue
                x, y = np.rint(rows.points[inst, node]).astype(int)
                total += 1
                hits += np.abs(frames[k, y, x].astype(int) - colours[max(tid, 0)]).max() < 50
    # keypoints overlap on a fly: nearly all drawn points show their track's colour
    assert total > 100 and hits / total > 0.85, (hits, total)
    # refuse to overwrite
    assert main(["render", str(video), str(slp), "--out", str(out), "--frames", "0:2", "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_render_refuses_predictions_of_another_video(tmp_path, capsys):
    slp = shared_file("flies", "two_flies.slp")  # 128 frames of 1024x1024
    other = shared_file("mouse-openfield", "videos", "m3v1mp4.mp4")  # 2330 frames of 640x480
    out = tmp_path / "wrong.mp4"
    assert main(["render", str(other), str(slp), "--out", str(out), "--frames", "0:3", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "1024x1024" in err and "640x480" in err and "What to do" in err
    assert not out.exists()
