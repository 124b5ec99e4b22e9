"""The live loop: newest frame -> pose -> condition -> callback, with latency and drops measured.

>>> stats = live("models/fly", "flies.mp4", on_pose=print, duration=10)      # doctest: +SKIP
>>> print(stats.summary())                                                  # doctest: +SKIP

Threads: the source's grabber thread decodes frames into a one-frame slot (an untaken frame
is replaced and counted as dropped; nothing is queued). The inference thread (the caller of
:meth:`LiveSession.run`, or the thread :meth:`LiveSession.start` makes) takes the newest
frame, predicts it, evaluates the condition and calls ``on_pose`` *in that thread*, before it
takes the next frame. Recording (poses into a project store, raw frames into a video) runs in
a third thread, so a slow disk never delays the callback.

Latency is measured from the frame's arrival (the moment the grabber had it decoded) to the
call of ``on_pose`` (to the pose being ready when there is no callback or the condition is
false).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from ...core.errors import ConfigError

__all__ = ["LivePose", "LiveStats", "LiveSession", "live"]

log = logging.getLogger(__name__)


@dataclass
class LivePose:
    """What ``on_pose`` receives for one frame.

    Attributes
    ----------
    frame_idx : int
        Index of the frame in the source (frames dropped before it are counted).
    t_arrival : float
        ``time.perf_counter()`` when the frame arrived.
    points : ndarray (I, K, 2)
        (x, y) frame pixels per animal and node, NaN where a node was not found.
    scores : ndarray (I, K)
    node_names : list of str
    image : ndarray (H, W, C) uint8
        The frame (do not modify it).
    condition : bool or None
        The condition's result (None without a condition).
    """

    frame_idx: int
    t_arrival: float
    points: np.ndarray
    scores: np.ndarray
    node_names: list
    image: np.ndarray
    condition: bool | None = None

    def latency_ms(self) -> float:
        """Milliseconds since the frame arrived."""
        return (time.perf_counter() - self.t_arrival) * 1e3

    def node(self, name) -> np.ndarray:
        """(I, 2) positions of one node in every animal."""
        return self.points[:, self.node_names.index(name) if isinstance(name, str) else int(name)]

    @property
    def n_animals(self) -> int:
        return int(np.isfinite(self.points).all(-1).any(-1).sum())


@dataclass
class LiveStats:
    """Figures of a live session (see :meth:`summary`)."""

    kind: str = ""
    backend: str = ""
    precision: str = ""
    source: str = ""
    frame_size: tuple = ()
    source_fps: float = 0.0
    n_arrived: int = 0
    n_processed: int = 0
    n_dropped: int = 0
    n_triggers: int = 0
    duration_s: float = 0.0
    latency_ms: list = field(default_factory=list)
    infer_ms: list = field(default_factory=list)
    callback_ms: list = field(default_factory=list)
    callback_errors: dict = field(default_factory=dict)
    n_slow_callbacks: int = 0
    source_error: str | None = None
    n_reconnects: int = 0
    warnings: list = field(default_factory=list)
    recorded_frames: int = 0
    record: str | None = None
    #: CPU threads: the count, or what the "auto" tuner chose and measured
    threads: str = ""
    #: whether the inference thread polled for frames (``busy_wait``), and the seconds it spent polling
    busy_wait: bool = False
    busy_wait_s: float = 0.0

    @staticmethod
    def _pct(values, q) -> float:
        return float(np.percentile(values, q)) if len(values) else float("nan")

    @property
    def p50(self) -> float:
        return self._pct(self.latency_ms, 50)

    @property
    def p95(self) -> float:
        return self._pct(self.latency_ms, 95)

    @property
    def p99(self) -> float:
        return self._pct(self.latency_ms, 99)

    @property
    def fps(self) -> float:
        """Sustained frames/s: frames processed over the session's duration."""
        return self.n_processed / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "backend": self.backend, "precision": self.precision, "source": self.source,
                "frame_size": list(self.frame_size), "source_fps": self.source_fps, "n_arrived": self.n_arrived,
                "n_processed": self.n_processed, "n_dropped": self.n_dropped, "n_triggers": self.n_triggers,
                "duration_s": self.duration_s, "fps": self.fps, "latency_p50_ms": self.p50,
                "latency_p95_ms": self.p95, "latency_p99_ms": self.p99,
                "infer_p50_ms": self._pct(self.infer_ms, 50), "callback_errors": dict(self.callback_errors),
                "n_slow_callbacks": self.n_slow_callbacks, "source_error": self.source_error,
                "n_reconnects": self.n_reconnects, "recorded_frames": self.recorded_frames,
                "threads": self.threads, "busy_wait": self.busy_wait, "busy_wait_s": self.busy_wait_s,
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        lines = [
            f"live: {self.kind} model, {self.backend} backend ({self.precision}), source {self.source} "
            f"({self.frame_size[1] if self.frame_size else '?'}x{self.frame_size[0] if self.frame_size else '?'}"
            f"{f', {self.source_fps:.1f} fps' if self.source_fps else ''})",
            f"frames: {self.n_arrived} arrived, {self.n_processed} processed, {self.n_dropped} dropped "
            f"({100 * self.n_dropped / max(1, self.n_arrived):.1f}%) in {self.duration_s:.1f} s = "
            f"{self.fps:.1f} frames/s sustained",
            f"latency frame arrival -> callback (ms): p50 {self.p50:.1f}  p95 {self.p95:.1f}  p99 {self.p99:.1f}"
            f"  max {max(self.latency_ms) if self.latency_ms else float('nan'):.1f}",
            f"network + decoder per frame (ms): p50 {self._pct(self.infer_ms, 50):.1f}  "
            f"p99 {self._pct(self.infer_ms, 99):.1f}",
        ]
        if self.threads:
            lines.append(f"CPU threads: {self.threads}")
        if self.busy_wait and self.duration_s > 0:
            lines.append(f"busy wait: polled for frames {self.busy_wait_s:.1f} s "
                         f"({100 * self.busy_wait_s / self.duration_s:.0f}% of one core)")
        if self.callback_ms:
            lines.append(f"callbacks: {len(self.callback_ms)} calls ({self.n_triggers} when the condition held), "
                         f"p50 {self._pct(self.callback_ms, 50):.2f} ms, max {max(self.callback_ms):.2f} ms"
                         + (f", {self.n_slow_callbacks} slower than the frame interval" if self.n_slow_callbacks
                            else ""))
        for kind, n in self.callback_errors.items():
            lines.append(f"callback errors: {n} x {kind}")
        if self.record:
            lines.append(f"recorded {self.recorded_frames} frames of poses -> {self.record}")
        if self.n_reconnects:
            lines.append(f"source reconnected {self.n_reconnects} time(s)")
        if self.source_error:
            lines.append(f"source stopped: {self.source_error}")
        return "\n".join(lines)


class _Recorder:
    """Poses into a project store (committed every ``flush_every`` frames) and raw frames into a video."""

    def __init__(self, live_pred, source, store_path=None, video_path=None, flush_every: int = 50):
        from ...core.dataset import VideoInfo

        self.pred = live_pred
        self.flush_every = max(1, int(flush_every))
        self.q: queue.Queue = queue.Queue()
        self.error: str | None = None
        self.n_recorded = 0
        self.store = None
        self.writer = None
        h, w = source.size
        if video_path is not None:
            from ...core.video.writer import VideoWriter

            self.writer = VideoWriter(video_path, fps=source.fps or 30.0, gop=30, crf=18, preset="ultrafast")
            source.on_frame = self._on_frame
        if store_path is not None:
            from ...core.store import ProjectStore
            from .sources import VideoFileSource

            if video_path is not None:
                info = VideoInfo(path=str(video_path), height=h, width=w, channels=live_pred.channels,
                                 fps=source.fps, kind="video")
            elif isinstance(source, VideoFileSource):
                info = VideoInfo(path=str(source.path.resolve()), height=h, width=w, channels=live_pred.channels,
                                 fps=source.fps, kind="video")
            else:
                info = VideoInfo(path=f"live-{source.kind}-{time.strftime('%Y%m%d-%H%M%S')}", height=h, width=w,
                                 channels=live_pred.channels, fps=source.fps, kind="video")
            from pathlib import Path

            p = Path(store_path)
            if p.exists():
                self.store = ProjectStore.open(p)
                live_pred.predictor.check_skeleton(self.store.skeleton, source=f"the project {p}")
            else:
                self.store = ProjectStore.create(p, live_pred.skeleton)
            self.video_id = self.store.add_video(info)
        self.thread = threading.Thread(target=self._run, name="posetrack-live-record", daemon=True)
        self.thread.start()

    def _on_frame(self, frame) -> None:  # grabber thread: every arriving frame goes to the video
        self.q.put(("frame", frame.image))

    def add(self, frame_idx: int, pts, scores) -> None:
        if self.store is not None:
            self.q.put(("pose", (int(frame_idx), pts, scores)))

    def _flush(self, poses) -> None:
        if not poses or self.store is None:
            return
        table = self.pred.predictor.to_table([(p, s) for _, p, s in poses], [i for i, _, _ in poses],
                                             video_id=self.video_id)
        frames = np.array([[self.video_id, i] for i, _, _ in poses], np.int64)
        self.store.append_predictions(table, frames=frames)
        self.n_recorded += len(poses)

    def _run(self) -> None:
        poses, last = [], time.perf_counter()
        while True:
            try:
                item = self.q.get(timeout=0.5)
            except queue.Empty:
                item = None
            try:
                if item is not None and item[0] == "stop":
                    self._flush(poses)
                    return
                if item is not None and item[0] == "frame" and self.writer is not None:
                    self.writer.write(item[1])
                elif item is not None and item[0] == "pose":
                    poses.append(item[1])
                if poses and (len(poses) >= self.flush_every or time.perf_counter() - last > 1.0):
                    self._flush(poses)
                    poses, last = [], time.perf_counter()
            except Exception as exc:  # noqa: BLE001 - recording must never stop the loop
                if self.error is None:
                    self.error = f"recording failed: {type(exc).__name__}: {exc}"
                    log.error("live %s", self.error)
                poses = []

    def close(self) -> None:
        self.q.put(("stop", None))
        self.thread.join(timeout=60)
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as exc:  # noqa: BLE001
                self.error = self.error or f"closing the video failed: {exc}"


class LiveSession:
    """A live session; :meth:`run` blocks, :meth:`start` runs it in a thread, :meth:`stop` ends it.

    Parameters
    ----------
    model : path, ONNX export, Predictor or LivePredictor
    source : str or FrameSource
        See :func:`.sources.open_source`.
    on_pose : callable(LivePose), optional
        Called in the inference thread for every pose, or, with a ``condition``, for the poses
        where the condition holds. Exceptions are logged once per kind, counted, and the loop
        goes on.
    condition : callable(LivePose) -> bool, optional
        E.g. :class:`.hooks.NodesWithin`.
    duration : float, optional
        Stop after this many seconds.
    max_frames : int, optional
        Stop after processing this many frames.
    realtime : bool
        For a file source: replay at the file's frame rate (drops happen) or, when False,
        every frame as fast as the model goes.
    record : path, optional
        Project store (created if needed) that the poses stream into.
    record_video : path, optional
        Video file that every arriving raw frame is written to (``.mkv`` survives a crash).
    busy_wait : bool
        The inference thread polls for the next frame (a busy wait) instead of sleeping until it
        arrives, so that its core is awake when it does. On the development machine this cut the
        p99 latency of a small network by about 1 ms (docs/live.md, eleventh session), at the
        cost of one core kept busy between frames. Off by default.
    backend, device, half, frame_size, on_size_mismatch, threads
        See :func:`.predictor.load_live_predictor`.
    **settings
        Inference settings (``peak_threshold``, ``max_instances``...).
    """

    def __init__(self, model, source, *, on_pose=None, condition=None, duration: float | None = None,
                 max_frames: int | None = None, realtime: bool = True, record=None, record_video=None,
                 backend: str = "torch", device: str = "auto", half: bool = False, frame_size=None,
                 on_size_mismatch: str = "resize", threads: int | None = None, flush_every: int = 50,
                 warmup: int = 2, busy_wait: bool = False, **settings):
        if on_pose is not None and not callable(on_pose):
            raise ConfigError(f"on_pose should be a function of one pose, got {type(on_pose).__name__}.",
                              hint="Pass a function, or an output such as UDPTrigger(host, port).")
        if condition is not None and not callable(condition):
            raise ConfigError(f"condition should be a function pose -> bool, got {type(condition).__name__}.",
                              hint="Pass a function, or a condition such as NodesWithin('head', 'tail', 20).")
        self.model, self.source_spec = model, source
        self.on_pose, self.condition = on_pose, condition
        self.duration, self.max_frames = duration, max_frames
        self.realtime = realtime
        self.record, self.record_video = record, record_video
        self.load_kwargs = dict(backend=backend, device=device, half=half, frame_size=frame_size,
                                on_size_mismatch=on_size_mismatch, threads=threads, **settings)
        self.flush_every = flush_every
        self.n_warmup = warmup
        self.busy_wait = bool(busy_wait)
        self.stats = LiveStats()
        self._stop = threading.Event()
        self._thread = None
        self.error: BaseException | None = None
        self.source = None
        self.predictor = None
        self._seen_errors: set = set()
        self._slow_warned = False

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Ask the loop to end (from any thread); it finishes the current frame first."""
        self._stop.set()

    def start(self) -> LiveSession:
        """Run in a background thread (the inference thread); see :meth:`join`."""
        def target():
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - kept for the caller (the dock shows it)
                self.error = exc

        self._thread = threading.Thread(target=target, name="posetrack-live-inference", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> LiveStats:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ the loop
    def _warn(self, msg: str) -> None:
        log.warning("live: %s", msg)
        self.stats.warnings.append(msg)

    def _callback_error(self, where: str, exc: Exception) -> None:
        kind = f"{where}: {type(exc).__name__}"
        self.stats.callback_errors[kind] = self.stats.callback_errors.get(kind, 0) + 1
        if kind not in self._seen_errors:  # once per kind of error
            self._seen_errors.add(kind)
            tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._warn(f"the {where} raised {tb} (logged once per kind of error; counted, the loop goes on)")
            log.debug("traceback", exc_info=exc)

    def _setup(self):
        from .predictor import load_live_predictor
        from .sources import open_source

        pred = load_live_predictor(self.model, **self.load_kwargs)
        if hasattr(self.condition, "bind"):
            self.condition.bind(pred.node_names)
        src = open_source(self.source_spec, realtime=self.realtime, gray=pred.channels == 1)
        self.predictor, self.source = pred, src
        st = self.stats
        st.kind, st.backend, st.precision = pred.kind, pred.backend, pred.precision
        st.source, st.source_fps = src.name, float(src.fps or 0.0)
        st.frame_size = tuple(src.size)
        try:
            if all(src.size):
                pred.check_size(src.size)  # refuse before starting, when asked to
                if self.n_warmup:
                    pred.warmup((*src.size, 1 if pred.channels == 1 else 3), self.n_warmup)
        except BaseException:
            src.stop()  # release the camera/stream
            raise
        return pred, src

    def run(self) -> LiveStats:
        """Run until the source ends, ``duration``/``max_frames`` is reached or :meth:`stop`; return the stats."""
        pred, src = self._setup()
        st = self.stats
        rec = None
        try:
            if self._stop.is_set():  # stopped while loading
                return st
            if self.record is not None or self.record_video is not None:
                rec = _Recorder(pred, src, self.record, self.record_video, self.flush_every)
                st.record = str(self.record) if self.record is not None else None
            interval = 1.0 / src.fps if src.fps and getattr(src, "realtime", True) else None
            st.busy_wait = self.busy_wait
            src.start()
            t0 = time.perf_counter()
            while not self._stop.is_set():
                if self.duration is not None and time.perf_counter() - t0 >= self.duration:
                    break
                t_wait = time.perf_counter()
                f = src.slot.take(timeout=0.05, poll=self.busy_wait)
                if self.busy_wait:
                    st.busy_wait_s += time.perf_counter() - t_wait
                if f is None:
                    if src.slot.closed:
                        break
                    continue
                t_in = time.perf_counter()
                pts, scores = pred.predict(f.image)
                t_pose = time.perf_counter()
                st.infer_ms.append((t_pose - t_in) * 1e3)
                pose = LivePose(f.index, f.t_arrival, pts, scores, pred.node_names, f.image)
                fire = True
                if self.condition is not None:
                    try:
                        fire = bool(self.condition(pose))
                    except Exception as exc:  # noqa: BLE001
                        self._callback_error("condition", exc)
                        fire = False
                    pose.condition = fire
                    st.n_triggers += int(fire)
                if self.on_pose is not None and fire:
                    t_cb = time.perf_counter()
                    st.latency_ms.append((t_cb - f.t_arrival) * 1e3)
                    try:
                        self.on_pose(pose)
                    except Exception as exc:  # noqa: BLE001
                        self._callback_error("on_pose callback", exc)
                    spent = time.perf_counter() - t_cb
                    st.callback_ms.append(spent * 1e3)
                    if interval is not None and spent > interval:
                        st.n_slow_callbacks += 1
                        if not self._slow_warned:
                            self._slow_warned = True
                            self._warn(f"the on_pose callback took {spent * 1e3:.1f} ms, longer than the frame "
                                       f"interval ({interval * 1e3:.1f} ms at {src.fps:.1f} fps): frames are "
                                       "dropped while it runs. Move slow work out of the callback (a queue and "
                                       "a thread of your own).")
                else:
                    st.latency_ms.append((t_pose - f.t_arrival) * 1e3)
                st.n_processed += 1
                if rec is not None:
                    rec.add(f.index, pts, scores)
                if self.max_frames is not None and st.n_processed >= self.max_frames:
                    break
            st.duration_s = time.perf_counter() - t0
        finally:
            src.stop()
            if rec is not None:
                rec.close()
                st.recorded_frames = rec.n_recorded
                if rec.error:
                    self._warn(rec.error)
            st.n_arrived, st.n_dropped = src.n_arrived, src.n_dropped
            st.threads = pred.tuner.summary() if pred.tuner is not None else str(pred.threads)
            st.source_error, st.n_reconnects = src.error, src.n_reconnects
        return st


def live(model, source, on_pose=None, condition=None, **kwargs) -> LiveStats:
    """Run a live session until the source ends, ``duration`` passes or ``max_frames`` are done.

    See :class:`LiveSession` for the arguments. Returns :class:`LiveStats`.
    """
    return LiveSession(model, source, on_pose=on_pose, condition=condition, **kwargs).run()
