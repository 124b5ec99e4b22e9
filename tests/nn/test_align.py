"""Heading-aligned top-down: crop geometry, heading targets and read-out, aligned training and prediction."""

import math

import numpy as np
import pytest
import torch

from napari_posetrack.core.errors import ConfigError
from napari_posetrack.core.skeleton import propose_anchor_heading
from napari_posetrack.nn.align import (CropSampler, crop_affine, heading_maps, points_from_crop, points_to_crop,
                                       read_heading, sample_crops)
from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.data import collect_frames
from napari_posetrack.nn.toy import make_toy_dataset

torch.set_num_threads(1)


@pytest.mark.parametrize("names, anchor, heading", [
    (["head", "thorax", "abdomen", "wingL", "eyeL"], "thorax", "head"),
    (["snout", "leftear", "rightear", "tailbase"], "tailbase", "snout"),
    (["Nose", "EarL", "EarR", "Neck", "TailBase"], "Neck", "Nose"),
    (["a", "b", "c"], "", ""),
])
def test_anchor_and_heading_proposed_from_names(names, anchor, heading):
    a, h, why = propose_anchor_heading(names)
    assert (a, h) == (anchor, heading)
    assert why


def test_heading_equal_to_anchor_is_refused():
    with pytest.raises(ConfigError, match="heading needs two different nodes"):
        TrainingConfig().update({"model": {"type": "centered_instance", "anchor_node": "thorax",
                                           "heading_node": "thorax"}})


def test_version_1_config_keeps_its_meaning():
    """A checkpoint written before alignment and normalisation layers loads as what it was."""
    cfg = TrainingConfig.from_dict({"version": 1, "model": {"type": "centroid"}})
    assert cfg.model.backbone.norm == "none" and cfg.model.heading_node == "" and cfg.model.anchor_node == ""
    assert TrainingConfig().model.backbone.norm == "auto"  # group norm, batch norm for window-trained models


def test_affine_round_trip_and_heading_points_up():
    anchors = torch.tensor([[50.0, 40.0], [10.0, 80.0]])
    phi = torch.tensor([0.3, -2.5])  # heading angles in the frame
    A = crop_affine(anchors, phi + math.pi / 2, n=32, scale=0.5)
    head = anchors + 20 * torch.stack([torch.cos(phi), torch.sin(phi)], -1)
    q = points_to_crop(head[:, None], A)[:, 0]
    c = (32 - 1) / 2
    # the heading node sits straight above the crop centre, 20 px * 0.5 scale away
    assert q[:, 0].numpy() == pytest.approx([c, c], abs=1e-4)
    assert q[:, 1].numpy() == pytest.approx([c - 10, c - 10], abs=1e-4)
    back = points_from_crop(q[:, None], A)[:, 0]
    assert back.numpy() == pytest.approx(head.numpy(), abs=1e-4)
    assert points_from_crop(torch.full((2, 1, 2), c), A)[:, 0].numpy() == pytest.approx(anchors.numpy(), abs=1e-4)


def test_sampled_crop_shows_the_frame_rotated():
    """A bright dot at the heading position of a frame appears above the crop centre."""
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 20, 45] = 1.0  # (x 45, y 20)
    anchor = torch.tensor([[30.0, 30.0]])
    d = torch.tensor([45.0 - 30.0, 20.0 - 30.0])
    phi = torch.atan2(d[1], d[0])
    A = crop_affine(anchor, phi[None] + math.pi / 2, n=41, scale=1.0)
    crop = sample_crops(img, [0], A, 41)[0, 0]
    r, c = divmod(int(crop.argmax()), 41)
    assert c == 20 and r == pytest.approx(20 - float(d.norm()), abs=1)


def test_heading_target_and_readout_recover_the_angle():
    anchors = torch.tensor([[[20.0, 20.0], [44.0, 40.0]]])
    angles = torch.tensor([0.7, -2.0])
    heads = anchors + 6 * torch.stack([torch.cos(angles), torch.sin(angles)], -1)[None]
    vec, weight = heading_maps(anchors, heads, (32, 32), stride=2, radius=5.0)
    assert weight.sum() > 0 and float(vec.norm(dim=1).max()) == pytest.approx(1.0, abs=1e-5)
    phi, conf = read_heading(vec, torch.tensor([0, 0]), anchors[0] / 2)
    assert phi.numpy() == pytest.approx(angles.numpy(), abs=1e-4)
    assert (conf > 0.99).all()
    # a missing heading node carries no weight
    heads[0, 1] = float("nan")
    _, w2 = heading_maps(anchors, heads, (32, 32), stride=2, radius=5.0)
    assert 0 < w2.sum() < weight.sum()


def test_crop_sampler_aligns_every_instance_and_counts_missing_headings():
    ds = make_toy_dataset(6, (64, 64), n_animals=2, length=8.0)
    fs = collect_frames(ds)
    fs.points[0][0, 0] = np.nan  # one instance without its heading node (head)
    cfg = TrainingConfig().update({"model": {"type": "centered_instance", "anchor_node": "thorax",
                                             "heading_node": "head"}, "preprocess": {"input_scale": 1.0}})
    cfg.skeleton = {"node_names": fs.node_names, "edges": []}
    s = CropSampler(fs, cfg, crop_size=32, channels=1)
    assert s.aligned and s.n_unaligned == 1 and len(s) == 12
    imgs, pts, A = s.draw(torch.arange(len(s)))
    c = (s.n - 1) / 2
    thorax, head = pts[:, 0, 1], pts[:, 0, 0]
    ok = torch.isfinite(head).all(-1)
    assert thorax.numpy() == pytest.approx(np.full((12, 2), c), abs=1e-3)
    assert head[ok, 0].numpy() == pytest.approx(np.full(int(ok.sum()), c), abs=1e-3)  # straight up
    assert (head[ok, 1] < c - 5).all()
    # augmented draws stay within the configured small rotation
    _, pts2, _ = s.draw(torch.arange(len(s)), cfg.augment, torch.Generator().manual_seed(0))
    d = pts2[ok, 0, 0] - pts2[ok, 0, 1]
    tilt = torch.rad2deg(torch.atan2(d[:, 0], -d[:, 1])).abs()
    assert float(tilt.max()) <= cfg.augment.aligned_rotation + 1.0


def _heading_echo_stages(phi: float, strength: float, crop_size: int = 32):
    """Echo stages (the input image as every map) whose centroid model also says 'heading = phi'."""
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.inference.toy import echo_stages

    sk = Skeleton.from_names(["head", "thorax"], [("thorax", "head")])
    stages = echo_stages("topdown", sk, crop_size=crop_size)
    echo, cfg = stages["centroid"]

    class CentroidWithHeading(torch.nn.Module):
        in_channels = 1

        def forward(self, x):
            out = echo(x)
            b, _, h, w = x.shape
            v = torch.tensor([math.cos(phi), math.sin(phi)]) * strength
            out["heading"] = v.view(1, 2, 1, 1).expand(b, 2, h, w)
            return out

    for name in stages:
        stages[name][1]["model"].update(anchor_node="thorax", heading_node="head")
    stages["centroid"] = (CentroidWithHeading(), cfg)
    return stages


@pytest.mark.parametrize("phi, strength", [(0.4, 1.0), (-2.6, 1.0), (1.0, 0.2)])
def test_aligned_topdown_maps_crop_peaks_back_to_the_frame(phi, strength):
    """Whatever heading the centroid model reports, rotated crops map their peaks back exactly.

    With a weak heading (strength 0.2) the crop turned round is tried too (heading_check).
    """
    from napari_posetrack.nn.inference.predictors import TopDownPredictor
    from napari_posetrack.nn.inference.toy import blob_frames

    truth = np.array([[[30.3, 40.6]], [[80.2, 60.1]]])
    frames = blob_frames(truth.reshape(1, 2, 1, 2), 100, 112, sigma=3.0)
    pred = TopDownPredictor(_heading_echo_stages(phi, strength), torch.device("cpu"))
    assert pred.aligned
    tab = pred.predict_frames(frames)
    assert len(tab) == 2
    got = tab.points[np.argsort(tab.points[:, 0, 0])]
    for node in range(2):  # every node of the echo is the blob itself
        np.testing.assert_allclose(got[:, node], truth[:, 0], atol=0.35)


def test_peaks_in_the_padding_are_discarded():
    """A centred-instance peak outside the frame (a crop that hangs over the edge) is not a prediction."""
    from napari_posetrack.nn.inference.predictors import _inside_frame

    pts = np.array([[[10.0, 5.0], [633.5, 505.5], [-0.4, 479.4]]], np.float32)
    out = _inside_frame(pts, 480, 640)
    assert np.isfinite(out[0, 0]).all() and np.isnan(out[0, 1]).all() and np.isfinite(out[0, 2]).all()


@pytest.mark.parametrize("recenter", [False, True])
def test_topdown_recentres_crops_on_the_anchor_the_crop_model_finds(recenter):
    """The centroid model is coarse (here 6 px off); a crop model that is best at the crop centre (an echo
    seen through a centred window, so an off-centre animal is pulled towards the centre) is asked again on a
    crop re-centred where it found the anchor."""
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.inference.predictors import PredictorSettings, TopDownPredictor
    from napari_posetrack.nn.inference.toy import blob_frames, echo_stages

    sk = Skeleton.from_names(["thorax", "tail"], [("thorax", "tail")])
    stages = echo_stages("topdown", sk, crop_size=32)
    for name in stages:
        stages[name][1]["model"].update(anchor_node="thorax", heading_node="")
    echo_c, cfg_c = stages["centroid"]
    echo_i, cfg_i = stages["centered_instance"]

    class OffCentroid(torch.nn.Module):  # its peak lands 6 px right of the animal
        in_channels = 1

        def forward(self, x):
            out = echo_c(x)
            out["centroids"] = torch.roll(out["centroids"], 6, dims=-1)
            return out

    class CentreWeighted(torch.nn.Module):
        in_channels = 1

        def forward(self, x):
            out = echo_i(x)
            h, w = out["confmaps"].shape[-2:]
            yy, xx = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
            out["confmaps"] = out["confmaps"] * torch.exp(-(xx ** 2 + yy ** 2) / (2 * 4.0 ** 2))
            return out

    stages["centroid"] = (OffCentroid(), cfg_c)
    stages["centered_instance"] = (CentreWeighted(), cfg_i)
    truth = np.array([40.0, 50.0])
    frames = blob_frames(truth.reshape(1, 1, 1, 2), 100, 100, sigma=3.0)
    pred = TopDownPredictor(stages, torch.device("cpu"),
                            PredictorSettings(recenter=recenter, peak_threshold=0.05, centroid_threshold=0.05))
    tab = pred.predict_frames(frames)
    assert len(tab) == 1
    err = float(np.hypot(*(tab.points[0, 0] - truth)))
    # one pass: pulled 64% of the way to the 6 px-off crop centre's side (about 2.2 px); re-centred: < 1 px
    assert (err < 1.0) if recenter else (err > 1.5)


def _sampler(dark: bool):
    """Two bright (or dark) 'animals' per frame on a flat background, as a crop sampler."""
    ds = make_toy_dataset(6, (96, 96), n_animals=2, length=10.0)
    fs = collect_frames(ds)
    if dark:
        fs.images = [255 - im for im in fs.images]
    cfg = TrainingConfig().update({"model": {"type": "centered_instance", "anchor_node": "thorax",
                                             "heading_node": "head"}, "preprocess": {"input_scale": 1.0}})
    cfg.skeleton = {"node_names": fs.node_names, "edges": []}
    return CropSampler(fs, cfg, crop_size=48, channels=1), cfg


@pytest.mark.parametrize("dark", [False, True])
def test_distractor_paste_adds_an_animal_and_keeps_the_labels(dark):
    s, cfg = _sampler(dark)
    assert s.dark_animals is dark
    idx = torch.arange(len(s))
    for k in ("contrast", "brightness", "noise", "scale_min", "scale_max", "translate", "aligned_rotation",
              "flip"):  # geometry and intensity fixed: only the paste differs between the two draws
        setattr(cfg.augment, k, 1.0 if k.startswith("scale") else 0.0)
    cfg.augment.distractors = 0.0
    plain, pts0, _ = s.draw(idx, cfg.augment, torch.Generator().manual_seed(3))
    cfg.augment.distractors = 1.0
    pasted, pts1, _ = s.draw(idx, cfg.augment, torch.Generator().manual_seed(3))
    assert torch.equal(torch.nan_to_num(pts0, nan=-1), torch.nan_to_num(pts1, nan=-1))  # labels: centred animal only
    diff = pasted - plain
    changed = (diff.abs() > 0.05).flatten(1).any(1)
    assert changed.float().mean() >= 0.8  # nearly every crop got an animal beside it (some land off the crop)
    # the blend only adds animal pixels: brighter for bright animals, darker for dark ones
    assert (diff <= 1e-6).all() if dark else (diff >= -1e-6).all()


def test_crops_get_intensity_augmentation():
    s, cfg = _sampler(False)
    cfg.augment.distractors = 0.0
    idx = torch.zeros(16, dtype=torch.long)  # one instance, 16 draws
    a, _, _ = s.draw(idx, cfg.augment, torch.Generator().manual_seed(0))
    means = a.mean(dim=(1, 2, 3))
    assert float(means.std()) > 0.02  # brightness / contrast vary per crop
    b, _, _ = s.draw(idx)  # not augmented: identical crops
    assert float(b.mean(dim=(1, 2, 3)).std()) < 1e-6
