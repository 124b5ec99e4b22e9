"""``posetrack info PATH``: summarise a video, a labels file or a project store.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_info`).

Python: ``info(path) -> dict`` (the same numbers, ready for ``json.dumps``).
"""

from __future__ import annotations

from pathlib import Path


def _is_video(path: Path) -> bool:
    from ..core.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    if path.is_file():
        return path.suffix.lower() in VIDEO_SUFFIXES
    if path.is_dir():
        return any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
    return False


def _video_summary(path: Path) -> dict:
    from ..core.video import probe_video

    p = probe_video(path)
    keys = ["path", "kind", "n_frames", "height", "width", "channels", "fps", "codec", "pix_fmt", "n_keyframes",
            "max_gop", "vfr", "truncated", "seek_ok", "seek_message"]
    out = {"type": "video"}
    out.update({k: p[k] for k in keys if k in p})
    return out


def _table_summary(t) -> dict:
    import numpy as np

    n_frames = len(np.unique(np.stack([t.video_id, t.frame_idx]), axis=1).T) if len(t) else 0
    return {"frames": int(n_frames), "instances": int(len(t)), "tracked_instances": int((t.track_id >= 0).sum())}


def _dataset_summary(ds, *, kind: str, path: Path, fmt: str, missing=()) -> dict:
    videos = []
    for i, v in enumerate(ds.videos):
        videos.append({
            "id": i, "path": str(v.path), "kind": v.kind, "n_frames": int(v.n_frames), "height": int(v.height),
            "width": int(v.width), "channels": int(v.channels), "fps": float(v.fps),
            "labeled_frames": int(len(ds.labels.frames(i))), "predicted_frames": int(len(ds.predictions.frames(i))),
        })
    sk = ds.skeleton
    return {
        "type": kind, "path": str(path), "format": fmt,
        "skeleton": {"name": sk.name, "n_nodes": sk.n_nodes, "nodes": list(sk.node_names),
                     "edges": [list(e) for e in sk.edge_names], "symmetries": [list(s) for s in sk.symmetry_names]},
        "videos": videos,
        "labels": _table_summary(ds.labels),
        "predictions": _table_summary(ds.predictions),
        "tracks": list(ds.track_names),
        "suggestions": int(len(ds.suggestions)),
        "negative_frames": int(len(ds.negative_frames)),
        "missing_videos": [{"path": e.path, "candidates": e.candidates} for e in missing],
    }


def info(path, format: str | None = None) -> dict:
    """Summary of ``path`` as a plain dict (see the module docstring)."""
    from ..core.errors import FormatError
    from ..core.io import detect_format, get_format, load_dataset
    from ..core.io.store_format import is_store
    from ..core.io.videos import missing_videos

    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path} does not exist.", path=path, hint="Check the path.")
    if format is None and is_store(path):
        from ..core.store import ProjectStore

        with ProjectStore.open(path, mode="r") as store:
            ds = store.load()
            out = _dataset_summary(ds, kind="store", path=store.path, fmt="store")
            missing = store.missing_videos() if hasattr(store, "missing_videos") else {}
            out["missing_videos"] = [{"path": str(ds.videos[i].path), "candidates": list(c)}
                                     for i, c in missing.items()]
            return out
    if format is None and _is_video(path) and not (path.is_dir() and (path / "config.yaml").exists()):
        return _video_summary(path)
    spec = get_format(format, kind="read") if format else detect_format(path)
    ds = load_dataset(path, format=spec.name, check_videos="ignore")
    return _dataset_summary(ds, kind="labels", path=path, fmt=spec.name, missing=missing_videos(ds, path))

