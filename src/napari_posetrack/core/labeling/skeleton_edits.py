"""Undoable skeleton edits that migrate labels and predictions (headless).

Every edit is one :class:`EditSkeleton` command: a new skeleton plus, for each old node, its
index in the new skeleton (-1 = dropped). Labels and predictions are remapped with
:meth:`PoseTable.remap_nodes`; undo restores the exact previous tables.
"""

from __future__ import annotations

import numpy as np

from ..edits import Command
from ..errors import SkeletonMismatchError
from ..skeleton import NO_NODE, Skeleton

__all__ = [
    "EditSkeleton",
    "node_has_data",
    "add_node",
    "rename_node",
    "move_node",
    "reorder_nodes",
    "delete_node",
    "add_edge",
    "delete_edge",
    "add_symmetry",
    "delete_symmetry",
    "replace_skeleton",
    "set_alignment",
]


class EditSkeleton(Command):
    """Replace the skeleton and migrate every table.

    Parameters
    ----------
    new : Skeleton
    mapping : list of int
        For each node of the current skeleton, its index in ``new`` (-1 drops it).
    """

    def __init__(self, new: Skeleton, mapping, text: str = "edit skeleton"):
        self.new = new
        self.mapping = [int(m) for m in mapping]
        self.text = text
        self.old = None

    def do(self, session) -> None:
        ds = session.dataset
        k_old = ds.skeleton.n_nodes if ds.skeleton is not None else 0
        if len(self.mapping) != k_old:
            raise SkeletonMismatchError(
                f"Skeleton edit maps {len(self.mapping)} nodes but the skeleton has {k_old}.",
                hint="The skeleton changed meanwhile; refresh the Skeleton dock and retry.",
            )
        if any(m >= self.new.n_nodes for m in self.mapping):
            raise SkeletonMismatchError("Skeleton edit maps a node past the end of the new skeleton.")
        self.old = (ds.skeleton, ds.labels, ds.predictions)
        labels = ds.labels.remap_nodes(self.mapping, self.new.n_nodes)
        preds = ds.predictions.remap_nodes(self.mapping, self.new.n_nodes)
        ds.skeleton, ds.labels, ds.predictions = self.new, labels, preds

    def undo(self, session) -> None:
        ds = session.dataset
        ds.skeleton, ds.labels, ds.predictions = self.old


def node_has_data(dataset, node: int) -> int:
    """Number of labeled or predicted points of ``node`` (0 means deleting it loses nothing)."""
    n = 0
    for t in (dataset.labels, dataset.predictions):
        if t is not None and len(t) and node < t.n_nodes:
            n += int((t.state[:, node] != 0).sum())
    return n


def _identity(sk: Skeleton) -> list[int]:
    return list(range(sk.n_nodes))


def _new(old: Skeleton, names, edges, syms, rename: dict | None = None) -> Skeleton:
    """A skeleton built from an edit of ``old`` that keeps its anchor/heading choice: a renamed node is
    followed, a deleted one falls back to the proposal."""
    def carry(v: str) -> str:
        v = (rename or {}).get(v, v)
        return v if v in ("", NO_NODE) or v in names else ""

    return Skeleton(names, edges, syms, name=old.name, anchor=carry(old.anchor), heading=carry(old.heading))


def set_alignment(skeleton: Skeleton, anchor: str | None = None, heading: str | None = None) -> EditSkeleton:
    """Choose the top-down anchor and/or heading node (``""`` = proposed from the names, ``NO_NODE`` = none)."""
    new = skeleton.with_alignment(anchor, heading)
    a, h, _ = new.alignment()
    return EditSkeleton(new, _identity(skeleton), text=f"alignment {a or 'box centre'} -> {h or 'none'}")


def add_node(skeleton: Skeleton, name: str) -> EditSkeleton:
    new = _new(skeleton, skeleton.node_names + [name], skeleton.edges, skeleton.symmetries)
    return EditSkeleton(new, _identity(skeleton), text=f"add node {name}")


def rename_node(skeleton: Skeleton, node: int, name: str) -> EditSkeleton:
    names = list(skeleton.node_names)
    old_name, names[node] = names[node], name
    new = _new(skeleton, names, skeleton.edges, skeleton.symmetries, rename={old_name: name})
    return EditSkeleton(new, _identity(skeleton), text=f"rename node to {name}")


def reorder_nodes(skeleton: Skeleton, order) -> EditSkeleton:
    """New skeleton whose node ``i`` is old node ``order[i]``."""
    order = [int(o) for o in order]
    if sorted(order) != _identity(skeleton):
        raise SkeletonMismatchError(
            f"A node order must list each of the {skeleton.n_nodes} nodes once, got {order}.")
    pos = np.argsort(order)  # old index -> new index
    names = [skeleton.node_names[o] for o in order]
    edges = [(int(pos[a]), int(pos[b])) for a, b in skeleton.edges]
    syms = [(int(pos[a]), int(pos[b])) for a, b in skeleton.symmetries]
    return EditSkeleton(_new(skeleton, names, edges, syms), [int(p) for p in pos],
                        text="reorder nodes")


def move_node(skeleton: Skeleton, node: int, new_index: int) -> EditSkeleton:
    order = _identity(skeleton)
    order.pop(node)
    order.insert(max(0, min(new_index, skeleton.n_nodes - 1)), node)
    return reorder_nodes(skeleton, order)


def delete_node(skeleton: Skeleton, node: int) -> EditSkeleton:
    keep = [i for i in range(skeleton.n_nodes) if i != node]
    pos = {old: new for new, old in enumerate(keep)}
    names = [skeleton.node_names[i] for i in keep]
    edges = [(pos[a], pos[b]) for a, b in skeleton.edges if a != node and b != node]
    syms = [(pos[a], pos[b]) for a, b in skeleton.symmetries if a != node and b != node]
    mapping = [pos.get(i, -1) for i in range(skeleton.n_nodes)]
    return EditSkeleton(_new(skeleton, names, edges, syms), mapping,
                        text=f"delete node {skeleton.node_names[node]}")


def add_edge(skeleton: Skeleton, a: int, b: int) -> EditSkeleton:
    edges = list(skeleton.edges)
    if (a, b) in edges or (b, a) in edges:
        raise SkeletonMismatchError(
            f"The edge {skeleton.node_names[a]} - {skeleton.node_names[b]} already exists.")
    edges.append((a, b))
    return EditSkeleton(_new(skeleton, skeleton.node_names, edges, skeleton.symmetries),
                        _identity(skeleton), text="add edge")


def delete_edge(skeleton: Skeleton, index: int) -> EditSkeleton:
    edges = [e for i, e in enumerate(skeleton.edges) if i != index]
    return EditSkeleton(_new(skeleton, skeleton.node_names, edges, skeleton.symmetries),
                        _identity(skeleton), text="delete edge")


def add_symmetry(skeleton: Skeleton, a: int, b: int) -> EditSkeleton:
    used = {n for s in skeleton.symmetries for n in s}
    if a in used or b in used:
        raise SkeletonMismatchError(
            f"A node can be in only one symmetry pair; {skeleton.node_names[a]!r} or "
            f"{skeleton.node_names[b]!r} already is.", hint="Delete the old pair first.")
    syms = list(skeleton.symmetries) + [(a, b)]
    return EditSkeleton(_new(skeleton, skeleton.node_names, skeleton.edges, syms),
                        _identity(skeleton), text="add symmetry")


def delete_symmetry(skeleton: Skeleton, index: int) -> EditSkeleton:
    syms = [s for i, s in enumerate(skeleton.symmetries) if i != index]
    return EditSkeleton(_new(skeleton, skeleton.node_names, skeleton.edges, syms),
                        _identity(skeleton), text="delete symmetry")


def replace_skeleton(dataset, new: Skeleton, *, allow_drop: bool = False) -> EditSkeleton:
    """Command that switches to ``new``, matching nodes by name.

    Raises :class:`SkeletonMismatchError` if labeled nodes have no namesake in ``new`` and
    ``allow_drop`` is False (nothing is changed).
    """
    old = dataset.skeleton
    pos = {n: i for i, n in enumerate(new.node_names)}
    mapping = [pos.get(n, -1) for n in old.node_names]
    lost = [old.node_names[i] for i, m in enumerate(mapping) if m < 0 and node_has_data(dataset, i)]
    if lost and not allow_drop:
        raise SkeletonMismatchError(
            f"The skeleton {new.name!r} {new.node_names} does not match the labels: nodes {lost} have "
            f"labeled points but no node of that name in the new skeleton.",
            hint="Rename the nodes to match, or confirm that their points may be dropped.",
        )
    return EditSkeleton(new, mapping, text=f"use skeleton {new.name}")
