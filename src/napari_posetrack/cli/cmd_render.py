"""``posetrack render``: a labeled video (skeletons, keypoints, trails) as H.264 MP4."""

from __future__ import annotations


from ..workflows.render import render

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
