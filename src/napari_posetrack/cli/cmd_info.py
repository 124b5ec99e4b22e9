"""``posetrack info PATH``: summarise a video, a labels file or a project store.

Python: ``info(path) -> dict`` (the same numbers, ready for ``json.dumps``).
"""

from __future__ import annotations

import json

from . import readable_formats
from ..workflows.info import info

NAME = "info"
HELP = "summarise a video, labels file or project store"
DESCRIPTION = (
    "Print a summary of PATH: for a video (file or image folder) its frames, size, fps, codec and a "
    "seek self-test; for a labels file (.slp, .pkg.slp, DeepLabCut, NWB, analysis .h5, COCO, CSV, "
    "netCDF) or a project store its skeleton, videos, labeled frames, instances, tracks, predictions "
    "and suggestions, and any video that is not where the file says."
)

__all__ = ["info", "NAME", "HELP", "add_arguments", "run"]


def add_arguments(parser) -> None:
    parser.add_argument("path", help="a video, image folder, labels file or project store")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--format", default=None,
                        help="labels format, when it cannot be guessed: " + ", ".join(readable_formats()))


def _print_text(d: dict) -> None:
    if d["type"] == "video":
        print(f"video       {d['path']} ({d.get('kind', '')})")
        print(f"frames      {d['n_frames']}   size {d['width']}x{d['height']}x{d['channels']}   fps {d['fps']:.3f}")
        if d.get("codec"):
            print(f"codec       {d['codec']} {d.get('pix_fmt', '')}   keyframes {d.get('n_keyframes')}"
                  f"   max GOP {d.get('max_gop')}")
        print(f"seek check  {'ok' if d.get('seek_ok') else 'FAILED'}  {d.get('seek_message', '')}")
        return
    sk = d["skeleton"]
    print(f"{d['type']:<11} {d['path']} ({d['format']})")
    print(f"skeleton    {sk['name']!r}: {sk['n_nodes']} nodes {sk['nodes']}, {len(sk['edges'])} edges, "
          f"{len(sk['symmetries'])} symmetries")
    print(f"videos      {len(d['videos'])}")
    for v in d["videos"]:
        print(f"  [{v['id']}] {v['path']} ({v['kind']}, {v['n_frames']} frames, {v['width']}x{v['height']}, "
              f"{v['fps']:g} fps): {v['labeled_frames']} labeled, {v['predicted_frames']} predicted frames")
    lab, pred = d["labels"], d["predictions"]
    print(f"labels      {lab['instances']} instances on {lab['frames']} frames ({lab['tracked_instances']} tracked)")
    print(f"predictions {pred['instances']} instances on {pred['frames']} frames "
          f"({pred['tracked_instances']} tracked)")
    tracks = d["tracks"]
    shown = ", ".join(tracks[:10]) + (" ..." if len(tracks) > 10 else "")
    print(f"tracks      {len(tracks)}{': ' + shown if tracks else ''}")
    print(f"suggestions {d['suggestions']}   negative frames {d['negative_frames']}")
    for m in d.get("missing_videos", []):
        cands = ", ".join(m["candidates"][:3]) or "none found nearby"
        print(f"MISSING     {m['path']} (candidates: {cands})")


def run(args) -> int:
    d = info(args.path, format=args.format)
    if args.json:
        print(json.dumps(d, indent=2, default=str))
    else:
        _print_text(d)
    return 0

