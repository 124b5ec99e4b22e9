"""Where a store lives, relative video paths, and looking for moved videos."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import StoreError

__all__ = [
    "STORE_SUFFIX",
    "is_store_dir",
    "find_store",
    "to_relative",
    "from_relative",
    "find_candidates",
]

STORE_SUFFIX = ".posetrack.zarr"
FORMAT_NAME = "napari-posetrack project store"


def is_store_dir(path) -> bool:
    """True if ``path`` is a folder whose root ``zarr.json`` marks a napari-posetrack store."""
    try:
        p = Path(path)
        meta = p / "zarr.json"
        if not meta.is_file():
            return False
        if p.name.endswith(STORE_SUFFIX):
            return True
        attrs = json.loads(meta.read_text()).get("attributes", {})
        return attrs.get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def find_store(path) -> Path:
    """Resolve ``path`` (a store folder, or a project folder holding one) to the store folder.

    Raises
    ------
    StoreError
        If there is no store there, or several.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise StoreError(
            f"No project store at {p}: the path does not exist.",
            path=p,
            hint="Check the path, or create a project with `posetrack new`.",
        )
    if is_store_dir(p):
        return p.resolve()
    if p.is_dir():
        found = sorted(c for c in p.iterdir() if c.is_dir() and c.name.endswith(STORE_SUFFIX))
        if len(found) == 1:
            return found[0].resolve()
        if len(found) > 1:
            raise StoreError(
                f"The folder {p} holds {len(found)} project stores ({', '.join(f.name for f in found)}).",
                path=p,
                hint="Open one of them by its full path.",
            )
        if (p / "zarr.json").is_file():
            raise StoreError(
                f"{p} is a zarr group but not a napari-posetrack project store (its zarr.json has no "
                f"'format: {FORMAT_NAME}' attribute).",
                path=p,
                hint="Import the data with `posetrack import` instead.",
            )
    raise StoreError(
        f"{p} is not a napari-posetrack project store (expected a '*{STORE_SUFFIX}' folder or a "
        f"project folder holding one).",
        path=p,
        hint="Create one with `posetrack new STORE --video ...`.",
    )


def to_relative(path, project_dir: Path) -> str:
    """``path`` relative to ``project_dir`` (POSIX separators); absolute if on another drive."""
    if not str(path):
        return ""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path.cwd() / p
    try:
        rel = os.path.relpath(os.path.normpath(str(p)), str(project_dir))
    except ValueError:  # another drive on Windows
        return Path(p).as_posix()
    return Path(rel).as_posix()


def from_relative(rel: str, project_dir: Path) -> Path:
    """Absolute, normalised path of a stored (relative or absolute) path."""
    if not rel:
        return Path("")
    p = Path(rel)
    if not p.is_absolute():
        p = project_dir / p
    return Path(os.path.normpath(str(p)))


_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", "venv"}


def find_candidates(name: str, project_dir: Path, *, levels_up: int = 2, max_depth: int = 4,
                    max_entries: int = 20000) -> list[Path]:
    """Files called ``name`` in ``project_dir`` and the folders around it.

    Searches ``levels_up`` parents above the project folder, ``max_depth`` folders deep from
    the top, skipping hidden folders and zarr stores, and stops after ``max_entries`` entries
    so that a project in a huge tree stays quick. Closest matches come first.
    """
    if not name:
        return []
    top = Path(project_dir)
    for _ in range(levels_up):
        if top.parent == top:
            break
        top = top.parent
    found: list[Path] = []
    seen = 0
    stack = [(top, 0)]
    while stack and seen < max_entries:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            seen += 1
            try:
                if e.is_dir(follow_symlinks=False):
                    if depth < max_depth and not e.name.startswith(".") and e.name not in _SKIP_DIRS \
                            and not e.name.endswith(".zarr"):
                        stack.append((Path(e.path), depth + 1))
                elif e.name == name:
                    found.append(Path(e.path).resolve())
            except OSError:
                continue

    def distance(p: Path) -> int:
        try:
            return len(Path(os.path.relpath(p, project_dir)).parts)
        except ValueError:
            return 99

    return sorted(set(found), key=lambda p: (distance(p), str(p)))
