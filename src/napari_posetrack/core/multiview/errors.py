"""Errors of the multi-camera code (all are :class:`~napari_posetrack.core.errors.PoseTrackError`)."""

from __future__ import annotations

from ..errors import PoseTrackError

__all__ = ["MultiviewError", "CalibrationError", "TriangulationError", "SessionError", "require_cv2"]


class MultiviewError(PoseTrackError):
    """Base class of the multi-camera errors."""


class CalibrationError(MultiviewError):
    """Cameras cannot be calibrated, or a calibration file cannot be read."""


class TriangulationError(MultiviewError):
    """Points cannot be triangulated from the views given."""


class SessionError(MultiviewError):
    """A multi-camera session description is incomplete or inconsistent."""


def require_cv2():
    """Import OpenCV (with its ArUco module) or raise an error that says how to install it."""
    try:
        import cv2
    except ImportError as exc:
        raise CalibrationError(
            "Board detection and camera calibration need OpenCV, which is not installed.",
            hint="pip install 'napari-posetrack[multiview]' (or pip install opencv-python-headless).",
        ) from exc
    if not hasattr(cv2, "aruco"):
        raise CalibrationError(
            f"This OpenCV ({cv2.__version__}) has no ArUco module, which ChArUco boards need.",
            hint="pip install 'napari-posetrack[multiview]' (opencv-python-headless >= 4.8 ships ArUco).",
        )
    return cv2
