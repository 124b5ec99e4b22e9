"""Tiny synthetic pose data with embedded frames, for tests and quick demos (no video files).

Each animal is a 3-node chain (``head`` -> ``thorax`` -> ``tail``, plus symmetric ``left``/
``right`` with ``nodes=5``) drawn as blobs of distinct brightness, so a small network learns it
in a few dozen steps.
"""

from __future__ import annotations

import numpy as np

from ..core.dataset import PoseDataset, VideoInfo
from ..core.posetable import PoseTable
from ..core.skeleton import Skeleton

__all__ = ["make_toy_dataset"]


def make_toy_dataset(n_frames: int = 16, size=(64, 64), n_animals: int = 1, channels: int = 1, seed: int = 0,
                     nodes: int = 3, length: float = 10.0, negatives: int = 0) -> PoseDataset:
    """A PoseDataset with ``n_frames`` embedded frames of ``size`` (H, W) and exact labels.

    ``negatives`` extra frames with no animal are appended and listed in ``negative_frames``.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    names = ["head", "thorax", "tail", "left", "right"][:nodes]
    edges = [("head", "thorax"), ("thorax", "tail")] + ([("thorax", "left"), ("thorax", "right")] if nodes == 5
                                                         else [])
    syms = [("left", "right")] if nodes == 5 else []
    sk = Skeleton.from_names(names, edges, syms, name="toy")
    yy, xx = np.mgrid[0:h, 0:w]
    total = n_frames + negatives
    images = np.zeros((total, h, w, channels), np.uint8)
    pts, fr = [], []
    levels = [1.0, 0.6, 0.35, 0.8, 0.8][:nodes]
    margin = length + 4
    for f in range(n_frames):
        img = np.zeros((h, w), float)
        for _ in range(n_animals):
            c = rng.uniform([margin, margin], [w - margin, h - margin])
            ang = rng.uniform(0, 2 * np.pi)
            d = np.array([np.cos(ang), np.sin(ang)])
            perp = np.array([-d[1], d[0]])
            p = [c + d * length, c, c - d * length, c + perp * length * 0.6, c - perp * length * 0.6][:nodes]
            p = np.array(p, np.float32)
            for (x, y), lv in zip(p, levels):
                img = np.maximum(img, lv * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5 ** 2)))
            pts.append(p)
            fr.append(f)
        img = img + rng.normal(0, 0.02, img.shape)
        images[f] = np.clip(img * 255, 0, 255).astype(np.uint8)[..., None]
    idx = np.arange(total)
    video = VideoInfo(path="toy-embedded", n_frames=total, height=h, width=w, channels=channels, kind="embedded",
                      embedded={"frame_idx": idx, "images": images})
    labels = PoseTable.from_arrays(np.array(pts, np.float32), frame_idx=np.array(fr))
    neg = np.stack([np.zeros(negatives, int), np.arange(n_frames, total)], 1) if negatives else None
    return PoseDataset(sk, [video], [], labels, negative_frames=neg if neg is not None else np.zeros((0, 2)))
