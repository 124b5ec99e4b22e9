"""Identity classes from track names: classes, labels, the bad-input messages, assignment, scoring."""

from pathlib import Path

import numpy as np
import pytest

from napari_posetrack.core.dataset import PoseDataset, VideoInfo
from napari_posetrack.core.identity import (IdentityError, assign_identities, check_model_classes,
                                            class_probabilities, identity_accuracy, identity_classes,
                                            parse_identity_map)
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.skeleton import Skeleton

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flies"


def _dataset(track_names, rows, videos=("a.mp4",)):
    """rows: list of (video_id, frame_idx, track_id)."""
    rows = np.asarray(rows, np.int64).reshape(-1, 3)
    pts = np.random.default_rng(0).uniform(0, 100, (len(rows), 2, 2)).astype(np.float32)
    lab = PoseTable.from_arrays(pts, video_id=rows[:, 0], frame_idx=rows[:, 1], track_id=rows[:, 2])
    return PoseDataset(Skeleton.from_names(["head", "tail"]), [VideoInfo(v) for v in videos], list(track_names), lab)


def _two_animals(n_frames=6, names=("F", "M")):
    return _dataset(names, [(0, f, t) for f in range(n_frames) for t in (0, 1)])


def test_classes_and_labels_from_track_names():
    ds = _dataset(["M", "F"], [(0, f, t) for f in range(5) for t in (0, 1)] + [(0, 9, -1)])
    spec = identity_classes(ds)
    assert spec.class_names == ["F", "M"]  # sorted, independent of the track order
    assert spec.labels.tolist() == [1, 0] * 5 + [-1]
    assert spec.counts == {"F": 5, "M": 5}
    assert spec.n_unnamed == 1


def test_no_track_names_is_an_error():
    ds = _dataset([], [(0, f, -1) for f in range(6)])
    with pytest.raises(IdentityError, match="no track names") as exc:
        identity_classes(ds)
    assert "Labeling dock" in exc.value.hint


def test_class_with_too_few_instances_names_class_and_count():
    ds = _dataset(["F", "M"], [(0, f, 0) for f in range(8)] + [(0, f, 1) for f in range(3)])
    with pytest.raises(IdentityError, match=r"'M' has 3") as exc:
        identity_classes(ds, min_instances=5)
    assert "at least 5" in str(exc.value)


def test_names_that_differ_between_videos_list_them_and_offer_a_map():
    rows = [(0, f, t) for f in range(6) for t in (0, 1)] + [(1, f, t) for f in range(6) for t in (2, 3)]
    ds = _dataset(["F", "M", "female", "male"], rows, videos=("one.mp4", "two.mp4"))
    with pytest.raises(IdentityError, match="name their animals differently") as exc:
        identity_classes(ds)
    assert "one.mp4: ['F', 'M']" in str(exc.value) and "two.mp4: ['female', 'male']" in str(exc.value)
    assert "--identity-map" in exc.value.hint
    spec = identity_classes(ds, identity_map=["female=F", "male=M"])
    assert spec.class_names == ["F", "M"]
    assert spec.counts == {"F": 12, "M": 12}


def test_more_animals_in_a_frame_than_classes():
    rows = [(0, f, t) for f in range(6) for t in (0, 1)] + [(0, 3, 0)]
    ds = _dataset(["F", "M"], rows)
    with pytest.raises(IdentityError, match="Frame 3 .* 3 named animals but there are only 2"):
        identity_classes(ds)


def test_same_class_twice_in_a_frame():
    rows = [(0, f, t) for f in range(6) for t in (0, 1)] + [(0, 7, 0), (0, 7, 0)]
    ds = _dataset(["F", "M", "X"], rows)
    with pytest.raises(IdentityError, match="more than one instance of class"):
        identity_classes(ds)


def test_identity_map_parsing_and_errors():
    assert parse_identity_map(["F=female", "M = male"]) == {"F": "female", "M": "male"}
    assert parse_identity_map("F=female,M=male") == {"F": "female", "M": "male"}
    with pytest.raises(IdentityError, match="OLD=NEW"):
        parse_identity_map(["F:female"])
    with pytest.raises(IdentityError, match="no track"):
        identity_classes(_two_animals(), identity_map={"Q": "F"})


def test_model_with_classes_the_project_lacks():
    check_model_classes(["F", "M"], ["F", "M", "X"])
    check_model_classes(["F", "M"], [])  # a project with no tracks yet takes the model's classes
    with pytest.raises(IdentityError, match=r"\['female'\] would be new"):
        check_model_classes(["F", "female"], ["F", "M"])


def test_hungarian_assignment_gives_distinct_classes():
    probs = np.array([[0.9, 0.1], [0.6, 0.4]])  # both prefer class 0
    assert assign_identities(probs).tolist() == [0, 1]
    probs = np.array([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    assert assign_identities(probs).tolist() == [0, 1]  # 0.2 * 0.8 beats 0.7 * 0.1 and 0.1 * 0.8
    out = assign_identities(np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]))
    assert out.tolist() == [0, 1, -1]  # more instances than classes: the least likely has none
    assert assign_identities(np.zeros((0, 2))).tolist() == []


def test_identity_accuracy_per_class():
    acc = identity_accuracy(np.array([0, 0, 1, 1]), np.array([0, 1, 1, -1]), ["F", "M"])
    assert acc["per_class"] == {"F": 0.5, "M": 0.5}
    assert acc["n"] == {"F": 2, "M": 2}
    assert acc["accuracy"] == 0.5


def test_class_probabilities_from_table_columns():
    p = class_probabilities(np.array([1, 0, -1]), np.array([0.8, 0.6, np.nan]), 2)
    np.testing.assert_allclose(p, [[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])


@pytest.mark.skipif(not (DATA / "two_flies.slp").is_file(), reason="needs ../shared/data/flies (real fly labels)")
def test_two_flies_has_classes_F_and_M():
    from napari_posetrack.core.io import load_dataset

    ds = load_dataset(DATA / "two_flies.slp", check_videos="ignore")
    spec = identity_classes(ds)
    assert spec.class_names == ["F", "M"]
    assert spec.counts == {"F": 128, "M": 128}


def _predicted_with_probs():
    from napari_posetrack.core.posetable import PREDICTED

    ds = _two_animals(4)
    probs = np.array([[0.9, 0.1], [0.2, 0.8]] * 4, np.float32)
    probs[5] = np.nan  # unknown
    ds.predictions = ds.labels.with_columns(source=np.full(8, PREDICTED), identity_probs=probs,
                                            tracking_score=np.nan_to_num(probs, nan=0.0).max(1))
    ds.labels = ds.labels.take(np.arange(2))
    return ds, probs


def test_class_probabilities_survive_the_store_and_the_flat_csv(tmp_path):
    from napari_posetrack.core.io.flat_csv import load_flat_csv, save_flat_csv
    from napari_posetrack.core.store import ProjectStore

    ds, probs = _predicted_with_probs()
    st = ProjectStore.create(tmp_path / "p.posetrack.zarr", ds.skeleton, ds.videos, track_names=ds.track_names)
    st.save(ds)
    st.close()
    back = ProjectStore.open(tmp_path / "p.posetrack.zarr", "r").load()
    np.testing.assert_array_equal(back.predictions.identity_probs, probs)
    assert back.labels.identity_probs.shape == (2, 0)
    save_flat_csv(ds, tmp_path / "p.csv")
    csv = load_flat_csv(tmp_path / "p.csv")
    assert csv.track_names == ["F", "M"]
    np.testing.assert_array_equal(csv.predictions.identity_probs, probs)
    assert np.isnan(csv.labels.identity_probs).all()  # user labels have none


def test_name_predictions_puts_the_classes_on_the_project_tracks():
    from napari_posetrack.core.identity_commands import identity_rows_text, name_predictions

    ds, probs = _predicted_with_probs()
    table = ds.predictions
    same, names = name_predictions(table, ["F", "M"], [])
    assert names == ["F", "M"] and same.track_id.tolist() == table.track_id.tolist()
    # a project whose tracks are the classes in another order, plus one more: columns follow its tracks
    moved, names = name_predictions(table, ["F", "M"], ["M", "X", "F"])
    assert names == ["M", "X", "F"]
    assert moved.track_id.tolist() == [2, 0] * 4
    np.testing.assert_array_equal(moved.identity_probs[:, 0], probs[:, 1])
    np.testing.assert_array_equal(moved.identity_probs[:, 2], probs[:, 0])
    assert np.isnan(moved.identity_probs[:, 1]).all()
    with pytest.raises(IdentityError, match="would be new identities"):
        name_predictions(table, ["F", "M"], ["F", "female"])
    assert identity_rows_text(table, [0, 1], ["F", "M"]) == ["F 0.90 (M 0.10)", "M 0.80 (F 0.20)"]
    assert identity_rows_text(table, [5], ["F", "M"]) == ["M ?"]
