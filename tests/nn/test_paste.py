"""Crowding augmentation (nn/paste.py): one more labelled animal pasted next to another in whole frames."""

import math

import numpy as np
import pytest
import torch

from napari_posetrack.nn.autoconfig import resolve_auto
from napari_posetrack.nn.batches import build_samples
from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.data import collect_frames
from napari_posetrack.nn.paste import AnimalPaster
from napari_posetrack.nn.toy import make_toy_dataset


def _frames(dark: bool, n_animals: int = 1):
    ds = make_toy_dataset(6, (96, 96), n_animals=n_animals, length=10.0)
    fs = collect_frames(ds)
    if dark:
        fs.images = [255 - im for im in fs.images]
    return fs


def _cfg(model_type: str, **augment):
    cfg = TrainingConfig().update({"model": {"type": model_type, "anchor_node": "thorax", "heading_node": "head"},
                                   "preprocess": {"input_scale": 1.0}, "augment": augment})
    return cfg


def _samples(dark: bool, model_type: str = "centroid", n_animals: int = 1):
    fs = _frames(dark, n_animals)
    cfg = _cfg(model_type)
    cfg.skeleton = {"node_names": fs.node_names, "edges": [["head", "thorax"], ["thorax", "tail"]]}
    return build_samples(fs, cfg), fs


@pytest.mark.parametrize("dark", [False, True])
def test_paste_adds_a_labelled_animal_where_its_labels_say(dark):
    s, _ = _samples(dark)
    paster = AnimalPaster(s)
    assert paster.dark is dark and paster.usable
    idx = torch.arange(len(s))
    imgs, pts, anc, hd = paster(s.images[idx], s.points[idx], s.anchors[idx], s.headings[idx], 1.0,
                                torch.Generator().manual_seed(0))
    assert pts.shape[1] == s.points.shape[1] + 1 and anc.shape[1] == s.anchors.shape[1] + 1
    assert torch.equal(torch.nan_to_num(pts[:, :-1], nan=-1), torch.nan_to_num(s.points[idx], nan=-1))
    pasted = torch.isfinite(anc[:, -1]).all(-1)
    assert int(pasted.sum()) >= len(s) - 1  # every frame but one whose spot fell off the frame at most
    bg = 255 if dark else 0
    for i in pasted.nonzero().flatten().tolist():
        new, old = imgs[i, 0].int(), s.images[i, 0].int()
        # the animal's bright (dark) head node shows at its pasted label
        hx, hy = (int(round(float(v))) for v in pts[i, -1, 0])
        if 0 <= hx < 96 and 0 <= hy < 96:
            assert abs(int(new[hy, hx]) - bg) > 100
        # the heading node moved with the animal: head - thorax keeps its length
        src_len = float(torch.linalg.norm(pts[i, -1, 0] - pts[i, -1, 1]))
        assert src_len == pytest.approx(10.0, abs=0.5)
        assert torch.allclose(hd[i, -1], pts[i, -1, 0], atol=1e-4)
        # blend only adds animal pixels; the flat background stays untouched
        diff = new - old
        assert (diff <= 0).all() if dark else (diff >= 0).all()
        far = torch.ones_like(new, dtype=torch.bool)
        yy, xx = torch.meshgrid(torch.arange(96), torch.arange(96), indexing="ij")
        far &= torch.hypot(xx - anc[i, -1, 0], yy - anc[i, -1, 1]) > 20
        assert torch.equal(new[far], old[far])
        # placed beside the frame's animal, 0.4-1 animal lengths away
        d = float(torch.linalg.norm(anc[i, -1] - anc[i, 0]))
        assert 0.4 * paster.animal_len - 1 <= d <= paster.animal_len + 1


def test_paste_turns_the_animal_and_its_labels_together():
    s, _ = _samples(False)
    paster = AnimalPaster(s)
    idx = torch.arange(len(s))
    angles = []
    for seed in range(4):
        _, pts, _, _ = paster(s.images[idx], s.points[idx], s.anchors[idx], s.headings[idx], 1.0,
                              torch.Generator().manual_seed(seed))
        v = pts[:, -1, 0] - pts[:, -1, 1]
        ok = torch.isfinite(v).all(-1)
        angles += torch.atan2(v[ok, 1], v[ok, 0]).tolist()
    # headings spread over the circle, not copied from the few source frames
    hist = np.histogram(np.asarray(angles), bins=4, range=(-math.pi, math.pi))[0]
    assert (hist > 0).all()


def test_paste_off_or_nothing_to_paste_leaves_the_batch_alone():
    s, _ = _samples(False)
    paster = AnimalPaster(s)
    idx = torch.arange(len(s))
    out = paster(s.images[idx], s.points[idx], s.anchors[idx], None, 0.0)
    assert out[0] is s.images[idx] or torch.equal(out[0], s.images[idx])
    assert out[1].shape == s.points[idx].shape
    empty = s.anchors.clone().fill_(float("nan"))
    s.anchors = empty
    assert not AnimalPaster(s).usable


@pytest.mark.parametrize("model_type,expected", [("centroid", True), ("bottomup", False), ("single", False)])
def test_resolve_auto_attaches_the_paster_to_centroid_models_only(model_type, expected):
    fs = _frames(False, n_animals=1 if model_type == "single" else 2)
    cfg = _cfg(model_type)
    cfg.skeleton = {"node_names": fs.node_names, "edges": [["head", "thorax"], ["thorax", "tail"]]}
    s, msgs = resolve_auto(fs, fs, cfg)
    assert (s.paster is not None) is expected
    assert any(m.startswith("crowding:") for m in msgs) is expected
    cfg.augment.crowd = 0.0
    s, msgs = resolve_auto(fs, fs, cfg)
    assert s.paster is None and not any(m.startswith("crowding:") for m in msgs)


def test_training_batches_carry_the_pasted_animal():
    from napari_posetrack.nn.trainer import _batch

    fs = _frames(False, n_animals=2)
    cfg = _cfg("centroid", crowd=1.0, rotation=0.0, scale_min=1.0, scale_max=1.0, translate=0.0, flip=0.0,
               brightness=0.0, contrast=0.0, noise=0.0)
    cfg.skeleton = {"node_names": fs.node_names, "edges": [["head", "thorax"], ["thorax", "tail"]]}
    s, _ = resolve_auto(fs, fs, cfg)
    idx = torch.arange(len(s))
    _, batch = _batch(s, idx, "cpu", cfg, None, torch.Generator().manual_seed(0), True)
    n_labelled = torch.isfinite(batch["anchors"]).all(-1).sum(1)
    assert batch["anchors"].shape[1] == 3 and int((n_labelled == 3).sum()) >= len(s) - 1
    _, plain = _batch(s, idx, "cpu", cfg, None, None, False)  # validation batches: never pasted
    assert plain["anchors"].shape[1] == 2
