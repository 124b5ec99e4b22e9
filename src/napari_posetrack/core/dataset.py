"""In-memory pose dataset: skeleton + videos + tracks + labels + predictions.

This is what importers return, exporters take and the project store saves. Pose tables
refer to videos by position in :attr:`PoseDataset.videos` and to tracks by position in
:attr:`PoseDataset.track_names`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .posetable import PoseTable
from .skeleton import Skeleton

__all__ = ["VideoInfo", "PoseDataset"]


@dataclass
class VideoInfo:
    """What we know about one video.

    Parameters
    ----------
    path : str
        File or image-folder path. In a store it is saved relative to the project.
    n_frames, height, width, channels : int
        Shape of the video (``channels`` is 1 for grey, 3 for colour). 0 when unknown.
    fps : float
        Frames per second (0.0 when unknown).
    kind : str
        ``"video"`` (a media file), ``"images"`` (a folder or list of images) or
        ``"embedded"`` (frames stored inside a labels file or the store itself).
    image_paths : list of str
        For ``kind == "images"`` from a list (DeepLabCut labeled-data), the frame files in order.
    embedded : dict
        For ``kind == "embedded"``: ``{"frame_idx": (M,) int, "images": (M, H, W, C) uint8}``.
    """

    path: str
    n_frames: int = 0
    height: int = 0
    width: int = 0
    channels: int = 0
    fps: float = 0.0
    kind: str = "video"
    image_paths: list[str] = field(default_factory=list)
    embedded: dict | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.n_frames, self.height, self.width, self.channels)

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "n_frames": int(self.n_frames),
            "height": int(self.height),
            "width": int(self.width),
            "channels": int(self.channels),
            "fps": float(self.fps),
            "kind": self.kind,
            "image_paths": [str(p) for p in self.image_paths],
        }

    @classmethod
    def from_dict(cls, d: dict) -> VideoInfo:
        return cls(
            path=d["path"],
            n_frames=int(d.get("n_frames", 0)),
            height=int(d.get("height", 0)),
            width=int(d.get("width", 0)),
            channels=int(d.get("channels", 0)),
            fps=float(d.get("fps", 0.0)),
            kind=d.get("kind", "video"),
            image_paths=list(d.get("image_paths", [])),
        )


def _empty_pairs() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


@dataclass
class PoseDataset:
    """Everything a project knows, in memory.

    Attributes
    ----------
    skeleton : Skeleton
    videos : list of VideoInfo
    track_names : list of str
        ``track_id`` ``i`` in the tables is ``track_names[i]``.
    labels : PoseTable
        User labels (``source == 0``).
    predictions : PoseTable
        Model predictions (``source == 1``).
    suggestions : ndarray (M, 2) int64
        ``(video_id, frame_idx)`` of frames suggested for labeling.
    negative_frames : ndarray (M, 2) int64
        ``(video_id, frame_idx)`` of frames marked as containing no animal.
    """

    skeleton: Skeleton
    videos: list[VideoInfo] = field(default_factory=list)
    track_names: list[str] = field(default_factory=list)
    labels: PoseTable | None = None
    predictions: PoseTable | None = None
    suggestions: np.ndarray = field(default_factory=_empty_pairs)
    negative_frames: np.ndarray = field(default_factory=_empty_pairs)

    def __post_init__(self):
        k = self.skeleton.n_nodes
        if self.labels is None:
            self.labels = PoseTable.empty(k)
        if self.predictions is None:
            self.predictions = PoseTable.empty(k)
        self.suggestions = np.asarray(self.suggestions, np.int64).reshape(-1, 2)
        self.negative_frames = np.asarray(self.negative_frames, np.int64).reshape(-1, 2)

    @property
    def instances(self) -> PoseTable:
        """Labels and predictions together (labels first)."""
        return PoseTable.concat([self.labels, self.predictions])

    def __repr__(self) -> str:
        return (
            f"PoseDataset(skeleton={self.skeleton.name!r} ({self.skeleton.n_nodes} nodes), "
            f"videos={len(self.videos)}, tracks={len(self.track_names)}, labels={len(self.labels)}, "
            f"predictions={len(self.predictions)}, suggestions={len(self.suggestions)})"
        )
