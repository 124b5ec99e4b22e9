"""``posetrack render``: a labeled video (skeletons, keypoints, trails) as H.264 MP4.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_render`).
"""

from __future__ import annotations

from pathlib import Path


def _pick_video(ds, video: Path, video_index):
    from ..core.errors import ConfigError

    if video_index is not None:
        if not 0 <= video_index < max(len(ds.videos), 1):
            raise ConfigError(f"--video-index {video_index} is out of range: the file lists {len(ds.videos)} video(s).",
                              hint=f"Use 0..{len(ds.videos) - 1}.")
        return video_index
    if len(ds.videos) <= 1:
        return 0
    same = [i for i, v in enumerate(ds.videos) if Path(v.path).name == video.name]
    if len(same) == 1:
        return same[0]
    names = ", ".join(f"{i}: {Path(v.path).name}" for i, v in enumerate(ds.videos))
    raise ConfigError(f"The poses file lists {len(ds.videos)} videos and none (or several) is named {video.name}.",
                      hint=f"Pass --video-index (videos: {names}).")


def iter_render_file(video, pred, out, *, frames=None, trail: int = 0, color_by: str = "track",
                     keypoints_only: bool = False, low_score: float | None = 0.3, instances: str = "auto",
                     video_index=None, radius=None, line_width=None, fps=None, crf: int = 20,
                     overwrite: bool = False, cancel=None):
    """Generator form of :func:`render` (yields ProgressEvent, returns the output path)."""
    from ..core.errors import FormatError
    from ..core.io import load_dataset
    from ..core.render import iter_render

    video, pred, out = Path(video), Path(pred), Path(out)
    if out.exists() and not overwrite:
        raise FormatError(f"{out} already exists.", path=out, hint="Pass --overwrite to replace it.")
    ds = load_dataset(pred, check_videos="ignore")
    vid = _pick_video(ds, video, video_index)
    if instances == "auto":
        instances = "predictions" if len(ds.predictions) else "labels"
    table = ds.instances if instances == "all" else getattr(ds, instances)
    info = ds.videos[vid] if vid < len(ds.videos) else None
    result = yield from iter_render(video, table, ds.skeleton, out, video_id=vid, video_info=info, frames=frames,
                                    trail=trail, color_by=color_by, keypoints_only=keypoints_only,
                                    low_score=low_score, radius=radius, line_width=line_width, fps=fps, crf=crf,
                                    overwrite=overwrite, cancel=cancel)
    return result


def render(video, pred, out, *, quiet: bool = True, **options):
    """Write a labeled video of ``pred`` drawn on ``video`` to ``out``; returns the output path.

    Options are those of :func:`iter_render_file` (``frames="A:B"``, ``trail``, ``color_by``, ...).
    """
    from ..core.progress import drain

    return drain(iter_render_file(video, pred, out, **options), desc="render", show=not quiet)

