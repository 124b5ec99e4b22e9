"""Skeletons: named nodes, edges between them, and left/right symmetry pairs.

Skeletons compare by value (same node names in the same order, same edges and
symmetries). Edges and symmetries are stored as pairs of node indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Iterable, Sequence

from .errors import SkeletonMismatchError

__all__ = ["Skeleton", "NO_NODE", "propose_anchor_heading"]

#: a skeleton's anchor/heading set to "none" on purpose (bounding-box centre, no alignment); "" = proposed
NO_NODE = "-"


def _pair(a: int, b: int) -> tuple[int, int]:
    return (int(a), int(b))


@dataclass
class Skeleton:
    """A pose skeleton.

    Parameters
    ----------
    node_names : list of str
        Unique node names, in order. The order is the node axis of every pose table.
    edges : list of (int, int)
        Directed edges (source, destination) as node indices.
    symmetries : list of (int, int)
        Unordered left/right pairs as node indices (each stored with the smaller index first).
    name : str
        A display name.
    anchor, heading : str
        Top-down alignment: the node crops are centred on, and the node that points up in them
        (anchor -> heading, e.g. thorax -> head). ``""`` = proposed from the node names when a model
        is trained (:meth:`alignment`); :data:`NO_NODE` = none (bounding-box centre / no alignment).
        They do not take part in comparisons: two skeletons with the same nodes and edges match.
    """

    node_names: list[str] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    symmetries: list[tuple[int, int]] = field(default_factory=list)
    name: str = "skeleton"
    anchor: str = field(default="", compare=False)
    heading: str = field(default="", compare=False)

    def __post_init__(self):
        self.node_names = [str(n) for n in self.node_names]
        self.edges = [_pair(*e) for e in self.edges]
        self.symmetries = [tuple(sorted(_pair(*s))) for s in self.symmetries]
        self.validate()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_names(
        cls,
        node_names: Sequence[str],
        edges: Iterable[tuple[str, str]] = (),
        symmetries: Iterable[tuple[str, str]] = (),
        name: str = "skeleton",
    ) -> Skeleton:
        """Build a skeleton from node names and name pairs."""
        names = [str(n) for n in node_names]
        index = {n: i for i, n in enumerate(names)}

        def idx(n):
            if n not in index:
                raise SkeletonMismatchError(
                    f"Edge or symmetry names node {n!r}, which is not one of the nodes {names}.",
                    hint="Add the node first, or fix the spelling.",
                )
            return index[n]

        return cls(
            names,
            [(idx(a), idx(b)) for a, b in edges],
            [(idx(a), idx(b)) for a, b in symmetries],
            name=name,
        )

    def validate(self) -> None:
        """Raise :class:`SkeletonMismatchError` if names repeat or indices are out of range."""
        seen = set()
        for n in self.node_names:
            if not n:
                raise SkeletonMismatchError("A skeleton node has an empty name.", hint="Give every node a name.")
            if n in seen:
                raise SkeletonMismatchError(
                    f"Skeleton {self.name!r} has the node name {n!r} twice; node names must be unique.",
                    hint="Rename one of them.",
                )
            seen.add(n)
        k = len(self.node_names)
        for kind, pairs in (("edge", self.edges), ("symmetry", self.symmetries)):
            for a, b in pairs:
                if not (0 <= a < k and 0 <= b < k):
                    raise SkeletonMismatchError(
                        f"Skeleton {self.name!r} has a {kind} ({a}, {b}) but only {k} nodes.",
                        hint="Remove the pair or add the missing node.",
                    )
                if a == b:
                    raise SkeletonMismatchError(
                        f"Skeleton {self.name!r} has a {kind} from node {self.node_names[a]!r} to itself.",
                        hint="Remove it.",
                    )
        for role in ("anchor", "heading"):
            v = getattr(self, role)
            if v not in ("", NO_NODE) and v not in seen:
                raise SkeletonMismatchError(
                    f"Skeleton {self.name!r} names {v!r} as its {role} node, but it has no such node "
                    f"({self.node_names}).", hint=f"Pick one of the nodes as the {role}, or leave it to be proposed.")
        if self.heading not in ("", NO_NODE) and self.heading == self.anchor:
            raise SkeletonMismatchError(
                f"Skeleton {self.name!r} has {self.anchor!r} as both anchor and heading node: a heading needs two "
                "different nodes (the direction anchor -> heading is turned to point up in top-down crops).",
                hint="Pick a front node (head, nose...) as the heading and a body-centre node as the anchor, or "
                     "choose no heading.")

    # ------------------------------------------------------------------ queries
    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    def index(self, name: str) -> int:
        try:
            return self.node_names.index(name)
        except ValueError:
            raise SkeletonMismatchError(
                f"Skeleton {self.name!r} has no node {name!r}; its nodes are {self.node_names}.",
                hint="Check the node name.",
            ) from None

    @property
    def edge_names(self) -> list[tuple[str, str]]:
        return [(self.node_names[a], self.node_names[b]) for a, b in self.edges]

    @property
    def symmetry_names(self) -> list[tuple[str, str]]:
        return [(self.node_names[a], self.node_names[b]) for a, b in self.symmetries]

    def flip_permutation(self) -> list[int]:
        """Node permutation that swaps every symmetric pair (for left/right flips)."""
        perm = list(range(self.n_nodes))
        for a, b in self.symmetries:
            perm[a], perm[b] = b, a
        return perm

    def __eq__(self, other) -> bool:
        if not isinstance(other, Skeleton):
            return NotImplemented
        return (
            self.node_names == other.node_names
            and sorted(self.edges) == sorted(other.edges)
            and sorted(self.symmetries) == sorted(other.symmetries)
        )

    def same_nodes(self, other: Skeleton) -> bool:
        """True if both skeletons have the same node names in the same order."""
        return self.node_names == other.node_names

    def node_mapping(self, other: Skeleton) -> list[int]:
        """Index in ``self`` of each node of ``other`` (-1 where ``self`` lacks it)."""
        pos = {n: i for i, n in enumerate(self.node_names)}
        return [pos.get(n, -1) for n in other.node_names]

    def require_match(self, other: Skeleton, *, source: str = "the input") -> None:
        """Raise a teaching error unless ``other`` has exactly our nodes in our order."""
        if self.same_nodes(other):
            return
        missing = [n for n in self.node_names if n not in other.node_names]
        extra = [n for n in other.node_names if n not in self.node_names]
        if not missing and not extra:
            detail = f"the same nodes in another order ({other.node_names})"
        else:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"extra {extra}")
            detail = ", ".join(parts)
        raise SkeletonMismatchError(
            f"Expected {self.n_nodes} nodes to match skeleton {self.name!r} {self.node_names}, "
            f"but {source} has {other.n_nodes}: {detail}.",
            hint="Re-export with the full skeleton, map the nodes with Skeleton.merge, or pass --skeleton.",
        )

    # ------------------------------------------------------------------ editing (return new skeletons)
    def merge(self, other: Skeleton) -> tuple[Skeleton, list[int]]:
        """Union of two skeletons.

        Returns the merged skeleton (our nodes first, then ``other``'s new nodes) and, for each
        node of ``other``, its index in the merged skeleton. Edges and symmetries of both are kept.
        """
        names = list(self.node_names)
        for n in other.node_names:
            if n not in names:
                names.append(n)
        pos = {n: i for i, n in enumerate(names)}
        mapping = [pos[n] for n in other.node_names]
        edges = list(self.edges)
        for a, b in other.edges:
            e = (mapping[a], mapping[b])
            if e not in edges:
                edges.append(e)
        syms = list(self.symmetries)
        for a, b in other.symmetries:
            s = tuple(sorted((mapping[a], mapping[b])))
            if s not in syms:
                syms.append(s)
        return Skeleton(names, edges, syms, name=self.name), mapping

    def copy(self) -> Skeleton:
        return Skeleton(list(self.node_names), list(self.edges), list(self.symmetries), name=self.name,
                        anchor=self.anchor, heading=self.heading)

    def with_alignment(self, anchor: str | None = None, heading: str | None = None) -> Skeleton:
        """A copy with the anchor and/or heading node changed (``""`` = proposed, :data:`NO_NODE` = none)."""
        return Skeleton(list(self.node_names), list(self.edges), list(self.symmetries), name=self.name,
                        anchor=self.anchor if anchor is None else anchor,
                        heading=self.heading if heading is None else heading)

    def alignment(self) -> tuple[str, str, str]:
        """The anchor and heading node top-down models use, and why: ``(anchor, heading, reason)``.

        What the skeleton names wins; what it leaves empty is proposed from the node names
        (:func:`propose_anchor_heading`). ``""`` in the result means none (bounding-box centre / no
        alignment).
        """
        anchor, heading, why = propose_anchor_heading(self.node_names)
        chosen = []
        if self.anchor:
            anchor = "" if self.anchor == NO_NODE else self.anchor
            chosen.append("anchor")
        if self.heading:
            heading = "" if self.heading == NO_NODE else self.heading
            chosen.append("heading")
        if heading == anchor:
            heading = ""
        if not chosen:
            return anchor, heading, why
        return anchor, heading, f"{' and '.join(chosen)} set in the skeleton" + (
            f"; the {'heading' if chosen == ['anchor'] else 'anchor'} proposed: {why}" if len(chosen) == 1 else "")

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "node_names": list(self.node_names),
            "edges": [list(e) for e in self.edges],
            "symmetries": [list(s) for s in self.symmetries],
        }
        for role in ("anchor", "heading"):
            if getattr(self, role):
                d[role] = getattr(self, role)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Skeleton:
        return cls(
            list(d["node_names"]),
            [tuple(e) for e in d.get("edges", [])],
            [tuple(s) for s in d.get("symmetries", [])],
            name=d.get("name", "skeleton"),
            anchor=str(d.get("anchor") or ""),
            heading=str(d.get("heading") or ""),
        )


#: name fragments that mark a body-centre node (anchor) and a front node (heading), best first
_ANCHOR_WORDS = ("thorax", "centroid", "center", "centre", "body", "spine", "back", "trunk", "torso", "neck")
_HEADING_WORDS = ("head", "nose", "snout", "beak", "rostrum", "mouth", "face", "front")


def _find(names: Sequence[str], words) -> int | None:
    low = [n.lower() for n in names]
    for w in words:
        for i, n in enumerate(low):
            if n == w:
                return i
    for w in words:
        for i, n in enumerate(low):
            if n.startswith(w) and n[len(w):].strip("_-. 0123456789") == "":
                return i
    for w in words:
        for i, n in enumerate(low):
            if w in n:
                return i
    return None


def propose_anchor_heading(node_names: Sequence[str]) -> tuple[str, str, str]:
    """Propose an anchor node and a heading node from the node names.

    The anchor is a body-centre node (thorax, centroid, body, spine...), the heading node a front
    node (head, nose, snout...); a heading node with no body-centre node pairs with the tail
    base or the middle of the animal when one is named. Returns ``(anchor, heading, reason)``;
    empty strings when the names say nothing (the anchor is then the bounding-box centre and
    crops are not aligned).
    """
    names = list(node_names)
    heading = _find(names, _HEADING_WORDS)
    anchor = _find(names, _ANCHOR_WORDS)
    if anchor is None and heading is not None:
        anchor = _find(names, ("tailbase", "tail_base", "tail-base", "tailstart", "tail", "hip", "pelvis"))
    if heading is not None and anchor is not None and heading != anchor:
        return names[anchor], names[heading], (f"anchor {names[anchor]!r}, heading from {names[anchor]!r} "
                                               f"to {names[heading]!r}, from the node names")
    if anchor is not None:
        return names[anchor], "", f"anchor {names[anchor]!r} from the node names; no front node (head, nose...) named"
    return "", "", "no body-centre or front node recognised in the node names"


#: left/right name tokens, as (left, right) pairs tried in this order
_SIDE_TOKENS = (("left", "right"), ("Left", "Right"), ("LEFT", "RIGHT"), ("L", "R"), ("l", "r"))


def _side_key(name: str) -> list[tuple[str, str]]:
    """Ways of writing ``name`` with its side token replaced by ``{}``: [(side, template)]."""
    import re

    out = []
    for left, right in _SIDE_TOKENS:
        for side in (left, right):
            if len(side) > 1:
                pat = re.escape(side)
            else:  # a one-letter side only counts at a word edge, e.g. wingL, L_ear, ear.l, eyeR1
                pat = rf"(?:(?<=[a-z0-9_\-. ])|^){side}(?=[A-Z0-9_\-. ]|$)" if side.isupper() else \
                    rf"(?:(?<=[_\-. ])|^){side}(?=[_\-. ]|$)"
            for m in re.finditer(pat, name):
                out.append((side, name[:m.start()] + "{}" + name[m.end():]))
    return out


def propose_symmetries(node_names: Sequence[str]) -> list[tuple[str, str]]:
    """Left/right node pairs recognised from the names (``wingL``/``wingR``, ``left_ear``/``right_ear``,
    ``l_paw``/``r_paw``...); each node is used at most once. Empty when the names say nothing."""
    names = list(node_names)
    index = {n: i for i, n in enumerate(names)}
    pairs, used = [], set()
    pair_of = {l: r for l, r in _SIDE_TOKENS}
    for n in names:
        if n in used:
            continue
        for side, template in _side_key(n):
            if side not in pair_of:
                continue
            other = template.format(pair_of[side])
            if other in index and other != n and other not in used:
                pairs.append((n, other))
                used.update((n, other))
                break
    return pairs
