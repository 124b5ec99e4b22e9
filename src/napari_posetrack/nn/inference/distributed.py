"""Scale-out on Dask distributed: each video is a task, long videos are split into frame chunks.

>>> res = drain(iter_predict_distributed("models/flies", jobs, scheduler="local", workers=4))  # doctest: +SKIP
>>> res = drain(iter_predict_distributed(model, jobs, scheduler="tcp://head:8786"))       # doctest: +SKIP

``scheduler="local"`` starts a :class:`distributed.LocalCluster`; any other value is the
address of a running scheduler (for example one started by ``dask-jobqueue`` on SLURM, see
``docs/inference.md``). Workers need the model directory and the videos at the same paths
(a shared file system). Each worker loads the predictor once and keeps it for its next tasks.

Chunks start at multiples of ``batch_size`` from the start of the range, so every frame is
predicted in the same batch as in a single-process run and the merged output is identical.
Results come back as plain arrays and are merged in (video, frame) order, or streamed into
the store as each chunk finishes (a resumed run skips frames the store already has).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from ...core.errors import PoseTrackError
from ...core.posetable import PoseTable
from ...core.progress import CancelToken, ProgressEvent
from .pipeline import PredictResult

__all__ = ["SchedulerError", "Chunk", "plan_chunks", "connect", "predict_chunk", "iter_predict_distributed"]

_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


class SchedulerError(PoseTrackError):
    """The Dask scheduler cannot be reached or a cluster cannot be started."""


@dataclass
class Chunk:
    """One task: frames ``start..stop-1`` (or the explicit ``frames``) of one video."""

    video_id: int
    path: str
    start: int = 0
    stop: int = 0
    frames: tuple | None = None

    @property
    def n_frames(self) -> int:
        return len(self.frames) if self.frames is not None else self.stop - self.start


def plan_chunks(jobs, *, chunk_frames: int = 2000, batch_size: int = 8) -> list[Chunk]:
    """Split ``jobs`` ``[(video_id, path, n_frames, frames)]`` into chunks.

    ``frames`` is None (all), ``(start, stop)`` or an array of indices (split into pieces of
    ``chunk_frames``). Range chunks are multiples of ``batch_size`` long.
    """
    size = max(batch_size, (int(chunk_frames) // batch_size) * batch_size)
    out = []
    for vid, path, n, frames in jobs:
        if frames is None or isinstance(frames, (tuple, range)):
            a, b = (0, n) if frames is None else (frames[0] if not isinstance(frames, range) else frames.start,
                                                   frames[1] if not isinstance(frames, range) else frames.stop)
            a, b = max(0, int(a or 0)), min(int(n), int(n if b is None else b))
            for s in range(a, b, size):
                out.append(Chunk(int(vid), str(path), s, min(s + size, b)))
        else:
            idx = np.unique(np.asarray(frames, np.int64))
            for s in range(0, len(idx), size):
                out.append(Chunk(int(vid), str(path), frames=tuple(int(i) for i in idx[s:s + size])))
    return out


def _predictor(model_dir: str, device: str, settings: dict):
    from .filters import FilterConfig
    from .predictors import PredictorSettings, load_predictor

    key = (model_dir, device, repr(sorted(settings.items())), threading.get_ident())
    with _CACHE_LOCK:
        pred = _CACHE.get(key)
    if pred is None:
        s = dict(settings)
        filters = FilterConfig(**s.pop("filters", {}))
        pred = load_predictor(model_dir, device, PredictorSettings(filters=filters, **s))
        with _CACHE_LOCK:
            _CACHE[key] = pred
    return pred


def predict_chunk(model_dir: str, chunk: dict, *, device: str = "cpu", settings: dict | None = None,
                  batch_size: int = 8, threads: int | None = None) -> dict:
    """Run one chunk (on a worker). Returns the table's columns plus run facts, as plain arrays."""
    from ...core.progress import drain
    from .pipeline import iter_predict

    pred = _predictor(str(model_dir), str(device), settings or {})
    c = Chunk(**chunk)
    frames = list(c.frames) if c.frames is not None else (c.start, c.stop)
    res = drain(iter_predict(pred, c.path, video_id=c.video_id, frames=frames, batch_size=batch_size,
                             threads=threads), show=False)
    return {"table": res.table.to_dict(), "n_frames": res.n_frames, "skipped": res.skipped_frames,
            "truncated": res.truncated, "warnings": res.warnings, "frames": frames, "video_id": c.video_id}


def connect(scheduler: str = "local", *, workers: int = 2, threads_per_worker: int = 1, processes: bool = True,
            timeout: float = 10.0):
    """A :class:`distributed.Client` for ``"local"`` (a new LocalCluster) or a scheduler address.

    Raises
    ------
    SchedulerError
        When distributed is missing, the address cannot be reached within ``timeout`` seconds,
        or the local cluster does not start.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("Dask distributed is not installed, so --scheduler cannot be used.",
                             hint="pip install 'napari-posetrack[distributed]', or run without --scheduler.") from None
    if scheduler in (None, "", "local"):
        try:
            cluster = LocalCluster(n_workers=int(workers), threads_per_worker=int(threads_per_worker),
                                   processes=processes, dashboard_address=None)
            return Client(cluster, timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            raise SchedulerError(f"Could not start a local Dask cluster with {workers} workers: {exc}",
                                 hint="Use fewer --workers, or run without --scheduler.") from None
    try:
        return Client(str(scheduler), timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"Could not reach the Dask scheduler at {scheduler!r} within {timeout:g} s ({type(exc).__name__}: "
            f"{exc}).",
            hint="Check the address (tcp://HOST:8786), that the scheduler is running and that this machine can "
                 "reach it; or use --scheduler local.") from None


def iter_predict_distributed(model_dir, jobs, *, scheduler: str = "local", workers: int = 2,
                             threads_per_worker: int = 1, processes: bool = True, chunk_frames: int = 2000,
                             batch_size: int = 8, device: str = "cpu", settings: dict | None = None, store=None,
                             n_nodes: int | None = None, cancel: CancelToken | None = None, timeout: float = 10.0,
                             client=None):
    """Predict ``jobs`` ``[(video_id, path, n_frames, frames)]`` on a Dask cluster.

    Yields :class:`ProgressEvent` (stage ``"predict"``, step = frames done) and returns a
    :class:`PredictResult` whose table holds every prediction sorted by (video, frame) (None
    when streamed into ``store``).

    Parameters
    ----------
    settings : dict, optional
        :class:`~.predictors.PredictorSettings` fields (``filters`` as a dict).
    client : distributed.Client, optional
        Use this client instead of connecting (it is not closed).
    """
    from distributed import as_completed

    cancel = CancelToken() if cancel is None else cancel
    t0 = time.perf_counter()
    chunks = plan_chunks(jobs, chunk_frames=chunk_frames, batch_size=batch_size)
    if store is not None:  # resume: skip chunks already fully in the store
        done = {vid: set(store.predicted_frames(vid).tolist()) for vid in {c.video_id for c in chunks}}
        chunks = [c for c in chunks if not set(c.frames if c.frames is not None else range(c.start, c.stop))
                  <= done[c.video_id]]
    total = sum(c.n_frames for c in chunks)
    yield ProgressEvent("predict", 0, total, message=f"{len(chunks)} chunk(s) on scheduler {scheduler}")
    own = client is None
    if own:
        client = connect(scheduler, workers=workers, threads_per_worker=threads_per_worker, processes=processes,
                         timeout=timeout)
    result = PredictResult()
    tables = []
    try:
        futures = [client.submit(predict_chunk, str(model_dir), asdict(c), device=device, settings=settings or {},
                                 batch_size=batch_size, threads=threads_per_worker, pure=False) for c in chunks]
        for fut in as_completed(futures):
            if cancel.cancelled:
                result.cancelled = True
                client.cancel(futures)
                break
            out = fut.result()
            tab = PoseTable.from_dict(out["table"])
            result.n_frames += out["n_frames"]
            result.n_instances += len(tab)
            result.skipped_frames.update({k: sorted(result.skipped_frames.get(k, []) + v)
                                          for k, v in out["skipped"].items()})
            result.truncated.update(out["truncated"])
            result.warnings += out["warnings"]
            if store is not None:
                fr = out["frames"]
                idx = np.arange(fr[0], fr[1]) if isinstance(fr, tuple) else np.asarray(fr, np.int64)
                bad = set(out["skipped"].get(out["video_id"], []))
                tr = out["truncated"].get(out["video_id"])
                idx = np.array([i for i in idx if i not in bad and (tr is None or i < tr[0])], np.int64)
                store.append_predictions(tab, frames=np.column_stack([np.full(len(idx), out["video_id"]), idx]))
            else:
                tables.append(tab)
            el = time.perf_counter() - t0
            yield ProgressEvent("predict", result.n_frames, total,
                                metrics={"fps": result.n_frames / el if el else 0.0, "instances": result.n_instances})
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    if store is None:
        k = n_nodes if n_nodes is not None else (tables[0].n_nodes if tables else 0)
        result.table = PoseTable.concat(tables, n_nodes=k).sorted() if tables or n_nodes is not None else None
    result.seconds = time.perf_counter() - t0
    return result
