"""napari notifications shared by the docks."""

from __future__ import annotations

__all__ = ["notify"]


def notify(message: str, level: str = "info") -> None:
    """Show ``message`` as a napari notification of ``level`` (info, warning or error)."""
    from napari.utils.notifications import show_error, show_info, show_warning

    {"error": show_error, "warning": show_warning}.get(level, show_info)(message)
