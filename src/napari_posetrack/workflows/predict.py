"""``posetrack predict``: run a trained model on videos, labeled frames or a whole project.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_predict`).
"""

from __future__ import annotations

from pathlib import Path


def parse_frames(text):
    """``"A:B"`` -> ``(A, B)`` (either may be None); None -> None."""
    from ..core.errors import ConfigError

    if text in (None, ""):
        return None
    try:
        a, b = str(text).split(":")
        return (int(a) if a.strip() else 0, int(b) if b.strip() else None)
    except ValueError:
        raise ConfigError(f"--frames expects A:B (for example 0:1000), got {text!r}.",
                          hint="Give a start and an end frame separated by ':'; B is excluded.") from None


def _is_store(path: Path) -> bool:
    from ..core.store import is_store_dir

    return path.suffix == ".zarr" or (path.is_dir() and is_store_dir(path))


def _video_info(path: Path):
    from ..core.video import open_video

    with open_video(path) as r:
        return r.info()


def _collect(inputs, frames, predictor):
    """(videos: list[VideoInfo], jobs: list[(index into videos, frames spec)])."""
    from ..core.errors import PoseTrackError
    from ..core.io import load_dataset
    from ..core.store import ProjectStore
    from ..core.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    import numpy as np

    videos, jobs, seen = [], [], {}

    def add(info, spec):
        key = str(Path(info.path).resolve()) if info.path else f"#{len(videos)}"
        if info.kind == "embedded":
            raise PoseTrackError(f"{info.path} has its frames embedded in the labels file; predicting on embedded "
                                 "frames is not supported.", hint="Point the labels at the original video files.")
        if key not in seen:
            seen[key] = len(videos)
            videos.append(info)
        jobs.append((seen[key], spec))

    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise PoseTrackError(f"Input {p} does not exist.", path=p, hint="Check the path.")
        if _is_store(p):
            st = ProjectStore.open(p, mode="r")
            predictor.check_skeleton(st.skeleton, source=f"the project {p}")
            for info in st.videos:
                add(info, frames)
        elif p.suffix.lower() in VIDEO_SUFFIXES or p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES:
            add(_video_info(p), frames)
        else:
            ds = load_dataset(p, check_videos="warn")
            predictor.check_skeleton(ds.skeleton, source=f"the labels in {p}")
            for vid, info in enumerate(ds.videos):
                f = ds.labels.frames(vid)
                if frames is not None:
                    a, b = frames
                    f = f[(f >= (a or 0)) & (f < (b if b is not None else np.iinfo(np.int64).max))]
                if len(f):
                    vp = Path(info.path)
                    if not vp.is_absolute() and not vp.exists() and (p.parent / vp).exists():
                        info.path = str(p.parent / vp)
                    add(info, f)
    return videos, jobs


def iter_predict_files(model_dir, inputs, out, *, frames=None, batch_size: int = 8, device: str = "auto",
                       max_instances=None, peak_threshold: float = 0.2, tracker=None, max_tracks=None,
                       scheduler=None, workers: int = 2, chunk_frames: int = 2000, resume: bool = True,
                       overwrite: bool = False, scheduler_timeout: float = 10.0, flush_every: int = 256,
                       compile: bool = False, cpu_bf16: bool = False, backend: str = "torch", cancel=None,
                       identity_weight=None, flip_test: bool = False):
    """Generator form of :func:`predict` (yields ProgressEvent, returns a PredictResult)."""
    from ..core.dataset import PoseDataset
    from ..core.errors import PoseTrackError

    out = Path(out)
    frames = parse_frames(frames) if isinstance(frames, str) else frames
    if max_instances is None and tracker and max_tracks:
        # the user said how many animals there are: keep the best that many per frame for the tracker
        max_instances = int(max_tracks)
    store_out = _is_store(out)
    if not store_out and out.exists() and not overwrite:
        raise PoseTrackError(f"The output {out} exists.", path=out, hint="Pass --overwrite, or pick another --out.")
    if not store_out:  # a name no format fits must fail now, not after hours of prediction
        from ..core.io import writer_for

        try:
            writer_for(out)
        except PoseTrackError as exc:
            raise PoseTrackError(f"{str(exc).splitlines()[0]} Nothing was predicted.", path=out,
                                 hint="Name --out as a project store (a folder ending in .zarr) or as a file whose "
                                      "extension names one format: .slp, .pkg.slp, .nwb, .nc (movement) or .json "
                                      "(COCO); write a .zarr store and `posetrack export` it to the others.") from None
    if tracker:
        try:
            from ..core import tracking  # noqa: F401
        except ImportError as exc:
            raise PoseTrackError(f"--tracker {tracker} needs napari_posetrack.core.tracking, which cannot be "
                                 f"imported ({exc}).", hint="Run without --tracker, then `posetrack track`.") from None
    pred = _load_model(model_dir, backend=backend, device=device, scheduler=scheduler, peak_threshold=peak_threshold,
                       max_instances=max_instances, compile=compile, cpu_bf16=cpu_bf16, flip_test=flip_test)
    videos, jobs = _collect(inputs, frames, pred)
    if not jobs:
        raise PoseTrackError("Nothing to predict: the inputs have no frames (labels files with no labeled frame?).",
                             hint="Pass video files or a project store, or check --frames.")
    client = None
    if scheduler:  # connect before anything is written: an unreachable scheduler leaves no output
        from ..nn.inference.distributed import connect

        client = connect(scheduler, workers=workers, timeout=scheduler_timeout)
    try:
        res, store = yield from _run(pred, model_dir, videos, jobs, out, store_out, client=client, frames=frames,
                                     batch_size=batch_size, device=device, resume=resume, cancel=cancel,
                                     flush_every=flush_every, chunk_frames=chunk_frames,
                                     settings={"peak_threshold": peak_threshold, "compile": bool(compile),
                                               "cpu_bf16": bool(cpu_bf16), "flip_test": bool(flip_test),
                                               "filters": {"max_instances": max_instances}})
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    if res.cancelled:
        return res
    table = store.predictions if store is not None else res.table
    table, track_names = yield from _name_tracks(table, pred, store, videos, res, tracker=tracker,
                                                 max_tracks=max_tracks, identity_weight=identity_weight)
    if store is not None:
        if tracker or track_names:
            store.save(predictions=table, track_names=track_names)
    else:
        from ..core.io import save_dataset

        ds = PoseDataset(pred.skeleton, videos=videos, track_names=track_names, predictions=table)
        save_dataset(ds, out, overwrite=overwrite)
    return res


def _load_model(model_dir, *, backend, device, scheduler, peak_threshold, max_instances, compile, cpu_bf16,
                flip_test=False):
    """The predictor: torch from a training folder, or an exported model on its runtime backend."""
    from ..core.errors import PoseTrackError
    from ..nn.export.exporter import is_export_dir
    from ..nn.inference.predictors import load_predictor

    if backend != "torch" or is_export_dir(model_dir):  # torch on an ONNX export: refused with a hint
        if scheduler and backend != "torch":
            raise PoseTrackError(f"--backend {backend} runs in this process only; it cannot be combined with "
                                 "--scheduler.", hint="Drop --scheduler, or use --backend torch.")
        from ..nn.export.runtime import load_backend_predictor

        return load_backend_predictor(model_dir, device, backend=backend, peak_threshold=peak_threshold,
                                      max_instances=max_instances, flip_test=bool(flip_test))
    return load_predictor(model_dir, "cpu" if scheduler else device, peak_threshold=peak_threshold,
                          max_instances=max_instances, compile=bool(compile) and not scheduler,
                          cpu_bf16=bool(cpu_bf16), flip_test=bool(flip_test))


def _name_tracks(table, pred, store, videos, res, *, tracker, max_tracks, identity_weight):
    """Generator: the predictions with track ids and names (identity classes and/or the tracker).

    Returns ``(table, track_names)``; the tracker's warnings go into ``res.warnings``.
    """
    import numpy as np

    track_names = []
    named = getattr(pred, "class_names", None)
    if named:  # identity model: the columns of identity_probs are its classes
        from ..core.identity import class_probabilities

        if table.identity_probs.shape[1] != len(named) or not np.isfinite(table.identity_probs).any():
            # a backend that gives only the chosen class and its probability (exact for two classes)
            table = table.with_columns(identity_probs=class_probabilities(table.track_id, table.tracking_score,
                                                                          len(named)))
    if tracker and len(table):
        from ..core.tracking import iter_track

        def frame_source(video_id):
            from ..core.video import open_video

            return store.open_video(video_id) if store is not None else open_video(videos[video_id].path)

        # identity model: the probabilities are a cost term of the tracker, then the tracklets are named after
        # the classes (the tracks are the classes)
        weight = (0.5 if identity_weight is None else float(identity_weight)) if named else 0.0
        tr = yield from iter_track(table, tracker=tracker, max_tracks=max_tracks, frame_source=frame_source,
                                   identity_weight=weight, class_names=named or None)
        table, track_names = tr.table, tr.track_names
        res.warnings += tr.warnings
    if named:  # tracks named after the classes, in the project's track order if it has them
        from ..core.identity import align_class_probs, align_classes

        ids, track_names = align_classes(table.track_id, named, store.track_names if store is not None else ())
        table = table.with_columns(track_id=ids, identity_probs=align_class_probs(table.identity_probs, named,
                                                                                  track_names))
    return table, track_names


def _run(pred, model_dir, videos, jobs, out, store_out, *, client, frames, batch_size, device, resume, cancel,
         flush_every, chunk_frames, settings):
    """Predict the jobs into a store (streamed) or memory; returns (PredictResult, store or None)."""
    from ..core.store import ProjectStore
    from ..nn.inference.pipeline import iter_predict_videos

    store = None
    if store_out:
        if out.exists():
            store = ProjectStore.open(out)
            pred.check_skeleton(store.skeleton, source=f"the project {out}")
            if getattr(pred, "class_names", None):  # identity model: refused before anything is written
                from ..core.identity import check_model_classes

                check_model_classes(pred.class_names, store.track_names, model=f"the model in {model_dir}",
                                    project=f"the project {out}")
        else:
            store = ProjectStore.create(out, pred.skeleton, videos=videos)
        known = {str(Path(v.path).resolve()): i for i, v in enumerate(store.videos)}
        ids = [known[str(Path(v.path).resolve())] if str(Path(v.path).resolve()) in known else store.add_video(v)
               for v in videos]
        if not resume:
            for vid in sorted({ids[j] for j, _ in jobs}):
                store.clear_predictions(vid)
    else:
        ids = list(range(len(videos)))
    if client is not None:
        from ..nn.inference.distributed import iter_predict_distributed

        djobs = [(ids[j], videos[j].path, videos[j].n_frames, f) for j, f in jobs]
        res = yield from iter_predict_distributed(model_dir, djobs, client=client, chunk_frames=chunk_frames,
                                                  batch_size=batch_size, device=device, settings=settings,
                                                  store=store, n_nodes=pred.n_nodes, cancel=cancel)
    else:
        res = yield from iter_predict_videos(pred, [(ids[j], videos[j], f) for j, f in jobs], store=store,
                                             batch_size=batch_size, cancel=cancel, resume=resume,
                                             flush_every=flush_every)
    return res, store


def predict(model_dir, inputs, out, *, show: bool = True, **kwargs):
    """Predict ``inputs`` with the model in ``model_dir`` into ``out``; returns a PredictResult.

    Keyword arguments are those of :func:`iter_predict_files` (``frames="0:100"``,
    ``batch_size``, ``device``, ``max_instances``, ``tracker``, ``max_tracks``, ``scheduler``,
    ``workers``, ``chunk_frames``, ``resume``, ``overwrite``, ``scheduler_timeout``, ``flush_every``,
    ``flip_test``).
    """
    from ..core.progress import drain

    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    return drain(iter_predict_files(model_dir, inputs, out, **kwargs), desc="predict", show=show)

