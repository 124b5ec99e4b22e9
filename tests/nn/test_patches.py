"""Training full-frame models on windows (augment.patch_size): the cut, the auto size, and a run that learns."""

import torch

from napari_posetrack.nn.augment import cut_patches
from napari_posetrack.nn.batches import auto_patch_size
from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.data import collect_frames
from napari_posetrack.nn.toy import make_toy_dataset
from napari_posetrack.nn.train import iter_train
from test_trainer import _events  # (events, result) of a training generator

torch.set_num_threads(1)


def _frames(n=3, h=60, w=80):
    g = torch.Generator().manual_seed(0)
    images = (torch.rand((n, 1, h, w), generator=g) * 255).to(torch.uint8)
    points = torch.full((n, 2, 3, 2), float("nan"))
    points[0, 0] = torch.tensor([[10.0, 12.0], [14.0, 15.0], [20.0, 11.0]])
    points[1, 1, :2] = torch.tensor([[70.0, 50.0], [72.0, 55.0]])  # second instance, one node unlabeled
    return images, points  # frame 2: a negative (nothing labeled)


def test_windows_move_points_with_the_pixels():
    images, points = _frames()
    anchors = torch.nanmean(points, 2)
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        out, moved, moved_anchors = cut_patches(images, points, 32, g, extra=(anchors,))
        assert out.shape == (3, 1, 32, 32) and moved.shape == points.shape
        # the pixel under every labeled point is the same before and after the cut
        shift = points - moved
        for i in range(3):
            ok = torch.isfinite(points[i]).all(-1)
            s = shift[i][ok]
            if len(s):
                assert torch.allclose(s, s[0].expand_as(s))  # one shift per frame
                assert torch.allclose(anchors[i] - moved_anchors[i], s[0], equal_nan=True) or \
                    torch.isnan(anchors[i]).any()
                x0, y0 = (int(v) for v in s[0])
                assert 0 <= x0 <= 80 - 32 and 0 <= y0 <= 60 - 32  # inside the frame
                assert torch.equal(out[i], images[i, :, y0:y0 + 32, x0:x0 + 32])
        assert torch.isnan(moved[2]).all()


def test_windows_hold_the_animal_when_asked():
    images, points = _frames()
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        _, moved = cut_patches(images, points, 32, g, on_animal=1.0)
        for i in (0, 1):
            p = moved[i][torch.isfinite(moved[i]).all(-1)]
            centre = p.mean(0)
            # the labeled animal's centre lies in the window (jitter is at most a quarter of it)
            assert ((centre >= 0) & (centre < 32)).all(), (seed, i, centre)


def test_frame_smaller_than_the_window_is_padded():
    images, points = _frames(h=20, w=24)
    points[0, 0] = torch.tensor([[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]])
    out, moved = cut_patches(images, points, 32, torch.Generator().manual_seed(0))
    assert out.shape[-2:] == (32, 32)
    ok = torch.isfinite(moved[0]).all(-1)
    dx, dy = (int(v) for v in (moved[0][ok] - points[0][ok])[0])  # the whole frame lies in the window
    assert 0 <= dx <= 32 - 24 and 0 <= dy <= 32 - 20
    assert torch.equal(out[0, :, dy:dy + 20, dx:dx + 24], images[0])
    assert int(out[0].sum()) == int(images[0].sum())  # the rest is zero


def _cfg(kind, scale=1.0):
    cfg = TrainingConfig.from_dict({"model": {"type": kind, "backbone": {"down_blocks": 3}},
                                    "preprocess": {"input_scale": scale}})
    return cfg


def test_auto_patch_size_follows_the_animal():
    fs = collect_frames(make_toy_dataset(4, (160, 200), length=8.0))
    # toy animals are about 2 x 8 px long: a window of about two animals, at least 4 pad units
    size, why = auto_patch_size(fs, _cfg("single"), (160, 200))
    assert size == 32 and "32 px windows" in why and "less work per step" in why
    size, _ = auto_patch_size(fs, _cfg("bottomup", 0.5), (80, 100))
    assert size == 32
    # a small frame: the window would not save much
    assert auto_patch_size(fs, _cfg("single"), (40, 40))[0] == -1
    # centroid and crop models never use windows
    assert auto_patch_size(fs, _cfg("centroid"), (160, 200))[0] == -1
    assert auto_patch_size(fs, _cfg("centered_instance"), (160, 200))[0] == -1


def test_single_trained_on_windows_predicts_whole_frames(tmp_path):
    ds = make_toy_dataset(16, (96, 96), length=6.0)
    ov = {"model": {"sigma": 1.5, "backbone": {"filters": 8, "down_blocks": 2}},
          "preprocess": {"input_scale": 1.0},
          "train": {"epochs": 5, "batch_size": 4, "steps_per_epoch": 25, "eval_every": 0, "val_fraction": 0.25,
                    "learning_rate": 3e-3, "scheduler": "none", "device": "cpu"},
          "augment": {"rotation": 0.0, "scale_min": 1.0, "scale_max": 1.0, "translate": 0.0, "flip": 0.0,
                      "noise": 0.0, "brightness": 0.0, "contrast": 0.0}}
    evs, res = _events(iter_train(ds, "single", tmp_path / "m", overrides=ov))
    msgs = " ".join(e.message or "" for e in evs)
    assert "px windows of the 96x96 px input" in msgs
    st = res["stages"]["single"]
    cfg = (tmp_path / "m" / "config.yaml").read_text()
    assert "patch_size: " in cfg and "patch_size: 0" not in cfg  # the resolved size is saved
    # window-trained full-frame models get batch norm: group statistics differ between window and frame
    assert "norm: batch" in cfg and "batch norm (auto: trained on windows" in msgs
    # validation runs on whole 96 x 96 frames: the windows taught the blobs anywhere in the frame
    assert st["metrics"]["pck"][10] > 0.6


def test_whole_frames_when_asked(tmp_path):
    ds = make_toy_dataset(8, (96, 96), length=6.0)
    ov = {"model": {"backbone": {"filters": 4, "down_blocks": 2}}, "preprocess": {"input_scale": 1.0},
          "train": {"epochs": 1, "steps_per_epoch": 2, "eval_every": 0, "device": "cpu"},
          "augment": {"patch_size": -1}}
    evs, _ = _events(iter_train(ds, "single", tmp_path / "m", overrides=ov))
    assert not any("px windows" in (e.message or "") for e in evs)
    cfg = (tmp_path / "m" / "config.yaml").read_text()
    assert "patch_size: -1" in cfg and "norm: group" in cfg
