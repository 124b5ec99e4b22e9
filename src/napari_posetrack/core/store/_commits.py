"""The commit pointer (``HEAD.json``), commit records, recovery and garbage collection.

A commit is a small JSON document naming the metadata group and, for each table, its group
and committed row count. ``HEAD.json`` holds the current commit and is replaced atomically
(temp file, fsync, ``os.replace``); ``commits/cNNNNNN.json`` keep the last few commits so a
damaged pointer can be rolled back. Groups that no kept commit names are deleted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import StoreError, StoreVersionError
from ._paths import FORMAT_NAME
from ._zarrio import write_json_atomic

__all__ = [
    "SCHEMA_VERSION",
    "HEAD_NAME",
    "TABLE_NAMES",
    "read_head",
    "write_commit",
    "list_commits",
    "check_version",
    "collect_garbage",
    "referenced_groups",
]

#: version of the on-disk layout written by this code
SCHEMA_VERSION = 1
HEAD_NAME = "HEAD.json"
COMMITS_DIR = "commits"
KEEP_COMMITS = 5
GROUP_DIRS = ("meta", "tables", "embedded")
TABLE_NAMES = ("labels", "predictions", "suggestions", "negative_frames", "predicted_frames")


def check_version(version, where: Path) -> None:
    """Raise :class:`StoreVersionError` if ``version`` is newer than :data:`SCHEMA_VERSION`."""
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise StoreError(
            f"The store {where} has an unreadable schema_version {version!r} (expected an integer).",
            path=where, hint="The store's metadata is damaged; restore it from a backup.",
        ) from None
    if v > SCHEMA_VERSION:
        from ... import __version__

        raise StoreVersionError(
            f"The project store {where} was written with store schema version {v}; this "
            f"napari-posetrack ({__version__}) reads versions up to {SCHEMA_VERSION}.",
            path=where,
            hint="Upgrade napari-posetrack (pip install -U napari-posetrack) to open this project.",
        )


def list_commits(store_path: Path) -> list[int]:
    """Numbers of the commit records present, oldest first."""
    d = Path(store_path) / COMMITS_DIR
    out = []
    if d.is_dir():
        for p in d.glob("c*.json"):
            try:
                out.append(int(p.stem[1:]))
            except ValueError:
                continue
    return sorted(out)


def _record_path(store_path: Path, n: int) -> Path:
    return Path(store_path) / COMMITS_DIR / f"c{n:07d}.json"


def validate_commit(doc, store_path: Path, source: str) -> dict:
    """Check a commit document's shape and that the groups it names exist."""
    if not isinstance(doc, dict):
        raise ValueError(f"{source} does not hold a JSON object")
    check_version(doc.get("schema_version"), store_path)
    for key in ("commit", "meta", "tables"):
        if key not in doc:
            raise ValueError(f"{source} lacks the key {key!r}")
    if not isinstance(doc["tables"], dict):
        raise ValueError(f"{source} has no table list")
    for name in TABLE_NAMES:
        t = doc["tables"].get(name)
        if not isinstance(t, dict) or "group" not in t or int(t.get("n_rows", -1)) < 0:
            raise ValueError(f"{source} has no valid entry for table {name!r}")
    for group in referenced_groups(doc):
        parts = Path(str(group)).parts
        if not parts or Path(str(group)).is_absolute() or ".." in parts:
            # a pointer must never lead outside the store
            raise ValueError(f"{source} names the group {group!r}, which is not a folder inside the store")
        if not (Path(store_path) / group / "zarr.json").is_file():
            raise ValueError(f"{source} names the group {group!r}, which is missing")
    return doc


def read_head(store_path: Path) -> dict:
    """The current commit. Raises :class:`StoreError` saying what is wrong if it is damaged."""
    store_path = Path(store_path)
    head = store_path / HEAD_NAME
    try:
        doc = json.loads(head.read_text())
        return validate_commit(doc, store_path, HEAD_NAME)
    except StoreVersionError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        reason = "it is missing" if isinstance(exc, FileNotFoundError) else str(exc)
        older = list_commits(store_path)
        if older:
            extra = (f" {len(older)} older commit record(s) exist (newest: commit {older[-1]}), "
                     "so the project can be rolled back.")
            hint = ("Run `from napari_posetrack.core.store import ProjectStore; "
                    f"ProjectStore.recover({str(store_path)!r})` to roll back to the newest intact commit.")
        else:
            extra = " No older commit records exist."
            hint = "Restore the project folder from a backup, or re-import the labels into a new project."
        raise StoreError(
            f"The commit pointer {head} of the project store is corrupt ({reason}).{extra}",
            path=store_path, hint=hint,
        ) from None


def referenced_groups(doc: dict) -> set[str]:
    groups = {doc["meta"]}
    groups.update(t["group"] for t in doc["tables"].values())
    groups.update(doc.get("embedded", []))
    return groups


def write_commit(store_path: Path, doc: dict, *, durable: bool = True) -> None:
    """Write the commit record, then atomically point ``HEAD.json`` at it."""
    store_path = Path(store_path)
    doc = dict(doc, schema_version=SCHEMA_VERSION, format=FORMAT_NAME)
    (store_path / COMMITS_DIR).mkdir(exist_ok=True)
    write_json_atomic(_record_path(store_path, doc["commit"]), doc, durable=durable)
    write_json_atomic(store_path / HEAD_NAME, doc, durable=durable)


def read_record(store_path: Path, n: int) -> dict:
    p = _record_path(store_path, n)
    return validate_commit(json.loads(p.read_text()), store_path, p.name)


def collect_garbage(store_path: Path, head: dict, *, groups: bool = True) -> list[str]:
    """Drop commit records beyond the last :data:`KEEP_COMMITS` and unreferenced groups.

    Must run under the writer lock. Returns the group paths deleted.
    """
    store_path = Path(store_path)
    current = int(head["commit"])
    numbers = list_commits(store_path)
    keep = [n for n in numbers if n <= current][-KEEP_COMMITS:]
    for n in numbers:
        if n not in keep:
            _record_path(store_path, n).unlink(missing_ok=True)
    if not groups:
        return []
    referenced = referenced_groups(head)
    for n in keep:
        try:
            referenced |= referenced_groups(read_record(store_path, n))
        except (OSError, ValueError, StoreError):
            continue
    deleted = []
    # temporary files of writes that were killed before their rename
    for pattern in (".*.tmp", f"{COMMITS_DIR}/.*.tmp", "tables/*/*/*.partial"):
        for tmp in store_path.glob(pattern):
            tmp.unlink(missing_ok=True)
    for top in GROUP_DIRS:
        d = store_path / top
        if not d.is_dir():
            continue
        for child in d.iterdir():
            rel = f"{top}/{child.name}"
            if child.is_dir() and rel not in referenced:
                shutil.rmtree(child, ignore_errors=True)
                deleted.append(rel)
    return deleted


def recover(store_path: Path, *, durable: bool = True) -> int:
    """Point ``HEAD.json`` at the newest intact commit record; return its number."""
    store_path = Path(store_path)
    errors = []
    for n in reversed(list_commits(store_path)):
        try:
            doc = read_record(store_path, n)
        except (OSError, ValueError) as exc:
            errors.append(f"commit {n}: {exc}")
            continue
        write_json_atomic(store_path / HEAD_NAME, doc, durable=durable)
        return n
    raise StoreError(
        f"No intact commit record found in {store_path / COMMITS_DIR} ({'; '.join(errors) or 'none present'}).",
        path=store_path, hint="Restore the project folder from a backup.",
    )
