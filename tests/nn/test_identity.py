"""Multi-class top-down: identity head, targets, loss, training, prediction with named tracks, bad input."""

import numpy as np
import pytest
import torch

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.identity import IdentityError, identity_classes
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.skeleton import Skeleton
from napari_posetrack.nn.identity import IDENTITY_LOSS_WEIGHT, identity_loss, relabel_by_class

torch.set_num_threads(1)


def two_kinds_dataset(n_frames=16, size=64, seed=0, track_names=("big", "small")):
    """Two animals per frame that differ in looks: 'big' has long, wide, bright blobs, 'small' short, thin, dim ones.

    Track 0 is 'big' in even frames and listed second in odd frames, so that row order says nothing.
    """
    rng = np.random.default_rng(seed)
    sk = Skeleton.from_names(["head", "thorax", "tail"], [("head", "thorax"), ("thorax", "tail")], name="toy")
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.zeros((n_frames, size, size, 1), np.uint8)
    pts, fr, tid = [], [], []
    look = {0: (11.0, 2.2, 1.0), 1: (7.0, 1.2, 0.55)}  # length, blob sigma, brightness
    for f in range(n_frames):
        img = np.zeros((size, size))
        centres = [np.array([18.0, 18.0]), np.array([46.0, 46.0])]
        if rng.random() < 0.5:
            centres = centres[::-1]
        order = (0, 1) if f % 2 == 0 else (1, 0)
        for k in order:
            length, sig, lv = look[k]
            c = centres[k] + rng.uniform(-3, 3, 2)
            ang = rng.uniform(0, 2 * np.pi)
            d = np.array([np.cos(ang), np.sin(ang)])
            p = np.array([c + d * length, c, c - d * length], np.float32)
            for (x, y), w in zip(p, (1.0, 0.8, 0.6)):
                img = np.maximum(img, lv * w * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sig ** 2)))
            pts.append(p)
            fr.append(f)
            tid.append(k)
        images[f] = np.clip((img + rng.normal(0, 0.02, img.shape)) * 255, 0, 255).astype(np.uint8)[..., None]
    video = VideoInfo(path="two-kinds-embedded", n_frames=n_frames, height=size, width=size, channels=1,
                      kind="embedded", embedded={"frame_idx": np.arange(n_frames), "images": images})
    labels = PoseTable.from_arrays(np.asarray(pts, np.float32), frame_idx=np.asarray(fr), track_id=np.asarray(tid))
    return PoseDataset(sk, [video], list(track_names), labels), images


FAST = {"model": {"sigma": 2.0, "backbone": {"filters": 8, "down_blocks": 2}},
        "preprocess": {"input_scale": 1.0},
        "train": {"epochs": 30, "batch_size": 4, "steps_per_epoch": 10, "eval_every": 0, "val_fraction": 0.15,
                  "learning_rate": 3e-3, "device": "cpu", "patience": 0},
        "augment": {"rotation": 20.0}}


def test_crop_classes_follow_the_sampler(tmp_path):
    from napari_posetrack.nn.batches import build_samples
    from napari_posetrack.nn.data import collect_frames
    from napari_posetrack.nn.train import prepare_config
    from napari_posetrack.nn.config import TrainingConfig

    ds, _ = two_kinds_dataset(6)
    spec = identity_classes(ds)
    data = relabel_by_class(ds, spec)
    cfg = prepare_config(TrainingConfig().update(FAST), "centered_instance", data)
    cfg.data["identity_classes"] = spec.class_names
    cfg.data["channels"] = 1
    cfg.model.crop_size = 32
    s = build_samples(collect_frames(data), cfg)
    assert s.classes.tolist() == [0, 1, 1, 0] * 3  # frames in order, rows of a frame in table order
    # each crop's class is the one of the instance whose anchor sits at the crop centre
    lab = data.labels
    thorax = lab.points[:, 1]
    for m in range(len(s)):
        f = int(s.frame[m])
        centre = s.sampler.anchors[m].numpy()
        rows = np.flatnonzero(lab.frame_idx == f)
        nearest = rows[np.argmin(np.linalg.norm(thorax[rows] - centre, axis=1))]
        assert lab.track_id[nearest] == s.classes[m]


def test_identity_loss_is_weighted_cross_entropy_on_pooled_maps():
    maps = torch.zeros((3, 2, 4, 4))
    maps[0, 0] = 2.0
    maps[1, 1] = 3.0
    maps[2, 0] = 1.0
    target = torch.tensor([0, 1, -1])
    want = torch.nn.functional.cross_entropy(torch.tensor([[2.0, 0.0], [0.0, 3.0]]), target[:2])
    assert float(identity_loss(maps, target)) == pytest.approx(float(want) * IDENTITY_LOSS_WEIGHT, rel=1e-5)
    assert float(identity_loss(maps, torch.tensor([-1, -1, -1]))) == 0.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A topdown-id model trained once on 24 frames of the two kinds of animals, and 20 held-out frames."""
    from napari_posetrack.nn.inference.toy import write_video
    from napari_posetrack.nn.train import train

    d = tmp_path_factory.mktemp("identity")
    ds, _ = two_kinds_dataset(24)
    res = train(ds, "topdown-id", d / "m", overrides=FAST, show_progress=False)
    test_ds, test_images = two_kinds_dataset(20, seed=7)
    video = write_video(d / "clip.mp4", test_images)
    return {"dir": d, "model": d / "m", "result": res, "test_ds": test_ds, "images": test_images, "video": video}


def test_topdown_id_learns_who_is_who(trained):
    from napari_posetrack.nn.identity_predict import TopDownIdentityPredictor
    from napari_posetrack.nn.inference.predictors import load_predictor

    res = trained["result"]
    assert res["kind"] == "topdown-id" and res["identity_classes"] == ["big", "small"]
    pred = load_predictor(trained["model"], device="cpu")
    assert isinstance(pred, TopDownIdentityPredictor) and pred.class_names == ["big", "small"]
    test_ds = trained["test_ds"]
    table = pred.predict_frames(trained["images"], frame_idx=np.arange(20))
    assert table.track_id.max() <= 1
    correct, total = 0, 0
    for f in range(20):
        p = table.for_frame(f)
        assert len(p) <= 2 and len(set(p.track_id.tolist())) == len(p)  # no two instances share a class
        gt = test_ds.labels.for_frame(f)
        for j in range(len(p)):  # identity of every prediction that sits on an animal
            d = np.linalg.norm(gt.points[:, 1] - p.points[j, 1], axis=1)
            i = int(np.argmin(d))
            if d[i] < 6:
                total += 1
                correct += int(p.track_id[j] == gt.track_id[i])
    # the tiny centroid model misses some animals; the identity of those it finds must be right
    assert total >= 14 and correct / total >= 0.9, (correct, total)
    assert np.nanmin(table.tracking_score) > 0.0 and table.identity_probs.shape == (len(table), 2)
    np.testing.assert_allclose(table.identity_probs.sum(1), 1.0, atol=1e-5)
    chosen = table.identity_probs[np.arange(len(table)), table.track_id]
    np.testing.assert_allclose(chosen, table.tracking_score, atol=1e-6)


def test_predict_names_tracks_and_eval_scores_identity(trained, tmp_path):
    import sleap_io as sio

    from napari_posetrack.cli.cmd_eval import eval as eval_cmd
    from napari_posetrack.cli.cmd_predict import predict
    from napari_posetrack.core.dataset import PoseDataset
    from napari_posetrack.core.io import save_dataset

    out = tmp_path / "out.slp"
    predict(trained["model"], [trained["video"]], out, show=False, device="cpu")
    labels = sio.load_slp(str(out))
    assert sorted(t.name for t in labels.tracks) == ["big", "small"]
    assert sum(inst.track is not None for lf in labels.labeled_frames for inst in lf.instances) >= 16
    # with the tracker: tracklets stitched to the named animals
    tracked = tmp_path / "tracked.slp"
    predict(trained["model"], [trained["video"]], tracked, show=False, device="cpu", tracker="simple",
            identity_weight=0.5)
    assert sorted(t.name for t in sio.load_slp(str(tracked)).tracks) == ["big", "small"]
    # eval: identity accuracy per class next to the tracking metrics
    test_ds = trained["test_ds"]
    from napari_posetrack.core.dataset import VideoInfo

    gt = tmp_path / "gt.slp"
    save_dataset(PoseDataset(test_ds.skeleton, [VideoInfo(str(trained["video"]), n_frames=20, height=64, width=64)],
                             ["big", "small"], test_ds.labels), gt)
    res = eval_cmd(gt, out)
    assert set(res["identity"]["per_class"]) == {"big", "small"}
    assert res["identity"]["n"] == {"big": 20, "small": 20}
    # unmatched (missed) animals count as wrong; of the matched ones (tracking true positives, matched
    # the same way) the identity must be right
    ident = res["identity"]
    correct = sum(ident["per_class"][c] * ident["n"][c] for c in ("big", "small"))
    assert res["tracking"]["true_positives"] >= 14
    assert correct >= 0.85 * res["tracking"]["true_positives"], (correct, res["tracking"]["true_positives"])


def test_predict_refuses_a_project_without_the_model_classes(trained, tmp_path):
    from napari_posetrack.cli.cmd_predict import predict
    from napari_posetrack.core.store import ProjectStore

    store_path = tmp_path / "p.posetrack.zarr"
    st = ProjectStore.create(store_path, trained["test_ds"].skeleton, track_names=["F", "M"])
    st.close()
    with pytest.raises(IdentityError, match=r"\['big', 'small'\] would be new"):
        predict(trained["model"], [trained["video"]], store_path, show=False, device="cpu")
    assert len(ProjectStore.open(store_path, "r").predictions) == 0


def test_labels_without_track_names_train_nothing(tmp_path):
    from napari_posetrack.nn.train import train

    ds, _ = two_kinds_dataset(8)
    ds = PoseDataset(ds.skeleton, ds.videos, [], ds.labels.with_columns(track_id=np.full(len(ds.labels), -1)))
    with pytest.raises(IdentityError, match="no track names"):
        train(ds, "topdown-id", tmp_path / "m", overrides=FAST, show_progress=False)
    assert not (tmp_path / "m").exists()


def _identity_echo_stages(centroid_shift: int):
    """Echo top-down stages whose crop model also has an ``identity`` head: class 'A' when the crop centre is
    bright (the animal is centred), 'B' otherwise; the centroid model lands ``centroid_shift`` px right of the
    animal, and the crop model is best at the crop centre (so the crop is re-centred). Crop forwards are
    counted."""
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.inference.toy import echo_stages

    sk = Skeleton.from_names(["thorax", "tail"], [("thorax", "tail")])
    stages = echo_stages("topdown", sk, crop_size=32)
    for name in stages:
        stages[name][1]["model"].update(anchor_node="thorax", heading_node="")
    echo_c, cfg_c = stages["centroid"]
    echo_i, cfg_i = stages["centered_instance"]
    cfg_i["data"]["identity_classes"] = ["A", "B"]

    class OffCentroid(torch.nn.Module):
        in_channels = 1

        def forward(self, x):
            out = echo_c(x)
            out["centroids"] = torch.roll(out["centroids"], centroid_shift, dims=-1)
            return out

    class CropWithIdentity(torch.nn.Module):
        in_channels = 1
        crops = 0

        def forward(self, x):
            type(self).crops += len(x)
            out = echo_i(x)
            h, w = out["confmaps"].shape[-2:]
            yy, xx = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
            out["confmaps"] = out["confmaps"] * torch.exp(-(xx ** 2 + yy ** 2) / (2 * 4.0 ** 2))
            centre = x[:, 0, h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean(dim=(1, 2))
            logits = torch.stack([10.0 * centre, torch.full_like(centre, 5.0)], 1)
            out["identity"] = logits[:, :, None, None]
            return out

    stages["centroid"] = (OffCentroid(), cfg_c)
    stages["centered_instance"] = (CropWithIdentity(), cfg_i)
    return stages, CropWithIdentity


@pytest.mark.parametrize("recenter", [False, True])
def test_identity_comes_from_the_crop_whose_pose_is_kept_with_no_extra_pass(recenter):
    """The identity is read from the crop model's own pass: from the re-centred crop when that pose is kept,
    from the first crop otherwise, and the identity predictor runs exactly the crops the top-down one does."""
    from napari_posetrack.nn.identity_predict import TopDownIdentityPredictor
    from napari_posetrack.nn.inference.predictors import PredictorSettings, TopDownPredictor
    from napari_posetrack.nn.inference.toy import blob_frames

    truth = np.array([40.0, 50.0])
    frames = blob_frames(truth.reshape(1, 1, 1, 2), 100, 100, sigma=3.0)
    settings = dict(recenter=recenter, peak_threshold=0.05, centroid_threshold=0.05)
    stages, crop_model = _identity_echo_stages(6)
    pred = TopDownIdentityPredictor(stages, torch.device("cpu"), PredictorSettings(**settings))
    tab = pred.predict_frames(frames)
    n_id = crop_model.crops
    assert len(tab) == 1 and tab.identity_probs.shape == (1, 2)
    # re-centred on the animal: the crop centre is bright -> 'A'; the first, 6 px-off crop -> 'B'
    assert int(tab.track_id[0]) == (0 if recenter else 1)
    assert float(tab.tracking_score[0]) == pytest.approx(float(tab.identity_probs[0].max()), abs=1e-6)
    stages, crop_model = _identity_echo_stages(6)
    plain = TopDownPredictor(stages, torch.device("cpu"), PredictorSettings(**settings)).predict_frames(frames)
    assert crop_model.crops == n_id == (2 if recenter else 1)  # no crop pass for the identity alone
    np.testing.assert_array_equal(plain.points, tab.points)  # the poses are the top-down ones


def random_identity_model(path, skeleton, classes=("F", "M"), favour=0):
    """A random-init topdown-id model directory (no training): heads biased so that the centroid and crop
    models fire; the identity head leans to class ``favour``."""
    from napari_posetrack.nn.inference.toy import save_random_checkpoint

    return save_random_checkpoint(path, "topdown", skeleton, crop_size=32, head_bias=1.0, identity_classes=classes,
                                  favour=favour)


def test_predict_writes_the_class_probabilities_into_a_store_and_tracks_with_them(tmp_path):
    """posetrack predict with an identity model: the store gets the probabilities (streamed), the tracks are
    the classes, with and without --tracker; a store whose tracks list the classes in another order gets
    the columns in its order."""
    from napari_posetrack.cli.cmd_predict import predict
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.nn.inference.toy import blob_frames, write_video

    ds, _ = two_kinds_dataset(2)
    model = random_identity_model(tmp_path / "m", ds.skeleton)
    rng = np.random.default_rng(1)
    poses = np.stack([rng.uniform(10, 40, (8, 3, 2)), rng.uniform(60, 90, (8, 3, 2))], 1)
    video = write_video(tmp_path / "clip.mp4", blob_frames(poses, 64, 96))
    out = tmp_path / "out.posetrack.zarr"
    predict(model, [video], out, show=False, device="cpu")
    got = ProjectStore.open(out, "r").load()
    p = got.predictions
    assert got.track_names == ["F", "M"] and len(p) >= 8
    assert p.identity_probs.shape == (len(p), 2)
    np.testing.assert_allclose(p.identity_probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(p.identity_probs[np.arange(len(p)), p.track_id], p.tracking_score, atol=1e-6)
    tracked = tmp_path / "tracked.posetrack.zarr"
    predict(model, [video], tracked, show=False, device="cpu", tracker="simple", identity_weight=0.5)
    t = ProjectStore.open(tracked, "r").load()
    assert t.track_names == ["F", "M"] and t.predictions.identity_probs.shape == (len(t.predictions), 2)
    assert set(t.predictions.track_id.tolist()) <= {0, 1}
    # a project whose tracks are the classes in another order
    other = tmp_path / "other.posetrack.zarr"
    ProjectStore.create(other, ds.skeleton, track_names=["M", "F"]).close()
    predict(model, [video], other, show=False, device="cpu")
    o = ProjectStore.open(other, "r").load()
    assert o.track_names == ["M", "F"]
    np.testing.assert_allclose(o.predictions.identity_probs[np.arange(len(o.predictions)), o.predictions.track_id],
                               o.predictions.tracking_score, atol=1e-6)
