import pytest

from napari_posetrack.core.errors import SkeletonMismatchError
from napari_posetrack.core.skeleton import Skeleton


def fly():
    return Skeleton.from_names(
        ["head", "thorax", "wingL", "wingR"],
        edges=[("head", "thorax"), ("thorax", "wingL"), ("thorax", "wingR")],
        symmetries=[("wingL", "wingR")],
        name="fly",
    )


def test_build_from_names_and_query():
    sk = fly()
    assert sk.n_nodes == 4
    assert sk.edges == [(0, 1), (1, 2), (1, 3)]
    assert sk.symmetries == [(2, 3)]
    assert sk.index("wingR") == 3
    assert sk.flip_permutation() == [0, 1, 3, 2]
    assert Skeleton.from_dict(sk.to_dict()) == sk


def test_equality_is_by_value_not_identity():
    assert fly() == fly()
    other = fly()
    other.node_names[0] = "Head"
    assert other != fly()


@pytest.mark.parametrize(
    "names, edges, msg",
    [(["a", "a"], [], "twice"), (["a", "b"], [("a", "c")], "not one of the nodes"), (["a", ""], [], "empty")],
)
def test_bad_skeletons_raise_teaching_errors(names, edges, msg):
    with pytest.raises(SkeletonMismatchError, match=msg):
        Skeleton.from_names(names, edges)


def test_self_edge_rejected():
    with pytest.raises(SkeletonMismatchError, match="to itself"):
        Skeleton(["a", "b"], [(1, 1)])


def test_merge_keeps_our_order_and_maps_theirs():
    a = fly()
    b = Skeleton.from_names(["wingR", "abdomen", "thorax"], edges=[("thorax", "abdomen")])
    merged, mapping = a.merge(b)
    assert merged.node_names == ["head", "thorax", "wingL", "wingR", "abdomen"]
    assert mapping == [3, 4, 1]
    assert (1, 4) in merged.edges and (1, 2) in merged.edges
    assert merged.symmetries == [(2, 3)]


def test_require_match_explains_the_difference():
    a = fly()
    b = Skeleton.from_names(["head", "thorax", "wingL"])
    with pytest.raises(SkeletonMismatchError, match=r"missing \['wingR'\]"):
        a.require_match(b, source="labels.slp")
    c = Skeleton.from_names(["thorax", "head", "wingL", "wingR"])
    with pytest.raises(SkeletonMismatchError, match="another order"):
        a.require_match(c)
    a.require_match(fly())


@pytest.mark.parametrize("names, pairs", [
    (["head", "thorax", "wingL", "wingR", "forelegL4", "forelegR4", "eyeL", "eyeR"],
     [("wingL", "wingR"), ("forelegL4", "forelegR4"), ("eyeL", "eyeR")]),
    (["snout", "leftear", "rightear", "tailbase"], [("leftear", "rightear")]),
    (["nose", "left_ear", "right_ear", "L_paw", "R_paw", "ear.l", "ear.r"],
     [("left_ear", "right_ear"), ("L_paw", "R_paw"), ("ear.l", "ear.r")]),
    (["Lower", "Rower", "LR", "tail"], []),  # capitals inside words are not sides
    (["wingL", "tail"], []),                 # a side without its partner
])
def test_left_right_pairs_proposed_from_names(names, pairs):
    from napari_posetrack.core.skeleton import propose_symmetries

    assert propose_symmetries(names) == pairs
