"""``posetrack new STORE --video V... [--skeleton FILE]``: create a project store.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_new`).

The skeleton can come from a SLEAP ``.slp``/``.pkg.slp`` file, a DeepLabCut ``config.yaml``,
a JSON or YAML skeleton file, or another project store.
"""

from __future__ import annotations

from pathlib import Path


def _skeleton_from_mapping(d: dict, path: Path, name: str):
    from ..core.errors import FormatError
    from ..core.skeleton import Skeleton

    if "node_names" in d:
        return Skeleton.from_dict({"name": name, **d})
    if "bodyparts" in d or "multianimalbodyparts" in d:  # DeepLabCut config.yaml
        from ..core.io.dlc import config_bodyparts

        nodes = config_bodyparts(d)
        edges = [tuple(e) for e in (d.get("skeleton") or []) if len(e) == 2 and e[0] in nodes and e[1] in nodes]
        return Skeleton.from_names(nodes, edges, name=str(d.get("Task") or name))
    if isinstance(d.get("nodes"), list):
        nodes = [n["name"] if isinstance(n, dict) else str(n) for n in d["nodes"]]
        edges = d.get("edges", [])
        if edges and isinstance(edges[0], dict):
            edges = [(e["source"], e["destination"]) for e in edges]
        syms = d.get("symmetries", [])
        to_names = (lambda pairs: [(nodes[a], nodes[b]) if isinstance(a, int) else (a, b) for a, b in pairs])
        return Skeleton.from_names(nodes, to_names(edges), to_names(syms), name=str(d.get("name", name)))
    raise FormatError(
        f"{path} is not a skeleton file we understand (expected 'node_names' or 'nodes', or DeepLabCut "
        "'bodyparts').",
        path=path, hint='Write {"node_names": [...], "edges": [[0, 1], ...]} or pass a .slp / config.yaml.',
    )


def load_skeleton(path):
    """A :class:`~napari_posetrack.core.skeleton.Skeleton` from a .slp, DLC config, JSON/YAML file or store."""
    import json

    from ..core.errors import FormatError

    p = Path(path).expanduser()
    if not p.exists():
        raise FormatError(f"The skeleton file {p} does not exist.", path=p, hint="Check the path.")
    from ..core.store import is_store_dir

    if p.is_dir():
        from ..core.store import ProjectStore

        if is_store_dir(p) or any(c.name.endswith(".posetrack.zarr") for c in p.iterdir()):
            return ProjectStore.open(p, mode="r").skeleton
        if (p / "config.yaml").is_file():
            p = p / "config.yaml"
        else:
            raise FormatError(f"{p} is a folder but neither a project store nor a DeepLabCut project.", path=p,
                              hint="Pass a .slp, config.yaml, JSON/YAML skeleton or a store.")
    name = p.name.lower()
    if name.endswith(".slp"):
        import sleap_io as sio

        from ..core.io.sleap_convert import skeleton_from_sleap

        labels = sio.load_slp(str(p), open_videos=False)
        if len(labels.skeletons) != 1:
            raise FormatError(f"{p} has {len(labels.skeletons)} skeletons; expected exactly one.", path=p,
                              hint="Export a file with a single skeleton.")
        return skeleton_from_sleap(labels.skeletons[0])
    try:
        if name.endswith((".yaml", ".yml")):
            import yaml

            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        elif name.endswith(".json"):
            doc = json.loads(p.read_text(encoding="utf-8"))
        else:
            raise FormatError(f"Unknown skeleton file type {p.suffix!r} for {p}.", path=p,
                              hint="Use .slp, config.yaml, .json, .yaml or a project store.")
    except (ValueError, OSError) as exc:
        raise FormatError(f"Cannot read the skeleton file {p}: {exc}", path=p, hint="Check the file.") from None
    if isinstance(doc, dict):
        try:
            return _skeleton_from_mapping(doc, p, p.stem)
        except FormatError:
            if not name.endswith(".json"):
                raise
    try:  # SLEAP's own skeleton JSON (jsonpickle)
        import sleap_io as sio

        from ..core.io.sleap_convert import skeleton_from_sleap

        sk = sio.load_skeleton(str(p))
        return skeleton_from_sleap(sk[0] if isinstance(sk, list) else sk)
    except Exception as exc:  # noqa: BLE001 - sleap-io raises many kinds on foreign JSON
        raise FormatError(f"{p} is not a skeleton file we understand ({exc}).", path=p,
                          hint='Write {"node_names": [...], "edges": [[0, 1], ...]}.') from None


def new(store, videos=(), skeleton=None, *, overwrite: bool = False):
    """Create a project store and return it (opened for writing).

    Parameters
    ----------
    store : str or Path
        ``NAME.posetrack.zarr`` or a project folder.
    videos : list of str or Path
        Video files or image folders.
    skeleton : Skeleton, str or Path, optional
        A skeleton, or a file to read one from (see :func:`load_skeleton`).
    """
    from ..core.skeleton import Skeleton
    from ..core.store import ProjectStore

    if skeleton is not None and not isinstance(skeleton, Skeleton):
        skeleton = load_skeleton(skeleton)
    return ProjectStore.create(store, skeleton, videos=list(videos), overwrite=overwrite)

