"""Import and export of pose data, through sleap-io where it has the format.

A registry of formats (:data:`FORMATS`, filled with :func:`register_format`) maps a name to a
loader and/or saver; :func:`load_dataset` and :func:`save_dataset` dispatch through it, so a
new format is one ``register_format`` call and never an ``if/elif`` branch.

>>> from napari_posetrack.core.io import load_dataset, save_dataset, FORMATS
>>> ds = load_dataset("two_flies.slp")
>>> save_dataset(ds, "two_flies.nwb", format="nwb")

Every save is atomic (a temporary file beside the target, then ``os.replace``) and refuses to
overwrite an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from ..errors import FormatError, PoseTrackError, SkeletonMismatchError
from ..registry import Registry

__all__ = [
    "FormatSpec",
    "FORMATS",
    "register_format",
    "get_format",
    "detect_format",
    "writer_for",
    "load_dataset",
    "save_dataset",
    "apply_skeleton",
]


@dataclass
class FormatSpec:
    """One file format.

    Attributes
    ----------
    name : str
        Short name used by ``--format`` (``"slp"``, ``"dlc"``, ...).
    description : str
        One line for help texts and docs.
    patterns : tuple of str
        Glob patterns (matched against the file name, case-insensitive) that identify the format.
    load : callable or None
        ``load(path: Path) -> PoseDataset``.
    save : callable or None
        ``save(dataset, path: Path, **options) -> None``; writes exactly ``path``.
    detect : callable or None
        ``detect(path: Path) -> bool``; used instead of ``patterns`` when given (for folders and
        extensions shared by several formats, such as ``.h5`` and ``.csv``).
    carries : dict
        What the format keeps: keys ``occlusion``, ``scores``, ``tracks``, ``images``, ``edges``.
    extension : str
        Default file extension for exports.
    atomic : bool
        True (default): the registry hands ``save`` a temporary path and moves it into place.
        False: ``save(dataset, path, overwrite=..., **options)`` writes ``path`` itself,
        atomically (folders such as the project store).
    """

    name: str
    description: str
    patterns: tuple[str, ...] = ()
    load: Callable | None = None
    save: Callable | None = None
    detect: Callable | None = None
    carries: dict = field(default_factory=dict)
    extension: str = ""
    atomic: bool = True

    def matches(self, path: Path) -> bool:
        if self.detect is not None:
            try:
                return bool(self.detect(path))
            except Exception:  # noqa: BLE001 - a detector never decides by crashing
                return False
        name = path.name.lower()
        return any(fnmatch.fnmatch(name, p.lower()) for p in self.patterns)


#: name -> FormatSpec, in detection order (first match wins).
FORMATS: Registry = Registry("file format")  # a second format under a taken name is refused


def register_format(spec: FormatSpec | None = None, **kwargs) -> FormatSpec:
    """Add a format to :data:`FORMATS` (``register_format(FormatSpec(...))`` or keywords)."""
    if spec is None:
        spec = FormatSpec(**kwargs)
    FORMATS[spec.name] = spec
    return spec


def _names(kind: str) -> list[str]:
    attr = "load" if kind == "read" else "save"
    return [n for n, s in FORMATS.items() if getattr(s, attr) is not None]


def get_format(name: str, *, kind: str = "write") -> FormatSpec:
    """The :class:`FormatSpec` called ``name``; a teaching error lists the supported ones."""
    spec = FORMATS.get(str(name).lower().lstrip("."))
    attr = "load" if kind == "read" else "save"
    if spec is None or getattr(spec, attr) is None:
        supported = ", ".join(_names(kind))
        raise FormatError(
            f"Unsupported format {name!r} for {'import' if kind == 'read' else 'export'}.",
            hint=f"Use one of: {supported}.",
        )
    return spec


def detect_format(path) -> FormatSpec:
    """Guess the format of an existing ``path`` from its name and content."""
    path = Path(path)
    for spec in FORMATS.values():
        if spec.load is not None and spec.matches(path):
            return spec
    raise FormatError(
        f"Cannot tell the format of {path}: no reader recognises it.",
        path=path,
        hint=f"Pass format= (one of {', '.join(_names('read'))}), or convert the file with sleap-io first.",
    )


def apply_skeleton(dataset, skeleton, *, source: str = "the input"):
    """Map ``dataset`` onto ``skeleton`` by node name.

    Nodes of ``skeleton`` missing from the data become unlabeled. A node in the data that
    ``skeleton`` lacks raises :class:`SkeletonMismatchError` (we never drop labels silently).
    """
    if skeleton is None or dataset.skeleton.node_names == skeleton.node_names:
        if skeleton is not None:
            dataset.skeleton = skeleton
        return dataset
    mapping = skeleton.node_mapping(dataset.skeleton)
    missing = [n for n, t in zip(dataset.skeleton.node_names, mapping) if t < 0]
    if missing or not any(t >= 0 for t in mapping):
        raise SkeletonMismatchError(
            f"Expected the nodes of skeleton {skeleton.name!r} {skeleton.node_names}, but {source} has "
            f"nodes {missing or dataset.skeleton.node_names} that it lacks.",
            path=source,
            hint="Add those nodes to the skeleton file you pass (--skeleton), or import without --skeleton.",
        )
    k = skeleton.n_nodes
    dataset.labels = dataset.labels.remap_nodes(mapping, k)
    dataset.predictions = dataset.predictions.remap_nodes(mapping, k)
    dataset.skeleton = skeleton
    return dataset


def load_dataset(path, *, skeleton=None, format: str | None = None, check_videos: str = "warn"):
    """Read a labels/predictions file (or project store) into a :class:`PoseDataset`.

    Parameters
    ----------
    path : str or Path
        A file (``.slp``, ``.pkg.slp``, DeepLabCut ``config.yaml`` / project folder /
        ``CollectedData_*.csv``, ``.nwb``, analysis ``.h5``, COCO ``.json``, flat CSV,
        movement ``.nc``) or a project store.
    skeleton : Skeleton, optional
        Map the data onto this skeleton by node name (raises :class:`SkeletonMismatchError`
        when the data has nodes the skeleton lacks).
    format : str, optional
        Format name; guessed from the path when omitted.
    check_videos : {"warn", "raise", "ignore"}
        What to do when the data references video files that are not there. The dataset
        keeps the recorded paths either way; ``"raise"`` raises :class:`MissingVideoError`
        with same-named candidate files found nearby.
    """

    from .videos import check_video_paths

    path = Path(path)
    if not path.exists():
        raise FormatError(
            f"Labels file {path} does not exist.",
            path=path,
            hint="Check the path (relative paths start from the current folder).",
        )
    spec = get_format(format, kind="read") if format else detect_format(path)
    try:
        dataset = spec.load(path)
    except PoseTrackError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes a teaching error
        raise FormatError(
            f"Could not read {path} as {spec.name} ({spec.description}): {type(exc).__name__}: {exc}",
            path=path,
            hint="The file may be truncated or corrupt, or in another format: re-export it from the tool "
            "that made it, or pass the right format=.",
        ) from exc
    dataset = apply_skeleton(dataset, skeleton, source=str(path))
    if check_videos != "ignore":
        check_video_paths(dataset, path, raise_error=check_videos == "raise")
    return dataset


def writer_for(path, format: str | None = None) -> FormatSpec:
    """The format that :func:`save_dataset` would write ``path`` in (``format``, else guessed from the file
    name); raises :class:`FormatError` when none or several fit. Call it before long work whose result is
    written there, so that a bad name fails first."""
    path = Path(path)
    if format is None:
        matches = [s for s in FORMATS.values() if s.save is not None and s.patterns and
                   any(fnmatch.fnmatch(path.name.lower(), p.lower()) for p in s.patterns)]
        if not matches:
            raise FormatError(
                f"Cannot tell which format to write from the file name {path.name}.",
                path=path,
                hint=f"Pass format= (one of {', '.join(_names('write'))}).",
            )
        if len(matches) > 1 and not path.name.lower().endswith(".pkg.slp"):
            raise FormatError(
                f"The extension of {path.name} fits several formats: {', '.join(s.name for s in matches)}.",
                path=path,
                hint="Pass format= to say which one.",
            )
        return matches[0]
    return get_format(format, kind="write")


def save_dataset(dataset, path, format: str | None = None, *, overwrite: bool = False, **options) -> Path:
    """Write ``dataset`` to ``path`` in ``format`` (guessed from the extension when omitted).

    The write is atomic and refuses an existing ``path`` unless ``overwrite=True``. Extra
    ``options`` go to the format's saver (for example ``video=0`` for per-video formats).
    Returns the path written.
    """

    from ._atomic import atomic_output

    path = Path(path)
    spec = writer_for(path, format)

    def write(target, **extra):
        try:
            spec.save(dataset, target, **extra, **options)
        except PoseTrackError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FormatError(
                f"Could not write {path} as {spec.name}: {type(exc).__name__}: {exc}",
                path=path,
                hint="Nothing was written. Check the data (e.g. a skeleton and at least one video), "
                "or try another format.",
            ) from exc

    if not spec.atomic:
        if path.exists() and not overwrite:
            from ._atomic import check_writable

            check_writable(path, overwrite=False, format_name=spec.name)
        write(path, overwrite=overwrite)
        return path
    with atomic_output(path, overwrite=overwrite, format_name=spec.name) as tmp:
        write(tmp)
    return path


from . import formats as _formats  # noqa: E402,F401 - registers the built-in formats (heavy imports stay lazy)
