"""Find videos that labels reference but that are not where the labels say.

Importing never fails because a video moved: the dataset keeps the recorded path, and
:func:`check_video_paths` warns (or raises :class:`MissingVideoError`) with the files of the
same name found near the labels file, so the user can relink.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..errors import MissingVideoError

__all__ = ["find_candidates", "missing_videos", "check_video_paths", "MissingVideoWarning"]

_MAX_VISITS = 20000


class MissingVideoWarning(UserWarning):
    """Labels reference a video file that is not there (the import still worked)."""


def find_candidates(name: str, near, *, levels_up: int = 2, max_depth: int = 4) -> list[Path]:
    """Files called ``name`` under ``near`` and up to ``levels_up`` folders above it.

    The walk is bounded (depth and number of entries) so that it stays fast on big disks.
    """
    near = Path(near).resolve()
    roots = [near]
    for _ in range(levels_up):
        if roots[-1].parent == roots[-1]:
            break
        roots.append(roots[-1].parent)
    found: list[Path] = []
    seen: set[str] = set()
    visits = 0
    for root in reversed(roots):  # widest first, dedupe
        base_depth = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root):
            visits += len(dirnames) + len(filenames)
            if visits > _MAX_VISITS:
                break
            depth = len(Path(dirpath).parts) - base_depth
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and depth < max_depth]
            if name in filenames:
                p = str(Path(dirpath, name))
                if p not in seen:
                    seen.add(p)
                    found.append(Path(p))
        if found:
            break
    return sorted(found)


def _resolve(path: str, labels_path) -> Path | None:
    p = Path(path)
    if p.exists():
        return p
    if labels_path is not None and not p.is_absolute():
        q = Path(labels_path).parent / p
        if q.exists():
            return q
    return None


def missing_videos(dataset, labels_path=None) -> list[MissingVideoError]:
    """One :class:`MissingVideoError` per video of ``dataset`` whose file is not there."""
    errors = []
    near = Path(labels_path).parent if labels_path is not None else Path.cwd()
    for vid, info in enumerate(dataset.videos):
        if info.kind == "embedded":
            continue
        if info.kind == "images" and info.image_paths:
            absent = [p for p in info.image_paths if _resolve(p, labels_path) is None]
            if absent:
                errors.append(MissingVideoError(
                    f"Video {vid} of {labels_path or 'the labels'} is a list of {len(info.image_paths)} images, "
                    f"{len(absent)} of which are not there (first: {absent[0]}).",
                    path=absent[0],
                    hint="Move the image folder back, or relink the video to its new folder.",
                ))
            continue
        if _resolve(info.path, labels_path) is not None:
            continue
        cands = find_candidates(Path(info.path).name, near)
        where = f"{labels_path}" if labels_path is not None else "the labels"
        if cands:
            hint = "Relink the video to one of the files of the same name found nearby: " + ", ".join(
                str(c) for c in cands[:5])
        else:
            hint = "Find the video and relink it (set dataset.videos[i].path), or copy it next to " \
                   "the labels file."
        errors.append(MissingVideoError(
            f"Video {vid} referenced by {where} is not there: expected a file at {info.path}.",
            path=info.path, hint=hint, candidates=cands,
        ))
    return errors


def check_video_paths(dataset, labels_path=None, *, raise_error: bool = False) -> list[MissingVideoError]:
    """Warn (or raise the first :class:`MissingVideoError`) for videos that are not there."""
    errors = missing_videos(dataset, labels_path)
    if errors and raise_error:
        raise errors[0]
    for err in errors:
        warnings.warn(str(err), MissingVideoWarning, stacklevel=3)
    return errors
