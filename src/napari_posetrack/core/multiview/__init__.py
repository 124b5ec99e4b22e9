"""Multi-camera 3D: calibrate a camera rig from board images, triangulate 2D poses into 3D.

Geometry (projection, distortion, triangulation) is numpy/scipy; board detection and the
initial per-camera calibration use OpenCV, imported inside the functions that need it
(``pip install 'napari-posetrack[multiview]'``). See docs/multiview.md.
"""

from .board import BoardSpec, Detection, detect_image, detect_images, detect_video, load_board
from .calibrate import CalibrationConfig, CalibrationReport, bundle_adjust, calibrate_detections
from .camera import Camera, CameraGroup, load_calibration, save_calibration
from .consistency import (EpipolarCurve, ViewPredictions, constrain_bones, epipolar_curve, predict_in_views,
                          predict_views, reproject, smooth_poses)
from .errors import CalibrationError, MultiviewError, SessionError, TriangulationError
from .pipeline import (calibrate_session, detect_session, estimate_offsets, load_from_store, save_to_store,
                       triangulate_session, triangulate_views)
from .poses3d import Poses3D, bone_lengths, load_netcdf3d
from .session import CameraView, MultiviewSession, Views2D, load_session
from .suspects import reprojection_outlier_frames, reprojection_suspects, suspect_queues
from .triangulate import TriangulationConfig, triangulate_points

__all__ = [
    "BoardSpec", "Detection", "detect_image", "detect_images", "detect_video", "load_board",
    "CalibrationConfig", "CalibrationReport", "bundle_adjust", "calibrate_detections",
    "Camera", "CameraGroup", "load_calibration", "save_calibration",
    "constrain_bones", "epipolar_curve", "predict_in_views", "smooth_poses", "predict_views", "ViewPredictions",
    "EpipolarCurve", "reproject", "reprojection_suspects", "reprojection_outlier_frames", "suspect_queues",
    "CalibrationError", "MultiviewError", "SessionError", "TriangulationError",
    "calibrate_session", "detect_session", "estimate_offsets", "load_from_store", "save_to_store",
    "triangulate_session", "triangulate_views",
    "Poses3D", "bone_lengths", "load_netcdf3d",
    "CameraView", "MultiviewSession", "Views2D", "load_session",
    "TriangulationConfig", "triangulate_points",
]
