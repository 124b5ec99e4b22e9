"""A skeleton's top-down alignment choice (anchor -> heading): proposals, validation, edits, round trip."""

import pytest

from napari_posetrack.core.errors import SkeletonMismatchError
from napari_posetrack.core.labeling.skeleton_edits import delete_node, rename_node, reorder_nodes, set_alignment
from napari_posetrack.core.skeleton import NO_NODE, Skeleton

FLY = ["head", "thorax", "abdomen", "wingL", "wingR"]


def test_proposed_from_names_when_not_chosen():
    sk = Skeleton.from_names(FLY)
    assert sk.alignment()[:2] == ("thorax", "head") and "from the node names" in sk.alignment()[2]
    assert Skeleton.from_names(["a", "b"]).alignment()[:2] == ("", "")


def test_chosen_nodes_win_and_none_means_none():
    sk = Skeleton.from_names(FLY).with_alignment("abdomen", NO_NODE)
    a, h, why = sk.alignment()
    assert (a, h) == ("abdomen", "") and "set in the skeleton" in why
    a, h, why = Skeleton.from_names(FLY).with_alignment(anchor="abdomen").alignment()
    assert (a, h) == ("abdomen", "head") and "the heading proposed" in why


def test_bad_choices_are_refused():
    with pytest.raises(SkeletonMismatchError, match="no such node"):
        Skeleton.from_names(FLY).with_alignment("tail")
    with pytest.raises(SkeletonMismatchError, match="both anchor and heading"):
        Skeleton.from_names(FLY).with_alignment("head", "head")


def test_round_trip_and_comparison():
    sk = Skeleton.from_names(FLY).with_alignment("thorax", "head")
    back = Skeleton.from_dict(sk.to_dict())
    assert (back.anchor, back.heading) == ("thorax", "head")
    assert "anchor" not in Skeleton.from_names(FLY).to_dict()  # old layout when nothing is chosen
    assert back == Skeleton.from_names(FLY)  # the choice does not make skeletons differ


def test_edits_keep_the_choice():
    sk = Skeleton.from_names(FLY).with_alignment("thorax", "head")
    assert rename_node(sk, 0, "Head").new.heading == "Head"
    assert reorder_nodes(sk, [4, 3, 2, 1, 0]).new.anchor == "thorax"
    gone = delete_node(sk, 0).new  # the heading node is deleted: back to the proposal
    assert gone.heading == "" and gone.anchor == "thorax"
    assert set_alignment(sk, heading=NO_NODE).new.heading == NO_NODE
