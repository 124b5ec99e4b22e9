"""The video pipeline: decode in a background thread, predict in batches, stream to the store.

>>> from napari_posetrack.core.progress import drain
>>> pred = load_predictor("models/flies")                                   # doctest: +SKIP
>>> res = drain(iter_predict(pred, "flies.mp4", store=store, video_id=0))     # doctest: +SKIP

Design
------
* A producer thread decodes frames *sequentially* (``VideoReader.iter_frames``, one forward
  decode, no seeking) or, for a scattered set of frames, with ``read_frames``; it stacks them
  into uint8 batches (pinned memory on CUDA) in a bounded queue, so decode overlaps compute
  and memory is bounded by ``prefetch`` batches.
* The consumer copies the next batch to the device on a side CUDA stream (``non_blocking``)
  while the current batch runs, in FP16 autocast on CUDA (see :mod:`.predictors`).
* Predictions are flushed to the store every ``flush_every`` frames with
  ``ProjectStore.append_predictions(table, frames=...)``: every processed frame is recorded,
  even one with no animal, so a killed run resumes from ``predicted_frames(video_id)`` with no
  frame lost or duplicated; only whole frames are ever written. With a store nothing is kept
  in memory, so memory stays flat however long the video.
* A frame that fails to decode is skipped, recorded and the decode restarts after it; a
  video that ends before its stated length is recorded as truncated. The run's status (and
  those frames) is saved in the store attribute ``predict_status``.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ...core.errors import PoseTrackError, StoreError, VideoError
from ...core.posetable import PoseTable
from ...core.progress import CancelToken, ProgressEvent

__all__ = ["PredictResult", "configure_threads", "iter_predict", "iter_predict_videos", "iter_decoded_batches"]

_STOP = object()
#: consecutive undecodable frames after which a video is considered truncated
MAX_CONSECUTIVE_FAILURES = 25


@dataclass
class PredictResult:
    """What an inference run returns.

    Attributes
    ----------
    table : PoseTable or None
        The predictions (None when they were streamed into a store).
    n_frames : int
        Frames predicted in this run (frames skipped on resume not counted).
    n_instances : int
    skipped_frames : dict video_id -> list of int
        Frames that could not be decoded (skipped, the rest continued).
    truncated : dict video_id -> (int, int)
        ``(frames read up to, frames expected)`` for videos shorter than their metadata.
    cancelled : bool
    seconds : float
    warnings : list of str
    """

    table: PoseTable | None = None
    n_frames: int = 0
    n_instances: int = 0
    skipped_frames: dict = field(default_factory=dict)
    truncated: dict = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0
    warnings: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        return not (self.cancelled or self.skipped_frames or self.truncated)

    def merge(self, other: PredictResult) -> None:
        self.n_frames += other.n_frames
        self.n_instances += other.n_instances
        self.skipped_frames.update(other.skipped_frames)
        self.truncated.update(other.truncated)
        self.cancelled |= other.cancelled
        self.warnings += other.warnings


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads: ``threads``, else ``OMP_NUM_THREADS`` if set, else all cores."""
    import torch

    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS")
        threads = int(env) if env and env.isdigit() else (os.cpu_count() or 1)
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def _open(source):
    from ...core.video import VideoReader, open_video

    if isinstance(source, VideoReader):
        return source, False
    if hasattr(source, "path") and hasattr(source, "kind"):  # VideoInfo
        if source.kind == "images" and source.image_paths:
            return open_video(list(source.image_paths)), True
        source = source.path
    return open_video(source), True


def _robust_iter(reader, start: int, stop: int, skipped: list, truncated: list):
    """``iter_frames`` that skips undecodable frames and notes a short video."""
    nxt, failures = start, 0
    while nxt < stop:
        try:
            for i, frame in reader.iter_frames(nxt, stop):
                failures = 0
                nxt = i + 1
                yield i, frame
            if nxt < stop:  # the decoder ran out before the stated length
                truncated.append((nxt, stop))
            return
        except (VideoError, OSError, ValueError, RuntimeError, IndexError) as exc:
            failures += 1
            skipped.append(nxt)
            if failures >= MAX_CONSECUTIVE_FAILURES:
                truncated.append((nxt - failures + 1, stop))
                del skipped[-failures:]
                return
            _ = exc
            nxt += 1


def _robust_scattered(reader, indices, skipped: list, truncated: list):
    n = getattr(reader, "n_frames", None)
    for i in indices:
        if n is not None and i >= n:
            truncated.append((int(i), int(indices[-1]) + 1))
            return
        try:
            yield int(i), reader.read_frames([int(i)])[0]
        except (VideoError, OSError, ValueError, RuntimeError, IndexError):
            skipped.append(int(i))


def iter_decoded_batches(reader, indices, batch_size: int, *, contiguous: bool, skipped: list, truncated: list,
                         pin: bool = False, prefetch: int = 4, stop_event: threading.Event | None = None):
    """Yield ``(frame_idx (B,), frames uint8 tensor (B, H, W, C))`` decoded in a background thread."""
    import torch

    stop_event = stop_event or threading.Event()
    q: queue.Queue = queue.Queue(maxsize=max(1, prefetch))

    def put(item) -> bool:
        while not stop_event.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            if contiguous:
                wanted = set(int(i) for i in indices) if len(indices) < int(indices[-1]) - int(indices[0]) + 1 \
                    else None
                frames = _robust_iter(reader, int(indices[0]), int(indices[-1]) + 1, skipped, truncated)
            else:
                wanted = None
                frames = _robust_scattered(reader, indices, skipped, truncated)
            buf_i, buf_f = [], []
            for i, frame in frames:
                if stop_event.is_set():
                    return
                if wanted is not None and i not in wanted:
                    continue
                buf_i.append(i)
                buf_f.append(frame)
                if len(buf_i) == batch_size:
                    t = torch.from_numpy(np.stack(buf_f))
                    if not put((np.asarray(buf_i, np.int64), t.pin_memory() if pin else t)):
                        return
                    buf_i, buf_f = [], []
            if buf_i:
                t = torch.from_numpy(np.stack(buf_f))
                put((np.asarray(buf_i, np.int64), t.pin_memory() if pin else t))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)
        finally:
            put(_STOP)

    th = threading.Thread(target=produce, name="posetrack-decode", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is _STOP:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop_event.set()
        th.join(timeout=5)


def _select_frames(n_frames: int, frames, done: np.ndarray) -> tuple[np.ndarray, bool]:
    """Frame indices still to do and whether they are a contiguous range to decode sequentially."""
    if frames is None:
        idx = np.arange(n_frames, dtype=np.int64)
        contiguous = True
    elif isinstance(frames, (tuple, range, slice)):
        if isinstance(frames, slice):
            frames = (frames.start or 0, n_frames if frames.stop is None else frames.stop)
        elif isinstance(frames, range):
            frames = (frames.start, frames.stop)
        a, b = int(frames[0] or 0), n_frames if frames[1] is None else int(frames[1])
        idx = np.arange(max(0, a), min(b, n_frames), dtype=np.int64)
        contiguous = True
    else:
        idx = np.unique(np.asarray(frames, np.int64).ravel())
        contiguous = False
    if len(done):
        idx = idx[~np.isin(idx, done)]
    return idx, contiguous


class _Feeder:
    """Host -> device copies; on CUDA on a side stream so they overlap compute."""

    def __init__(self, device):
        import torch

        self.device = device
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None

    def send(self, t):
        import torch

        if not self.cuda:
            return t.to(self.device) if self.device.type != "cpu" else t
        with torch.cuda.stream(self.stream):
            return t.to(self.device, non_blocking=True)

    def ready(self, t):
        import torch

        if self.cuda:
            cur = torch.cuda.current_stream(self.device)
            cur.wait_stream(self.stream)
            t.record_stream(cur)
        return t


def _status(store, video_id: int, **values) -> None:
    try:
        st = dict(store.get_attr("predict_status", {}) or {})
        st[str(int(video_id))] = values
        store.set_attrs(predict_status=st)
    except PoseTrackError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StoreError(f"Could not record the inference status in {store.path}: {exc}", path=store.path,
                         hint="Check free disk space and write permission.") from None


class _Output:
    """Where one video's predictions go: kept in memory (no store), or streamed into the store every
    ``flush_every`` frames. Counts frames and instances in ``result``."""

    def __init__(self, store, video_id: int, n_nodes: int, result, flush_every: int):
        self.store, self.video_id, self.n_nodes, self.result = store, video_id, n_nodes, result
        self.flush_every = flush_every
        self.tables, self.pending, self.pending_frames = [], [], []

    def add(self, tab, idx) -> None:
        self.result.n_frames += len(idx)
        self.result.n_instances += len(tab)
        if self.store is None:
            self.tables.append(tab)
            return
        self.pending.append(tab)
        self.pending_frames.extend(idx.tolist())
        if len(self.pending_frames) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        store = self.store
        if store is None or not self.pending_frames:
            return
        tab = PoseTable.concat(self.pending, n_nodes=self.n_nodes)
        fr = np.column_stack([np.full(len(self.pending_frames), self.video_id, np.int64),
                              np.asarray(self.pending_frames)])
        try:
            store.append_predictions(tab, frames=fr)
        except PoseTrackError:
            raise
        except Exception as exc:  # noqa: BLE001 - disk full, permissions...
            raise StoreError(
                f"Writing predictions to {store.path} failed after {self.result.n_frames} frames of video "
                f"{self.video_id}: {exc}. Frames written before are kept and the store is still readable.",
                path=store.path, hint="Free disk space (or fix permissions) and run again: it resumes.") from None
        self.pending.clear()
        self.pending_frames.clear()

    def finish(self, model_dir, skipped: list, truncated: list) -> None:
        """The video's status in the store, or the in-memory table in ``result``."""
        result = self.result
        if self.store is not None:
            status = "cancelled" if result.cancelled else ("complete" if result.complete else "incomplete")
            _status(self.store, self.video_id, status=status, model=model_dir,
                    skipped_frames=[int(i) for i in skipped][:1000],
                    truncated=list(truncated[0]) if truncated else None)
        else:
            result.table = PoseTable.concat(self.tables, n_nodes=self.n_nodes) if self.tables else \
                PoseTable.empty(self.n_nodes)


def _progress(result, n_todo: int, elapsed: float) -> ProgressEvent:
    return ProgressEvent("predict", result.n_frames, int(n_todo),
                         metrics={"fps": result.n_frames / elapsed if elapsed else 0.0,
                                  "instances": result.n_instances})


def _decode_warnings(result, video_id: int, path, skipped: list, truncated: list) -> None:
    """Record frames that could not be decoded and a video shorter than its metadata in ``result``."""
    if skipped:
        result.skipped_frames[video_id] = sorted(skipped)
        result.warnings.append(f"video {video_id}: {len(skipped)} frame(s) could not be decoded and were skipped "
                               f"(first: {sorted(skipped)[:10]}).")
    if truncated:
        a, b = truncated[0]
        result.truncated[video_id] = (int(a), int(b))
        result.warnings.append(f"video {video_id} ({path}) ends at frame {a} but its "
                               f"metadata says {b} frames: frames {a}..{b - 1} were not predicted.")


def iter_predict(predictor, video, *, video_id: int = 0, frames=None, batch_size: int = 8, store=None,
                 flush_every: int = 256, resume: bool = True, cancel: CancelToken | None = None,
                 prefetch: int = 4, threads: int | None = None, progress_every: float = 0.5):
    """Predict one video, yielding progress; returns a :class:`PredictResult`.

    Parameters
    ----------
    predictor : Predictor; video : path, VideoInfo or VideoReader
    video_id : int
        Written into the table (and used for resume in the store).
    frames : None, (start, stop), range, slice or array of int
        Which frames: all, a contiguous range (sequential decode) or a set (random access).
    store : ProjectStore, optional
        Stream predictions into it (and skip frames it already has when ``resume``).
    flush_every : int
        Frames between store writes.
    cancel : CancelToken, optional
        Checked between batches; processed frames are written, then the run returns with
        ``cancelled=True``.
    prefetch : int
        Decoded batches buffered ahead.
    threads : int, optional
        torch CPU threads (see :func:`configure_threads`).
    """
    import torch

    configure_threads(threads)
    cancel, t0, result = (CancelToken() if cancel is None else cancel), time.perf_counter(), PredictResult()
    if store is not None:  # before anything is read or written
        predictor.check_skeleton(store.skeleton, source=f"the project {store.path}")
    reader, owned = _open(video)
    try:
        n_total = int(reader.n_frames)
        done = store.predicted_frames(video_id) if (store is not None and resume) else np.zeros(0, np.int64)
        todo, contiguous = _select_frames(n_total, frames, done)
        if store is not None:
            _status(store, video_id, status="running", model=predictor.model_dir, frames_todo=int(len(todo)))
        yield ProgressEvent("predict", 0, int(len(todo)), message=f"video {video_id}: {len(todo)} frames to predict"
                            + (f" ({len(done)} already done)" if len(done) else ""))
        skipped, truncated = [], []
        out = _Output(store, video_id, predictor.n_nodes, result, flush_every)
        if len(todo):
            feeder = _Feeder(predictor.device)
            stop_event = threading.Event()
            batches = iter_decoded_batches(reader, todo, batch_size, contiguous=contiguous, skipped=skipped,
                                           truncated=truncated, pin=feeder.cuda, prefetch=prefetch,
                                           stop_event=stop_event)
            last_report = time.perf_counter()
            try:
                with torch.inference_mode():
                    nxt = next(batches, None)
                    nxt_dev = feeder.send(nxt[1]) if nxt is not None else None
                    while nxt is not None:
                        idx, x = nxt[0], feeder.ready(nxt_dev)
                        nxt = next(batches, None)  # decode + copy of the next batch overlap this one
                        nxt_dev = feeder.send(nxt[1]) if nxt is not None else None
                        out.add(predictor.to_table(predictor.run_batch(x), idx, video_id), idx)
                        now = time.perf_counter()
                        if now - last_report >= progress_every or nxt is None:
                            last_report = now
                            yield _progress(result, len(todo), now - t0)
                        if cancel.cancelled:
                            result.cancelled = True
                            break
            finally:
                stop_event.set()
                batches.close()
            out.flush()
        _decode_warnings(result, video_id, getattr(reader, "path", ""), skipped, truncated)
        for w in result.warnings:
            yield ProgressEvent("predict", result.n_frames, int(len(todo)), message="warning: " + w)
        out.finish(predictor.model_dir, skipped, truncated)
    finally:
        if owned:
            reader.close()
    result.seconds = time.perf_counter() - t0
    return result


def iter_predict_videos(predictor, jobs, *, store=None, cancel: CancelToken | None = None, **kwargs):
    """Predict several videos one after the other; returns one merged :class:`PredictResult`.

    Parameters
    ----------
    jobs : list of (video_id, video, frames)
        ``video`` is a path, VideoInfo or reader; ``frames`` as in :func:`iter_predict`.
    **kwargs
        Passed to :func:`iter_predict`.
    """
    cancel = CancelToken() if cancel is None else cancel
    total = PredictResult()
    tables = []
    t0 = time.perf_counter()
    for vid, video, frames in jobs:
        res = yield from iter_predict(predictor, video, video_id=int(vid), frames=frames, store=store,
                                      cancel=cancel, **kwargs)
        total.merge(res)
        if res.table is not None:
            tables.append(res.table)
        if res.cancelled:
            break
    if store is None:
        total.table = PoseTable.concat(tables, n_nodes=predictor.n_nodes)
    total.seconds = time.perf_counter() - t0
    return total
