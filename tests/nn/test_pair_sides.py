"""Left/right node pairs in heading-aligned crops: their side learned from the labels, and never one peak for two
nodes when the maps show two (the fly model put wingR on wingL's tip: 26 px median error)."""

import numpy as np
import torch

from napari_posetrack.nn.align import CropSampler
from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.data import collect_frames
from napari_posetrack.nn.inference.decode import global_points, resolve_sides
from napari_posetrack.nn.toy import make_toy_dataset


def _blob(h, w, x, y, v, s=1.2):
    yy, xx = np.mgrid[0:h, 0:w]
    return v * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))


def _maps():
    """Two crops, pair (0 = left node, 1 = right node). Crop 0: both maps fire on both tips, the left tip
    stronger in both (both nodes' argmax on it). Crop 1: one tip only (folded wings): both nodes share it."""
    h = w = 24
    m = np.zeros((2, 2, h, w), np.float32)
    m[0, 0] = _blob(h, w, 6, 12, 0.9) + _blob(h, w, 17, 12, 0.6)
    m[0, 1] = _blob(h, w, 6, 12, 0.8) + _blob(h, w, 17, 12, 0.7)
    m[1, 0] = m[1, 1] = _blob(h, w, 12, 15, 0.9)
    return torch.from_numpy(m)


def test_two_nodes_on_one_peak_take_the_two_peaks_by_side():
    cms = _maps()
    xy, val = global_points(cms, None, 2, 0.2)
    assert torch.allclose(xy[0, 0], xy[0, 1], atol=0.5)  # the failure: both on the left tip
    fixed, v2 = resolve_sides(cms, xy, val, [(0, 1)], 0.2)
    assert abs(float(fixed[0, 0, 0]) - 6) < 0.5 and abs(float(fixed[0, 1, 0]) - 17) < 0.5
    assert abs(float(fixed[0, 1, 1]) - 12) < 0.5 and float(v2[0, 1]) > 0.6
    # the right node is the left one when the training crops say so
    swapped, _ = resolve_sides(cms, xy, val, [(1, 0)], 0.2)
    assert abs(float(swapped[0, 1, 0]) - 6) < 0.5 and abs(float(swapped[0, 0, 0]) - 17) < 0.5
    # one peak only (folded): both nodes keep it
    assert torch.allclose(fixed[1], xy[1]) and torch.allclose(v2[1], val[1])
    # a weak second peak (below half the first) is not a second tip
    weak = cms.clone()
    weak[0, :, :, 14:] *= 0.4
    xy_w, val_w = global_points(weak, None, 2, 0.2)
    assert torch.allclose(resolve_sides(weak, xy_w, val_w, [(0, 1)], 0.2)[0], xy_w)


def test_sides_of_mirror_nodes_come_from_the_aligned_training_crops():
    ds = make_toy_dataset(6, (96, 96), n_animals=2, nodes=5, length=10.0)
    fs = collect_frames(ds)
    names = fs.node_names
    cfg = TrainingConfig().update({"model": {"type": "centered_instance", "anchor_node": "thorax",
                                             "heading_node": "head"}, "preprocess": {"input_scale": 1.0}})
    cfg.skeleton = {"node_names": names, "edges": [], "symmetries": [[3, 4]]}
    s = CropSampler(fs, cfg, crop_size=48, channels=1)
    sides, msg = s.pair_sides([(3, 4)], names)
    # the toy's "left" node lies at +x of a heading-up animal: "right" is on the left of the aligned crop
    assert sides == [(4, 3)] and "right|left 100%" in msg
    cfg.model.heading_node = ""
    assert CropSampler(fs, cfg, crop_size=48, channels=1).pair_sides([(3, 4)], names) == ([], "")


def test_training_records_the_sides_and_the_predictor_uses_them(tmp_path):
    from napari_posetrack.nn.config import load_config
    from napari_posetrack.nn.inference.predictors import load_predictor
    from napari_posetrack.nn.train import iter_train
    from test_trainer import _events

    ds = make_toy_dataset(8, (96, 96), n_animals=2, nodes=5, length=10.0)
    ov = {"model": {"backbone": {"filters": 4, "down_blocks": 2}, "anchor_node": "thorax", "heading_node": "head"},
          "train": {"epochs": 1, "batch_size": 2}, "preprocess": {"input_scale": 1.0}}
    evs, _ = _events(iter_train(ds, "topdown", tmp_path / "td", overrides=ov))
    assert any("keep their side" in (e.message or "") for e in evs)
    assert load_config(tmp_path / "td" / "centered_instance").data["pair_sides"] == [[4, 3]]
    assert load_predictor(tmp_path / "td", "cpu").sides == [(4, 3)]
    assert load_predictor(tmp_path / "td", "cpu", pair_sides=False).settings.pair_sides is False
