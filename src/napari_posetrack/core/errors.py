"""Typed errors that teach.

Every error says what was expected, what was found and what to do. Catch
:class:`PoseTrackError` to handle any of them; the subclasses let callers (the CLI, the
docks) react to one kind in particular.
"""

from __future__ import annotations

__all__ = [
    "PoseTrackError",
    "VideoError",
    "SeekError",
    "FormatError",
    "SkeletonMismatchError",
    "StoreError",
    "StoreVersionError",
    "StoreLockedError",
    "MissingVideoError",
    "ConfigError",
    "TrackingError",
]


class PoseTrackError(Exception):
    """Base class of every error raised on purpose by napari-posetrack."""

    def __init__(self, message: str, *, path=None, hint: str | None = None):
        self.path = None if path is None else str(path)
        self.hint = hint
        text = message
        if hint:
            text = f"{message}\n  What to do: {hint}"
        super().__init__(text)


class VideoError(PoseTrackError):
    """A video is missing, truncated, corrupt or uses a codec we cannot decode."""


class SeekError(VideoError):
    """Seeking in a video does not land on the frame asked for."""


class FormatError(PoseTrackError):
    """A labels/predictions file could not be read or written in the format asked for."""


class SkeletonMismatchError(PoseTrackError):
    """Two skeletons (or a skeleton and some points) do not agree."""


class StoreError(PoseTrackError):
    """A project store cannot be created, read or written."""


class StoreVersionError(StoreError):
    """A project store was written by a newer schema version than this code knows."""


class StoreLockedError(StoreError):
    """A project store is read-only or locked by another writer."""


class MissingVideoError(PoseTrackError):
    """Labels reference a video file that is not where they say.

    ``candidates`` lists files with the same name found nearby, to offer a relink.
    """

    def __init__(self, message: str, *, path=None, hint=None, candidates=()):
        super().__init__(message, path=path, hint=hint)
        self.candidates = [str(c) for c in candidates]


class ConfigError(PoseTrackError):
    """A configuration value is invalid."""


class TrackingError(PoseTrackError):
    """Tracking cannot run on the input given."""
