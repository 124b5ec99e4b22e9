"""napari sample data: a synthetic clip of two moving animals with their ground-truth poses.

The clip is rendered once by :func:`napari_posetrack.core.synthetic.make_synthetic_clip`
into a cache folder (``$POSETRACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/napari-posetrack`` or
``~/.cache/napari-posetrack``, else the temp folder) and reused afterwards; it is rendered
again if missing or damaged. Nothing is downloaded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


__all__ = ["make_sample_data", "sample_cache_dir", "SAMPLE_PARAMS"]

#: parameters of the sample clip (part of the cache folder name, so a change re-renders)
SAMPLE_PARAMS = {"n_frames": 200, "n_animals": 2, "size": (256, 256), "seed": 0, "gop": 30}
_VERSION = 1

def sample_cache_dir() -> Path:
    """Writable folder that holds the rendered sample clip."""
    base = os.environ.get("POSETRACK_CACHE_DIR")
    if base:
        candidates = [Path(base)]
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        candidates = [Path(xdg) / "napari-posetrack"] if xdg else []
        candidates.append(Path.home() / ".cache" / "napari-posetrack")
    candidates.append(Path(tempfile.gettempdir()) / "napari-posetrack")
    p = SAMPLE_PARAMS
    name = f"sample-v{_VERSION}-{p['n_animals']}animals-{p['n_frames']}f-{p['size'][0]}x{p['size'][1]}-s{p['seed']}"
    for folder in candidates:
        try:
            target = folder / name
            target.mkdir(parents=True, exist_ok=True)
            probe = target / ".write_test"
            probe.write_bytes(b"")
            probe.unlink()
            return target
        except OSError:
            continue
    raise OSError(f"No writable cache folder among {[str(c) for c in candidates]}; set POSETRACK_CACHE_DIR.")


def make_sample_data():
    """LayerDataTuples: the video (lazy), ground-truth keypoints, skeleton edges and tracks.

    Returns
    -------
    list of (data, kwargs, layer_type)
        - ``image``: ``(n_frames, height, width)`` lazy dask array (decoded on demand);
        - ``points``: ``(M, 3)`` (frame, y, x) keypoints, features from
          :func:`~napari_posetrack._napari.convert.table_to_points`, coloured by node;
        - ``shapes``: one line per skeleton edge per instance and frame, coloured by track;
        - ``tracks``: ``(T, 4)`` (track, frame, y, x) instance centroids.
    """
    from ..core.synthetic import make_synthetic_clip
    from ..core.video import as_dask
    from .convert import table_to_edges, table_to_points, table_to_tracks
    from .styles import static_points_kwargs, track_rgba

    clip = make_synthetic_clip(sample_cache_dir(), name="two_animals", reuse=True, **SAMPLE_PARAMS)
    ds = clip["dataset"]
    video = str(clip["video"])
    skel = ds.skeleton
    labels = ds.labels
    base = {"posetrack_video": video, "video_id": 0, "skeleton": skel.to_dict(), "node_names": skel.node_names,
            "track_names": list(ds.track_names), "posetrack_sample": "two_animals"}

    stack = as_dask(video, on_error="blank")
    image = (stack[..., 0] if stack.shape[-1] == 1 else stack, {
        "name": "two_animals",
        "contrast_limits": (0, 255),
        "rgb": stack.shape[-1] == 3,
        "metadata": {**base, "posetrack_kind": "video"},
    }, "image")

    data, features = table_to_points(labels)
    points = (data, {
        "name": "ground truth",
        "ndim": 3,
        "features": features,
        **static_points_kwargs(features, skel.n_nodes, size=6),  # the keypoints layer's look
        "metadata": {**base, "posetrack_kind": "labels"},
    }, "points")

    lines, inst = table_to_edges(labels, skel.edges)
    track = labels.track_id[inst]
    edge_rgba = track_rgba(track)
    edge_rgba[:, 3] = 0.9
    edges = (list(lines), {
        "name": "skeleton",
        "ndim": 3,
        "shape_type": "line",
        "edge_color": edge_rgba,
        "edge_width": 1.5,
        "face_color": "transparent",
        "features": {"instance": inst, "track": track},
        "metadata": {**base, "posetrack_kind": "edges"},
    }, "shapes")

    tracks = (table_to_tracks(labels), {
        "name": "tracks",
        "tail_length": 30,
        "tail_width": 2,
        "metadata": {**base, "posetrack_kind": "tracks"},
    }, "tracks")
    return [image, points, edges, tracks]
