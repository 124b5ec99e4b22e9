"""Skeleton edits migrate labels and predictions and undo exactly."""

import numpy as np
import pytest

from napari_posetrack.core.errors import SkeletonMismatchError
from napari_posetrack.core.labeling import (
    add_edge, add_node, add_symmetry, delete_edge, delete_node, delete_symmetry, move_node,
    node_has_data, rename_node, reorder_nodes, replace_skeleton,
)
from napari_posetrack.core.skeleton import Skeleton

from test_labeling import make_session, same, snapshot


def test_add_rename_delete_reorder_migrate():
    s = make_session()
    before = snapshot(s)
    pts = s.dataset.labels.points.copy()
    s.push(add_node(s.dataset.skeleton, "wing"))
    assert s.dataset.labels.n_nodes == 4 and (s.dataset.labels.state[:, 3] == 0).all()
    s.push(rename_node(s.dataset.skeleton, 0, "nose"))
    s.push(reorder_nodes(s.dataset.skeleton, [2, 0, 1, 3]))
    sk = s.dataset.skeleton
    assert sk.node_names == ["tail", "nose", "thorax", "wing"]
    assert sorted(sk.edge_names) == sorted([("nose", "thorax"), ("thorax", "tail")])
    np.testing.assert_array_equal(s.dataset.labels.points[:, 0], pts[:, 2])
    np.testing.assert_array_equal(s.dataset.predictions.points[:, 1], before[1].points[:, 0])
    s.push(delete_node(s.dataset.skeleton, 2))  # thorax: edges through it go
    assert s.dataset.skeleton.node_names == ["tail", "nose", "wing"] and s.dataset.skeleton.edges == []
    np.testing.assert_array_equal(s.dataset.labels.points[:, 1], pts[:, 0])
    for _ in range(4):
        s.undo()
    assert same(s, before)


def test_edges_symmetries_and_move():
    s = make_session()
    sk = s.dataset.skeleton
    s.push(add_edge(sk, 0, 2))
    with pytest.raises(SkeletonMismatchError, match="already exists"):
        add_edge(s.dataset.skeleton, 2, 0)
    s.push(add_symmetry(s.dataset.skeleton, 0, 2))
    with pytest.raises(SkeletonMismatchError, match="only one symmetry"):
        add_symmetry(s.dataset.skeleton, 1, 2)
    s.push(move_node(s.dataset.skeleton, 2, 0))
    assert s.dataset.skeleton.node_names[0] == "tail"
    assert s.dataset.skeleton.symmetry_names == [("tail", "head")]
    s.push(delete_symmetry(s.dataset.skeleton, 0))
    s.push(delete_edge(s.dataset.skeleton, 0))
    assert len(s.dataset.skeleton.edges) == 2 and not s.dataset.skeleton.symmetries


def test_node_has_data_and_rename_duplicate():
    s = make_session()
    assert node_has_data(s.dataset, 0) == 4  # 3 labels + 1 prediction
    with pytest.raises(SkeletonMismatchError, match="twice"):
        rename_node(s.dataset.skeleton, 0, "tail")


def test_replace_skeleton_that_does_not_match_labels():
    s = make_session()
    before = snapshot(s)
    other = Skeleton.from_names(["head", "abdomen"])
    with pytest.raises(SkeletonMismatchError, match=r"\['thorax', 'tail'\] have labeled points"):
        replace_skeleton(s.dataset, other)
    assert same(s, before)
    s.push(replace_skeleton(s.dataset, Skeleton.from_names(["tail", "head", "thorax"])))
    np.testing.assert_array_equal(s.dataset.labels.points[:, 1], before[0].points[:, 0])
    s.push(replace_skeleton(s.dataset, other, allow_drop=True))
    assert s.dataset.labels.n_nodes == 2 and (s.dataset.labels.state[:, 1] == 0).all()
    s.undo()
    s.undo()
    assert same(s, before)
