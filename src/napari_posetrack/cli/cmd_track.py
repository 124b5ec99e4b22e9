"""``posetrack track``: assign identities to predictions (or re-track them)."""

from __future__ import annotations

from pathlib import Path

NAME = "track"
HELP = "assign identities (track ids) to predicted poses, or re-track them"
DESCRIPTION = (
    "Track (or re-track) the instances of PRED frame by frame and write the result to OUT. "
    "PRED and OUT are labels files (.slp, ...) or project stores (*.posetrack.zarr). "
    "With --max-tracks N the animals keep N identities (tracks are reused, never multiplied)."
)


def add_arguments(parser) -> None:
    parser.add_argument("pred", help="predictions: a .slp (or other labels file) or a project store")
    parser.add_argument("--out", "-o", required=True, help="output .slp file or project store")
    from ..core.tracking import COSTS, TRACKERS  # the registries (core: no torch, no napari)

    parser.add_argument("--tracker", default="simple", choices=TRACKERS.names(),
                        help="simple: Hungarian on a window of recent frames; flow: optical-flow shift; "
                             "kalman: constant-velocity motion model (default: simple)")
    parser.add_argument("--max-tracks", type=int, default=None, help="number of animals (reuse N tracks)")
    parser.add_argument("--window", type=int, default=5, help="frames of history used as candidates (default 5)")
    parser.add_argument("--cost", default="oks", choices=COSTS.names(), help="matching cost")
    parser.add_argument("--stitch", action="store_true",
                        help="link tracklets globally into --max-tracks identities after tracking")
    parser.add_argument("--min-track-length", type=int, default=0, help="drop tracks shorter than this")
    parser.add_argument("--identity-weight", type=float, default=None, metavar="W",
                        help="with identity-model predictions: weight W (0..1) of their class probabilities against "
                             "the poses in the tracker's cost; the tracks are then named after the animals. Default "
                             "0.5 when the instances have class probabilities; 0 tracks by the poses alone")
    parser.add_argument("--instances", default="auto", choices=["auto", "predictions", "labels"],
                        help="which instances to track (auto: predictions if any, else labels)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _frame_source(dataset, pred_path: Path):
    """``video_id -> reader`` where ``reader[i]`` is a frame; uses core.video, else sleap-io."""

    def source(video_id: int):
        info = dataset.videos[video_id]
        path = Path(info.path)
        if not path.is_absolute() and not path.exists():
            path = pred_path.parent / path
        try:
            from ..core.video import open_video
        except ImportError:  # pragma: no cover - video package not installed
            import sleap_io as sio

            return sio.load_video(str(path))
        return open_video(path)

    return source


def _identity_inputs(ds, table, identity_weight, pred_path):
    """``(table, class_names, weight)`` for tracking with identity probabilities.

    The columns of ``table.identity_probs`` are the file's first tracks (the identity classes). A file
    that cannot hold them (.slp) but whose instances are named by an identity model (``track`` = the class,
    ``tracking_score`` = its probability) gets them back with an explicit ``--identity-weight``
    (:func:`~napari_posetrack.core.identity.class_probabilities`, exact for two classes). Weight 0 tracks by
    the poses alone: the probabilities are dropped, as the new tracks are no longer the classes.
    """
    import numpy as np

    from ..core.errors import TrackingError
    from ..core.identity import class_probabilities

    names = [str(t) for t in ds.track_names]
    probs = table.identity_probs
    has = probs.shape[1] >= 2 and bool(np.isfinite(probs).any())
    if not has and identity_weight is not None and identity_weight > 0:
        named = (table.track_id >= 0) & np.isfinite(table.tracking_score)
        if len(names) < 2 or not named.any():
            raise TrackingError(
                f"--identity-weight {identity_weight:g} needs identity-model class probabilities, but the instances "
                f"of {pred_path} have none, and no named tracks with scores to rebuild them from.",
                path=pred_path, hint="Track the output of `posetrack predict` with an identity model (--model "
                                     "topdown-id), or drop --identity-weight.")
        table = table.with_columns(identity_probs=class_probabilities(table.track_id, table.tracking_score,
                                                                      len(names)))
        has = True
    if not has or identity_weight == 0:
        return table.with_columns(identity_probs=np.zeros((len(table), 0), np.float32)), None, 0.0
    c = table.identity_probs.shape[1]
    return table, names[:c] + [f"class_{j}" for j in range(len(names), c)], \
        0.5 if identity_weight is None else float(identity_weight)


def iter_track_file(pred, out, *, tracker: str = "simple", max_tracks=None, window: int = 5, cost: str = "oks",
                    stitch: bool = False, min_track_length: int = 0, instances: str = "auto",
                    overwrite: bool = False, cancel=None, identity_weight=None):
    """Generator form of :func:`track` (yields ProgressEvent, returns the TrackResult)."""
    from ..core.errors import PoseTrackError, TrackingError
    from ..core.io import load_dataset, save_dataset
    from ..core.tracking import TrackerConfig, iter_track

    pred, out = Path(pred), Path(out)
    ds = load_dataset(pred, check_videos="ignore")
    which = instances
    if which == "auto":
        which = "predictions" if len(ds.predictions) else "labels"
    table = getattr(ds, which)
    if len(table) == 0:
        raise TrackingError(
            f"{pred} holds no {'instances' if instances == 'auto' else which} to track "
            f"({len(ds.labels)} labels, {len(ds.predictions)} predictions).",
            path=pred,
            hint="Run `posetrack predict` first, or pass the file that holds the predictions.",
        )
    n_vid = len(ds.videos)
    bad = table.video_id >= n_vid if n_vid else None
    if bad is not None and bad.any():
        raise TrackingError(f"Instances reference video {int(table.video_id[bad][0])} but {pred} lists {n_vid} videos.",
                            path=pred, hint="The file is inconsistent; re-export it.")
    for vid, info in enumerate(ds.videos):
        sel = table.video_id == vid
        if info.n_frames and sel.any() and table.frame_idx[sel].max() >= info.n_frames:
            frames = sorted(set(table.frame_idx[sel & (table.frame_idx >= info.n_frames)].tolist()))
            raise TrackingError(
                f"Instances reference frames {frames[:10]}{' ...' if len(frames) > 10 else ''} of video {vid} "
                f"({info.path}), which has only {info.n_frames} frames.",
                path=pred, hint="The predictions do not belong to this video: relink the right video or re-run "
                "inference.")
    table, class_names, weight = _identity_inputs(ds, table, identity_weight, pred)
    cfg = TrackerConfig(tracker=tracker, cost=cost, window=window, max_tracks=max_tracks, stitch=stitch,
                        min_track_length=min_track_length, identity_weight=weight)
    source = _frame_source(ds, pred) if tracker == "flow" else None
    result = yield from iter_track(table, cfg, frame_source=source, cancel=cancel, class_names=class_names)
    setattr(ds, which, result.table)
    ds.track_names = result.track_names
    # keep the other table's ids pointing at valid names
    other = "labels" if which == "predictions" else "predictions"
    ot = getattr(ds, other)
    if len(ot) and (ot.track_id >= len(ds.track_names)).any():
        import numpy as np

        setattr(ds, other, ot.with_columns(track_id=np.where(ot.track_id < len(ds.track_names), ot.track_id, -1)))
    if out.suffix == ".zarr" or out.name.endswith(".posetrack.zarr") or (out.is_dir() and out.exists()):
        from ..core.store import ProjectStore

        if out.exists() and not overwrite and out.resolve() != pred.resolve():
            raise PoseTrackError(f"{out} already exists.", path=out, hint="Pass --overwrite to replace its tracks.")
        if out.exists():
            store = ProjectStore.open(out, mode="r+")
            try:
                store.save(**{which: result.table, "track_names": result.track_names})
            finally:
                store.close()
        else:
            store = ProjectStore.create(out, ds.skeleton, ds.videos, track_names=result.track_names)
            try:
                store.save(ds)
            finally:
                store.close()
    else:
        save_dataset(ds, out, overwrite=overwrite)
    return result


def track(pred, out, *, tracker: str = "simple", max_tracks=None, window: int = 5, cost: str = "oks",
          stitch: bool = False, min_track_length: int = 0, instances: str = "auto", overwrite: bool = False,
          progress: bool = False, identity_weight=None):
    """Track the instances of ``pred`` and write them with identities to ``out``.

    Returns the :class:`~napari_posetrack.core.tracking.TrackResult`.
    """
    from ..core.progress import drain

    gen = iter_track_file(pred, out, tracker=tracker, max_tracks=max_tracks, window=window, cost=cost,
                          stitch=stitch, min_track_length=min_track_length, instances=instances,
                          overwrite=overwrite, identity_weight=identity_weight)
    return drain(gen, desc="posetrack", show=progress)


def run(args) -> int:
    import sys

    result = track(args.pred, args.out, tracker=args.tracker, max_tracks=args.max_tracks, window=args.window,
                   cost=args.cost, stitch=args.stitch, min_track_length=args.min_track_length,
                   instances=args.instances, overwrite=args.overwrite, progress=not args.quiet,
                   identity_weight=args.identity_weight)
    for w in result.warnings:
        print(f"posetrack track: warning: {w}", file=sys.stderr)
    print(f"{result.n_tracks} tracks over {len(result.table)} instances -> {args.out}")
    return 0
