"""The bad input of identity models, through the command line on the real flies: every case exits with a message
that says what was expected, what was found and what to do, and writes nothing (no model folder, no
predictions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_posetrack.cli import main

from conftest import shared_file

torch.set_num_threads(1)

KINDS = ("topdown-id", "bottomup-id")


def _flies():
    from napari_posetrack.core.io import load_dataset

    return load_dataset(shared_file("flies", "two_flies.slp"))


def _with_labels(ds, labels, track_names, videos=None):
    from napari_posetrack.core.dataset import PoseDataset

    return PoseDataset(ds.skeleton, list(videos or ds.videos), list(track_names), labels)


def _train_refused(tmp_path, capsys, dataset, kind, *extra) -> str:
    """Save ``dataset`` as .slp, run ``posetrack train`` on it; assert exit 1 and no model folder; return stderr."""
    from napari_posetrack.core.io import save_dataset

    slp = save_dataset(dataset, tmp_path / f"in_{kind}.slp", overwrite=True)
    out = tmp_path / f"model_{kind}"
    capsys.readouterr()
    rc = main(["train", str(slp), "--model", kind, "--out", str(out), "--device", "cpu", "--quiet", *extra])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert not out.exists(), f"{kind}: a refused training wrote {sorted(p.name for p in out.iterdir())}"
    return err


@pytest.mark.parametrize("kind", KINDS)
def test_labels_with_no_track_names(tmp_path, capsys, kind):
    ds = _flies()
    lab = ds.labels.with_columns(track_id=np.full(len(ds.labels), -1, np.int32))
    err = _train_refused(tmp_path, capsys, _with_labels(ds, lab, []), kind)
    assert f"no track names: {len(lab)} labeled instances, none assigned to a named track" in err
    assert "--model topdown or bottomup" in err  # what to do instead


@pytest.mark.parametrize("kind", KINDS)
def test_a_class_with_too_few_instances_names_the_class_and_its_count(tmp_path, capsys, kind):
    ds = _flies()
    lab = ds.labels
    m = np.flatnonzero(lab.track_id == ds.track_names.index("M"))
    keep = np.ones(len(lab), bool)
    keep[m[3:]] = False  # three labeled males left
    err = _train_refused(tmp_path, capsys, _with_labels(ds, lab.take(keep), ds.track_names), kind)
    assert "'M' has 3" in err and "at least 5" in err and "Label more frames" in err


def test_class_names_that_differ_between_videos_are_listed_with_a_mapping(tmp_path, capsys):
    from napari_posetrack.core.io import load_dataset
    from napari_posetrack.core.posetable import PoseTable

    two = _flies()
    one = load_dataset(shared_file("flies", "single_fly.slp"))
    single = one.labels.with_columns(video_id=np.ones(len(one.labels), np.int32),
                                     track_id=np.full(len(one.labels), 2, np.int32))
    labels = PoseTable.concat([two.labels, single], two.skeleton.n_nodes)
    assert one.skeleton.node_names == two.skeleton.node_names
    ds = _with_labels(two, labels, ["F", "M", "female"], videos=[two.videos[0], one.videos[0]])
    err = _train_refused(tmp_path, capsys, ds, "topdown-id")
    assert "name their animals differently" in err
    assert "two_flies.mp4: ['F', 'M']" in err and "single_fly.mp4: ['female']" in err
    assert "--identity-map" in err
    # a mapping naming a track the labels do not have is refused too, listing the tracks they have
    err = _train_refused(tmp_path, capsys, ds, "bottomup-id", "--identity-map", "woman=F")
    assert "['woman']" in err and "['F', 'M', 'female']" in err


@pytest.mark.parametrize("kind", KINDS)
def test_more_animals_in_a_frame_than_classes(tmp_path, capsys, kind):
    from napari_posetrack.core.posetable import PoseTable

    ds = _flies()
    lab = ds.labels
    f = int(lab.frame_idx[0])
    extra = lab.take(np.flatnonzero(lab.frame_idx == f)[:1])  # a third fly in frame f, named like the first
    extra = extra.with_columns(points=extra.points + 30.0)
    err = _train_refused(tmp_path, capsys, _with_labels(ds, PoseTable.concat([lab, extra], ds.skeleton.n_nodes),
                                                        ds.track_names), kind)
    assert f"Frame {f} of two_flies.mp4 has 3 named animals but there are only 2 identity classes" in err


def _bottomup_id_model(path, skeleton, classes):
    """A random-init bottomup-id model directory (confidence maps + class maps)."""
    from napari_posetrack.nn.checkpoint import save_checkpoint
    from napari_posetrack.nn.inference.toy import toy_config
    from napari_posetrack.nn.model import build_model

    cfg = toy_config("bottomup", skeleton)
    cfg.data["identity_classes"] = list(classes)
    save_checkpoint(path, build_model(cfg), cfg, which=("best",))
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_whose_classes_the_project_lacks_predicts_nothing(tmp_path, capsys, kind):
    from napari_posetrack.core.store import ProjectStore
    from napari_posetrack.nn.inference.toy import save_random_checkpoint

    ds = _flies()
    video = shared_file("flies", "two_flies.mp4")
    if kind == "topdown-id":
        model = save_random_checkpoint(tmp_path / "model", "topdown", ds.skeleton, crop_size=32, head_bias=1.0,
                                       identity_classes=("female", "male"))
    else:
        model = _bottomup_id_model(tmp_path / "model", ds.skeleton, ("female", "male"))
    store_path = tmp_path / "flies.posetrack.zarr"
    st = ProjectStore.create(store_path, ds.skeleton, videos=[str(video)], track_names=["F", "M"])
    st.close()
    capsys.readouterr()
    rc = main(["predict", str(model), str(video), "--out", str(store_path), "--frames", "0:4", "--device", "cpu",
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "predicts identity classes ['female', 'male']" in err and "has the tracks ['F', 'M']" in err
    assert "['female', 'male'] would be new identities" in err and "rename the project's tracks" in err
    st = ProjectStore.open(store_path, mode="r")
    try:
        assert len(st.predictions) == 0 and st.track_names == ["F", "M"]
    finally:
        st.close()


def test_an_identity_map_for_a_model_without_identities_is_refused(tmp_path, capsys):
    err = _train_refused(tmp_path, capsys, _flies(), "topdown", "--identity-map", "F=female")
    assert "--model topdown learns no identities" in err and "topdown-id or bottomup-id" in err
    from napari_posetrack.core.identity import IDENTITY_KINDS
    from napari_posetrack.nn.train import PIPELINES

    assert set(IDENTITY_KINDS) <= set(PIPELINES)  # the kinds the check accepts are the trainable identity models
