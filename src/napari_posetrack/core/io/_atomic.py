"""Atomic file output: write to a temporary file beside the target, then ``os.replace``.

A failed or interrupted export leaves nothing half-written: either the complete new file
is in place or the target path is untouched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from ..errors import FormatError

__all__ = ["atomic_output", "check_writable"]


def _suffix(path: Path) -> str:
    """The full suffix (``.pkg.slp``, ``.tar.gz``) so writers that check it are satisfied."""
    name = path.name
    dot = name.find(".", 1)
    return name[dot:] if dot > 0 else ""


def check_writable(path, *, overwrite: bool = False, format_name: str = "") -> Path:
    """Raise :class:`FormatError` if ``path`` exists (and not ``overwrite``) or cannot be written."""
    path = Path(path)
    if path.exists() and not overwrite:
        what = f" ({format_name} export)" if format_name else ""
        raise FormatError(
            f"Refusing to overwrite the existing file {path}{what}.",
            path=path,
            hint="Choose another output path, or pass overwrite=True (--overwrite on the command line).",
        )
    if path.is_dir():
        raise FormatError(
            f"The output path {path} is a folder; expected a file path.",
            path=path,
            hint="Give a file name, e.g. out/labels.slp.",
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FormatError(
            f"Cannot write {path}: the folder {parent} does not exist.",
            path=path,
            hint=f"Create it first (mkdir -p {parent}) or choose another output path.",
        )
    if not os.access(parent, os.W_OK):
        raise FormatError(
            f"Cannot write {path}: the folder {parent} is not writable.",
            path=path,
            hint="Choose a folder you can write to.",
        )
    return path


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False, format_name: str = ""):
    """Context manager yielding a temporary path; on success it replaces ``path``.

    On any exception the temporary file (and any side files starting with its name) is
    removed and the exception propagates; ``path`` is left as it was.
    """
    path = check_writable(path, overwrite=overwrite, format_name=format_name)
    tmp = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}{_suffix(path)}")
    try:
        yield tmp
        if not tmp.exists():
            raise FormatError(f"The {format_name or 'export'} writer produced no file for {path}.", path=path)
        if path.exists() and not overwrite:  # appeared meanwhile
            raise FormatError(f"{path} appeared while exporting; not overwriting it.", path=path,
                              hint="Pass overwrite=True or choose another path.")
        os.replace(tmp, path)
    finally:
        for p in tmp.parent.glob(tmp.name + "*"):
            with contextlib.suppress(OSError):
                p.unlink()
