"""``posetrack track``: assign identities to predictions (or re-track them).

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_track`).
"""

from __future__ import annotations

from pathlib import Path


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
    from ..core.tracking import TRACKERS, TrackerConfig, iter_track

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
    # trackers that need the frames (flow) say so in the registry
    source = _frame_source(ds, pred) if getattr(TRACKERS.get(tracker), "needs_images", False) else None
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

