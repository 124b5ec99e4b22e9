"""``posetrack render``: a labeled video (skeletons, keypoints, trails) as H.264 MP4."""

from __future__ import annotations

from pathlib import Path

NAME = "render"
HELP = "draw predictions (or labels) on a video and write a labeled MP4"
DESCRIPTION = (
    "Draw the poses of PRED on the frames of VIDEO and write exactly the frames asked for "
    "(--frames START:STOP, default all) to OUT with H.264. Points scored below --low-score and "
    "occluded points are drawn as hollow rings; --trail N draws each tracked node's last N "
    "positions. Refuses predictions that do not fit VIDEO (frame count or size)."
)


def add_arguments(parser) -> None:
    parser.add_argument("video", metavar="VIDEO", help="the video the poses belong to")
    parser.add_argument("pred", metavar="PRED", help="predictions or labels file (.slp, .h5, .nc, store, ...)")
    parser.add_argument("--out", "-o", required=True, help="output video (.mp4, .mkv, .mov, .avi)")
    parser.add_argument("--frames", default=None, help="START:STOP (STOP excluded), e.g. 100:200 (default: all)")
    parser.add_argument("--trail", type=int, default=0, help="trail length in frames (default 0: none)")
    parser.add_argument("--color-by", default="track", choices=["track", "node"], help="colour scheme")
    parser.add_argument("--keypoints-only", action="store_true", help="draw keypoints without bones")
    parser.add_argument("--low-score", type=float, default=0.3,
                        help="draw points scored below this as hollow rings (default 0.3)")
    parser.add_argument("--instances", default="auto", choices=["auto", "predictions", "labels", "all"],
                        help="which instances to draw (auto: predictions if any, else labels)")
    parser.add_argument("--video-index", type=int, default=None,
                        help="which video of PRED (default: the one named like VIDEO, or the only one)")
    parser.add_argument("--radius", type=float, default=None, help="keypoint radius in px (default: by frame size)")
    parser.add_argument("--line-width", type=float, default=None, help="bone width in px (default: by frame size)")
    parser.add_argument("--fps", type=float, default=None, help="output frame rate (default: the video's)")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality, lower is better (default 20)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


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


def run(args) -> int:
    path = render(args.video, args.pred, args.out, quiet=args.quiet, frames=args.frames, trail=args.trail,
                  color_by=args.color_by, keypoints_only=args.keypoints_only, low_score=args.low_score,
                  instances=args.instances, video_index=args.video_index, radius=args.radius,
                  line_width=args.line_width, fps=args.fps, crf=args.crf, overwrite=args.overwrite)
    if path is None:
        print("posetrack render: cancelled; nothing written")
        return 1
    print(f"posetrack render: wrote {path}")
    return 0
