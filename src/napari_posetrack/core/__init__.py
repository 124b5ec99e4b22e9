"""Headless core of napari-posetrack: numpy/dask/zarr/av/scipy only.

Nothing in this package may import torch, Qt or napari (a test enforces it).
"""

from .dataset import PoseDataset, VideoInfo
from .errors import PoseTrackError
from .posetable import OCCLUDED, PREDICTED, UNLABELED, USER, VISIBLE, PoseTable
from .skeleton import Skeleton

__all__ = [
    "PoseDataset",
    "PoseTable",
    "PoseTrackError",
    "Skeleton",
    "VideoInfo",
    "UNLABELED",
    "VISIBLE",
    "OCCLUDED",
    "USER",
    "PREDICTED",
]
