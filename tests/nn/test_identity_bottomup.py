"""Multi-class bottom-up (bottomup-id): class-map targets, grouping nodes by class, training, prediction."""

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_posetrack.core.identity import IdentityError, identity_classes
from napari_posetrack.nn.identity import relabel_by_class

from test_identity import two_kinds_dataset  # two animals that differ in looks (tests/nn)

torch.set_num_threads(1)

FLIES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flies" / "two_flies.slp"

FAST = {"model": {"sigma": 2.0, "backbone": {"filters": 8, "down_blocks": 2}},
        "preprocess": {"input_scale": 1.0},
        "train": {"epochs": 30, "batch_size": 4, "steps_per_epoch": 10, "eval_every": 0, "val_fraction": 0.15,
                  "learning_rate": 3e-3, "device": "cpu", "patience": 0},
        "augment": {"rotation": 20.0, "patch_size": -1}}


def test_class_maps_mark_each_class_at_its_animals_nodes_only():
    from napari_posetrack.nn.identity_bottomup import class_maps
    from napari_posetrack.nn.targets import confmaps

    pts = torch.tensor([[[[4.0, 4.0], [10.0, 4.0]], [[20.0, 20.0], [float("nan"), float("nan")]],
                         [[4.0, 24.0], [8.0, 24.0]]]])  # (1, 3 instances, 2 nodes, 2)
    onehot = torch.tensor([[[0, 1], [1, 0], [0, 0]]], dtype=torch.uint8)  # M, F, unnamed
    cm = class_maps(pts, onehot, (16, 16), 2, 1.5)
    assert cm.shape == (1, 2, 16, 16)
    # class F (channel 0) peaks at the second instance's node, M at both nodes of the first; the unnamed
    # instance is in neither
    assert float(cm[0, 0, 10, 10]) == pytest.approx(1.0) and float(cm[0, 0, 2, 2]) < 1e-3
    assert float(cm[0, 1, 2, 2]) == pytest.approx(1.0) and float(cm[0, 1, 2, 5]) == pytest.approx(1.0)
    assert float(cm[0, 1, 10, 10]) < 1e-3 and float(cm[:, :, 12, 2].max()) < 1e-3
    # each channel is the confidence map of its instances' nodes, max over nodes
    want_m = confmaps(pts[:, :1].transpose(1, 2), (16, 16), 2, 1.5)[:, 0]
    torch.testing.assert_close(cm[:, 1], want_m)


def test_frame_classes_follow_the_points_order():
    from napari_posetrack.nn.data import collect_frames
    from napari_posetrack.nn.identity_bottomup import frame_classes

    ds, _ = two_kinds_dataset(6)
    spec = identity_classes(ds)
    fs = collect_frames(relabel_by_class(ds, spec))
    oh = frame_classes(fs, 2, 2)
    assert oh.shape == (6, 2, 2) and oh.dtype == torch.uint8
    # track 0 ('big') is listed first in even frames, second in odd ones (see two_kinds_dataset)
    assert oh.argmax(-1).tolist() == [[0, 1], [1, 0]] * 3
    for i in range(6):  # the 'big' instance is the one whose head-tail span is longer
        span = np.linalg.norm(fs.points[i][:, 0] - fs.points[i][:, 2], axis=1)
        assert int(oh[i, int(np.argmax(span))].argmax()) == 0


def test_grouping_gives_each_node_to_the_class_whose_map_is_highest():
    from napari_posetrack.nn.inference.bottomup_id import group_frame_by_class

    # node 0: peaks a, b; node 1: peaks c, d, e. Nearest neighbours would pair a-c and b-d; the class maps say
    # a and d are F, b and c are M; e is a spurious peak that no class map knows
    peaks = [np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([[1.0, 1.0], [11.0, 1.0], [30.0, 30.0]])]
    values = [np.array([0.9, 0.8]), np.array([0.7, 0.95, 0.9])]
    scores = [np.array([[0.8, 0.1], [0.2, 0.7]]), np.array([[0.1, 0.9], [0.85, 0.05], [0.05, 0.04]])]
    pts, ns, inst, probs, cls = group_frame_by_class(peaks, values, scores, 2)
    assert cls.tolist() == [0, 1]
    np.testing.assert_array_equal(pts[0], [[0.0, 0.0], [11.0, 1.0]])  # F: a and d
    np.testing.assert_array_equal(pts[1], [[10.0, 0.0], [1.0, 1.0]])  # M: b and c
    np.testing.assert_allclose(ns, [[0.9, 0.95], [0.8, 0.7]])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert probs[0, 0] > 0.8 and probs[1, 1] > 0.8
    # two peaks of one node whose maps both say F: the better one is F, the other goes to M (one peak per
    # class and node); a node whose only peak no class map knows is left out
    peaks = [np.array([[0.0, 0.0], [5.0, 5.0]]), np.array([[9.0, 9.0]])]
    values = [np.array([0.9, 0.9]), np.array([0.9])]
    scores = [np.array([[0.9, 0.1], [0.6, 0.5]]), np.array([[0.05, 0.02]])]
    pts, ns, inst, probs, cls = group_frame_by_class(peaks, values, scores, 2)
    assert cls.tolist() == [0, 1]
    np.testing.assert_array_equal(pts[:, 0], [[0.0, 0.0], [5.0, 5.0]])
    assert np.isnan(pts[:, 1]).all()
    # one class with no node at all: one instance
    pts, *_, cls = group_frame_by_class([np.array([[1.0, 2.0]])], [np.array([0.9])], [np.array([[0.1, 0.7]])], 2)
    assert cls.tolist() == [1] and pts.shape == (1, 1, 2)


def test_grouping_puts_left_right_pairs_in_order_across_the_body_axis():
    """Two animals (F left, M right), nodes thorax 0, head 1, eyeL 2, eyeR 3, heads up (y decreasing). Both eye maps
    fire on F's right eye, the eyeL map only weakly on her left eye; M's eyes come out swapped."""
    from napari_posetrack.nn.inference.bottomup_id import group_frame_by_class

    f = np.array([[20, 30], [20, 20], [17, 18], [23, 18]], np.float64)  # seen along thorax -> head, eyeL is left
    m = f + [40, 0]
    peaks = [np.stack([f[0], m[0]]), np.stack([f[1], m[1]]),
             np.stack([f[3], f[2], m[3]]),   # eyeL map: strong on F's right eye, weak on her left eye, M's right
             np.stack([f[3], m[2]])]         # eyeR map: F's right eye, M's left eye
    values = [np.array([0.9, 0.9]), np.array([0.9, 0.9]), np.array([0.8, 0.5, 0.9]), np.array([0.9, 0.9])]
    fs_, ms_ = [0.9, 0.05], [0.05, 0.9]
    scores = [np.array([fs_, ms_]), np.array([fs_, ms_]), np.array([fs_, fs_, ms_]), np.array([fs_, ms_])]
    plain, *_ = group_frame_by_class(peaks, values, scores, 2)
    np.testing.assert_array_equal(plain[0, 2], plain[0, 3])  # without sides: F's two eyes on one place
    np.testing.assert_array_equal(plain[1, 2:], [m[3], m[2]])  # and M's swapped
    pts, ns, _, probs, cls = group_frame_by_class(peaks, values, scores, 2, axis=(0, 1), sides=[(2, 3)])
    assert cls.tolist() == [0, 1]
    np.testing.assert_array_equal(pts[0], f)
    np.testing.assert_array_equal(pts[1], m)
    assert ns[0, 2] == pytest.approx(0.5) and ns[1, 2] == pytest.approx(0.9)  # scores travel with the places
    assert probs[0, 0] > 0.9 and probs[1, 1] > 0.9
    # a second peak that the class maps give to the other animal is not taken
    scores[2] = np.array([fs_, ms_, ms_])
    pts, *_ = group_frame_by_class(peaks, values, scores, 2, axis=(0, 1), sides=[(2, 3)])
    np.testing.assert_array_equal(pts[0, 2], pts[0, 3])


class _ClassMapModel(torch.nn.Module):
    """Confidence maps = the grey input (a peak on every blob, every node channel alike); class map 'F' is high
    on bright blobs, 'M' on dim ones. The node channels tell the nodes apart by position: node 0 (thorax)
    only left of x = 50, node 1 (tail) right of it."""

    in_channels = 1

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        g = x.mean(1, keepdim=True)
        left = torch.zeros_like(g)
        left[..., :50] = 1.0
        cms = torch.cat([g * left, g * (1 - left)], 1)
        f = ((g - 0.75) / 0.25).clamp(0, 1)
        m = torch.where(g < 0.75, g, torch.zeros_like(g))
        return {"confmaps": cms, "classmaps": torch.cat([f, m], 1)}


def _classmap_predictor(**settings):
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.inference.bottomup_id import BottomUpIdentityPredictor
    from napari_posetrack.nn.inference.predictors import PredictorSettings
    from napari_posetrack.nn.inference.toy import toy_config

    sk = Skeleton.from_names(["thorax", "tail"], [("thorax", "tail")])
    cfg = toy_config("bottomup", sk, output_stride=1, down_blocks=1)
    cfg.data["identity_classes"] = ["F", "M"]
    return BottomUpIdentityPredictor({"bottomup": (_ClassMapModel(), cfg.to_dict())}, torch.device("cpu"),
                                     PredictorSettings(**settings))


def test_predictor_groups_by_class_maps_not_by_distance():
    """Two animals whose thorax is nearer the other one's tail: the class maps decide who owns which node."""
    # F: thorax (20, 30) bright, tail (80, 70) bright; M: thorax (40, 70) dim, tail (60, 30) dim
    frame = np.zeros((100, 100), np.float32)
    yy, xx = np.mgrid[0:100, 0:100]
    for (x, y), level in (((20, 30), 1.0), ((80, 70), 1.0), ((40, 70), 0.55), ((60, 30), 0.55)):
        frame = np.maximum(frame, level * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2)))
    frames = (frame * 255).astype(np.uint8)[None, ..., None]
    pred = _classmap_predictor(peak_threshold=0.3)
    assert pred.class_names == ["F", "M"] and pred.track_names == ["F", "M"]
    tab = pred.predict_frames(frames)
    assert len(tab) == 2 and sorted(tab.track_id.tolist()) == [0, 1]
    f, m = tab.take(tab.track_id == 0), tab.take(tab.track_id == 1)
    np.testing.assert_allclose(f.points[0], [[20, 30], [80, 70]], atol=0.6)
    np.testing.assert_allclose(m.points[0], [[40, 70], [60, 30]], atol=0.6)
    assert tab.identity_probs.shape == (2, 2)
    np.testing.assert_allclose(tab.identity_probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tab.identity_probs[np.arange(2), tab.track_id], tab.tracking_score, atol=1e-6)
    assert float(f.identity_probs[0, 0]) > 0.9 and float(m.identity_probs[0, 1]) > 0.9
    # no blob -> no instance, and the columns are still the classes
    empty = pred.predict_frames(np.zeros((1, 100, 100, 1), np.uint8))
    assert len(empty) == 0 and empty.identity_probs.shape == (0, 2)


def test_bottomup_id_is_registered_everywhere():
    from napari_posetrack.core.registry import MODEL_KINDS
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.model import build_model, head_names
    from napari_posetrack.nn.train import PIPELINES

    assert "bottomup-id" in MODEL_KINDS and "bottomup-id" in PIPELINES
    ds, _ = two_kinds_dataset(2)
    cfg = TrainingConfig().update({"model": {"type": "bottomup", "backbone": {"filters": 4, "down_blocks": 1}},
                                   "skeleton": ds.skeleton.to_dict(),
                                   "data": {"identity_classes": ["big", "small"], "channels": 1}})
    assert head_names(cfg) == ["confmaps", "classmaps"]
    out = build_model(cfg)(torch.zeros((1, 1, 32, 32)))
    assert set(out) == {"confmaps", "classmaps"} and out["classmaps"].shape[1] == 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A bottomup-id model trained once on 24 frames of the two kinds of animals, and 20 held-out frames."""
    from napari_posetrack.nn.inference.toy import write_video
    from napari_posetrack.nn.train import train

    d = tmp_path_factory.mktemp("identity_bottomup")
    ds, _ = two_kinds_dataset(24)
    res = train(ds, "bottomup-id", d / "m", overrides=FAST, show_progress=False)
    test_ds, test_images = two_kinds_dataset(20, seed=7)
    video = write_video(d / "clip.mp4", test_images)
    return {"dir": d, "model": d / "m", "result": res, "test_ds": test_ds, "images": test_images, "video": video}


def test_bottomup_id_learns_who_is_who(trained):
    from napari_posetrack.nn.checkpoint import load_model
    from napari_posetrack.nn.inference.bottomup_id import BottomUpIdentityPredictor
    from napari_posetrack.nn.inference.predictors import load_predictor

    res = trained["result"]
    assert res["kind"] == "bottomup-id" and res["identity_classes"] == ["big", "small"]
    model, cfg = load_model(trained["model"], "cpu")
    assert set(model.heads) == {"confmaps", "classmaps"} and cfg["data"]["identity_classes"] == ["big", "small"]
    pred = load_predictor(trained["model"], device="cpu")
    assert isinstance(pred, BottomUpIdentityPredictor) and pred.class_names == ["big", "small"]
    test_ds = trained["test_ds"]
    table = pred.predict_frames(trained["images"], frame_idx=np.arange(20))
    correct, total = 0, 0
    for f in range(20):
        p = table.for_frame(f)
        assert len(p) <= 2 and len(set(p.track_id.tolist())) == len(p)  # no two instances share a class
        gt = test_ds.labels.for_frame(f)
        for j in range(len(p)):  # identity of every prediction that sits on an animal (mean node distance)
            d = np.nanmean(np.linalg.norm(gt.points - p.points[j][None], axis=-1), axis=1)
            i = int(np.nanargmin(d)) if np.isfinite(d).any() else -1
            if i >= 0 and d[i] < 6:
                total += 1
                correct += int(p.track_id[j] == gt.track_id[i])
    assert total >= 20 and correct / total >= 0.9, (correct, total, len(table))
    assert table.identity_probs.shape == (len(table), 2)
    np.testing.assert_allclose(table.identity_probs.sum(1), 1.0, atol=1e-5)


def test_predict_cli_names_the_tracks_after_the_classes(trained, tmp_path):
    import sleap_io as sio

    from napari_posetrack.cli.cmd_predict import predict

    out = tmp_path / "out.slp"
    predict(trained["model"], [trained["video"]], out, show=False, device="cpu")
    labels = sio.load_slp(str(out))
    assert sorted(t.name for t in labels.tracks) == ["big", "small"]
    assert sum(inst.track is not None for lf in labels.labeled_frames for inst in lf.instances) >= 20


def test_labels_without_track_names_train_nothing(tmp_path):
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.nn.train import train

    ds, _ = two_kinds_dataset(8)
    ds = PoseDataset(ds.skeleton, ds.videos, [], ds.labels.with_columns(track_id=np.full(len(ds.labels), -1)))
    with pytest.raises(IdentityError, match="no track names"):
        train(ds, "bottomup-id", tmp_path / "m", overrides=FAST, show_progress=False)
    assert not (tmp_path / "m").exists()


@pytest.mark.skipif(not FLIES.is_file(), reason=f"needs the real fly data at {FLIES} (../shared/data)")
def test_bottomup_id_trains_on_the_flies_and_predicts_named_flies(tmp_path):
    """A few steps on two_flies frames (windows, the bottom-up recipe): the model and its predictions have the
    shapes and classes of the fly tracks."""
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.video import open_video
    from napari_posetrack.nn.inference.predictors import load_predictor
    from napari_posetrack.nn.train import train

    ds = load_dataset(FLIES, check_videos="ignore")
    lab = ds.labels
    from napari_posetrack.core.dataset import PoseDataset

    small = PoseDataset(ds.skeleton, ds.videos, list(ds.track_names), lab.take(lab.frame_idx < 12))
    ov = {"model": {"backbone": {"filters": 8, "down_blocks": 3}},
          "preprocess": {"input_scale": 0.25},
          "train": {"epochs": 2, "steps_per_epoch": 3, "batch_size": 2, "eval_every": 1, "device": "cpu",
                    "val_fraction": 0.2}}
    res = train(small, "bottomup-id", tmp_path / "m", overrides=ov, show_progress=False)
    assert res["kind"] == "bottomup-id" and res["identity_classes"] == ["F", "M"]
    st = res["stages"]["bottomup"]
    assert st["epochs_run"] == 2
    pred = load_predictor(tmp_path / "m", device="cpu", peak_threshold=0.05)
    assert pred.class_names == ["F", "M"] and pred.n_nodes == 13
    reader = open_video(ds.videos[0].path)
    frames = np.stack([np.asarray(reader[i]) for i in (100, 101)])
    table = pred.predict_frames(frames, frame_idx=[100, 101])
    assert table.points.shape[1:] == (13, 2) and table.identity_probs.shape == (len(table), 2)
    for f in (100, 101):
        t = table.for_frame(f)
        assert len(t) <= 2 and len(set(t.track_id.tolist())) == len(t) and set(t.track_id.tolist()) <= {0, 1}
