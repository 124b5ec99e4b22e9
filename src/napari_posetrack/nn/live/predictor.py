"""A low-latency, batch-1 predictor for live use (single-instance and top-down models).

It wraps the offline predictors (torch or onnxruntime backend, see
:func:`napari_posetrack.nn.export.runtime.load_backend_predictor`) so that peak finding and
crops are the same code as ``posetrack predict``. What it adds for live use:

* one frame at a time into a preallocated float input tensor (allocated once per frame size,
  then filled with ``copy_`` and scaled to [0, 1] in place), shared by the stages of a
  top-down model, warmed up before the first real frame;
* an optional half precision: bfloat16 on CPUs that compute it natively, float16 on CUDA;
* a frame-size check against the size the model was exported for: resize (points are mapped
  back to the frame's pixels) or refuse, with a message either way;
* the CPU thread count: fixed, or measured on the live frames (``threads="auto"``, the default
  unless ``OMP_NUM_THREADS`` is set; see :mod:`.threads`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from ...core.errors import ConfigError

__all__ = ["LIVE_KINDS", "ONNX_SPINNING", "LivePredictor", "live_threads", "load_live_predictor"]

log = logging.getLogger(__name__)

#: model kinds live mode runs (bottom-up grouping is not bounded in time, so it is not offered)
LIVE_KINDS = ("single", "topdown")

#: onnxruntime's intra-op workers spin between operators (``session.intra_op.allow_spinning``): off,
#: because they then take CPU from the grabber and the decoder's torch threads (docs/live.md, measured)
ONNX_SPINNING = False


def live_threads(threads=None) -> int | str:
    """The thread setting of live mode: ``threads`` (a count, or ``"auto"``), else ``OMP_NUM_THREADS`` when
    it is set, else ``"auto"`` (measured on the live frames, :class:`.threads.ThreadTuner`)."""
    from .threads import parse_threads

    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        if env.isdigit() and int(env) >= 1:
            return int(env)
    return parse_threads(threads)


def _set_torch_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)  # process-wide


class LivePredictor:
    """Batch-1 predictor: ``predict(image (H, W, C) uint8) -> (points (I, K, 2), scores (I, K))``.

    Parameters
    ----------
    predictor : a ``Predictor`` (``.kind`` in :data:`LIVE_KINDS`)
    frame_size : (height, width), optional
        The size frames must have (default: the ``frame_size`` recorded at export, if any).
    on_size_mismatch : {"resize", "refuse"}
        What to do with a frame of another size.
    threads : int or "auto", optional
        CPU threads of the networks and the decoder (torch's setting is process-wide; the
        onnxruntime sessions follow). ``"auto"``: measured per frame by a
        :class:`.threads.ThreadTuner` (see :attr:`tuner`). None (the default here): torch's
        current setting, untouched.
    """

    def __init__(self, predictor, *, frame_size=None, on_size_mismatch: str = "resize", threads=None):
        import torch

        if predictor.kind not in LIVE_KINDS:
            raise ConfigError(
                f"Live mode does not run {predictor.kind!r} models; it supports {list(LIVE_KINDS)} "
                "(batch-1, bounded-time decoders).",
                hint="Train a single-instance model (one animal) or a top-down model (several animals).")
        if on_size_mismatch not in ("resize", "refuse"):
            raise ConfigError(f"on_size_mismatch should be 'resize' or 'refuse', got {on_size_mismatch!r}.",
                              hint="Use resize (map points back) or refuse (stop with a message).")
        self.predictor = predictor
        self.kind = predictor.kind
        self.skeleton = predictor.skeleton
        self.device = predictor.device
        self.backend = getattr(predictor, "backend", "torch")
        info = getattr(predictor, "export_info", None) or {}
        if frame_size is None and info.get("frame_size"):
            frame_size = info["frame_size"]
        self.frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        self.on_size_mismatch = on_size_mismatch
        first = next(iter(predictor.stages.values()))
        self.channels = int(first.channels)
        self._fbuf = None
        #: how many times the input buffers were (re)allocated: once per frame size
        self.n_allocations = 0
        self._size_note_shown = set()
        self._torch = torch
        #: the thread tuner when ``threads="auto"`` (its ``summary()`` says what it chose), else None
        self.tuner = None
        if threads is None:
            self.threads = int(torch.get_num_threads())
        elif threads == "auto":
            from .threads import ThreadTuner, thread_candidates

            self.tuner = ThreadTuner(thread_candidates(), self.set_threads)
            self.threads = "auto"
        else:
            self.set_threads(int(threads))

    def set_threads(self, n: int) -> None:
        """Run the networks and the decoder on ``n`` CPU threads (torch: process-wide; onnxruntime: per session)."""
        _set_torch_threads(int(n))
        for st in self.predictor.stages.values():
            if hasattr(st.model, "set_threads"):
                st.model.set_threads(int(n))
        if self.tuner is None:
            self.threads = int(n)

    @property
    def node_names(self) -> list[str]:
        return list(self.skeleton.node_names)

    @property
    def precision(self) -> str:
        st = next(iter(self.predictor.stages.values()))
        if self.backend == "onnx":
            return "float32 (onnxruntime)"
        return "float16" if st.fp16 else "bfloat16" if st.bf16 else "float32"

    def _input(self, image):
        """The frame as the predictors take it, in buffers allocated once per frame size.

        ``image``: (H, W, C) uint8 array, or a tensor of whole grey levels (a resized frame).
        Returns the preallocated ``(1, H, W, C)`` float32 device tensor holding ``image / 255``,
        which is what ``_Stage.prepare`` computes from uint8, bit for bit. Filling it costs one
        conversion and an in-place division, with no allocation. (Given uint8, the predictors
        convert the frame into a new float tensor in every stage, twice per frame for top-down:
        centroid input and crop source; for a 1024x1024 frame that was 2-3 ms per copy.)
        """
        torch = self._torch
        shape = (1,) + tuple(image.shape)
        if self._fbuf is None or tuple(self._fbuf.shape) != shape:
            self._fbuf = torch.empty(shape, dtype=torch.float32, device=self.device)
            if self.device.type == "cuda":  # pinned staging buffer + device copy: asynchronous upload
                self._host = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
                self._buf = torch.empty(shape, dtype=torch.uint8, device=self.device)
            self.n_allocations += 1
        src = torch.from_numpy(image) if isinstance(image, np.ndarray) else image
        if self.device.type == "cuda" and src.device.type != "cuda":
            self._host[0].copy_(src)
            self._buf.copy_(self._host, non_blocking=True)
            self._fbuf.copy_(self._buf)
        else:
            self._fbuf[0].copy_(src)
        return self._fbuf.div_(255.0)

    def check_size(self, shape) -> tuple[float, float] | None:
        """None when frames of ``shape`` (H, W, ...) go in as they are, else the (sy, sx) resize factors.

        Raises ConfigError when the size differs and ``on_size_mismatch="refuse"``.
        """
        if self.frame_size is None or tuple(shape[:2]) == self.frame_size:
            return None
        h, w = shape[:2]
        eh, ew = self.frame_size
        if self.on_size_mismatch == "refuse":
            raise ConfigError(f"The live frames are {h}x{w} (HxW) but the model expects {eh}x{ew}.",
                              hint="Set the camera to that size, pass on_size_mismatch='resize' (--resize), or "
                                   "export the model for this frame size.")
        if (h, w) not in self._size_note_shown:
            self._size_note_shown.add((h, w))
            log.warning("live frames are %dx%d but the model expects %dx%d: resizing each frame (points are "
                        "mapped back to the frame's pixels)", h, w, eh, ew)
        return eh / h, ew / w

    def warmup(self, shape, n: int = 2) -> None:
        """Run ``n`` blank frames of ``shape`` (H, W, C) so the first real frame is not slowed by setup."""
        blank = np.zeros(tuple(shape), np.uint8)
        tuner, self.tuner = self.tuner, None
        try:
            for c in (tuner.candidates if tuner is not None else [None]):  # every thread count gets ready
                if c is not None:
                    self.set_threads(c)
                for _ in range(n):
                    self.predict(blank)
        finally:
            self.tuner = tuner
            if tuner is not None:
                tuner.current = None  # the next frame applies the tuner's own choice

    def predict(self, image: np.ndarray):
        """``image`` (H, W) or (H, W, C) uint8 -> (points (I, K, 2) float32 frame px, scores (I, K))."""
        torch = self._torch
        if image.ndim == 2:
            image = image[..., None]
        scale = self.check_size(image.shape)
        if self.tuner is not None:
            self.tuner.before_frame()
            t0 = time.perf_counter()
        with torch.inference_mode():
            if scale is None:
                x = self._input(np.ascontiguousarray(image))
            else:
                import torch.nn.functional as F

                eh, ew = self.frame_size
                t = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1)[None].float()
                t = F.interpolate(t, size=(eh, ew), mode="bilinear", align_corners=False,
                                  antialias=scale[0] < 1 or scale[1] < 1)
                # whole grey levels, as a camera of that size would deliver them
                x = self._input(t.round_().clamp_(0, 255)[0].permute(1, 2, 0))
            pts, scores = self.predictor.run_batch(x)[0]
        if self.tuner is not None:
            self.tuner.after_frame((time.perf_counter() - t0) * 1e3)
        if scale is not None and len(pts):
            sy, sx = scale
            pts = pts.copy()
            pts[..., 0] = (pts[..., 0] + 0.5) / sx - 0.5
            pts[..., 1] = (pts[..., 1] + 0.5) / sy - 0.5
        return pts, scores


def load_live_predictor(model, *, backend: str = "torch", device: str = "auto", half: bool = False,
                        frame_size=None, on_size_mismatch: str = "resize", threads: int | None = None,
                        spinning: bool | None = None, **settings) -> LivePredictor:
    """A :class:`LivePredictor` for a model directory, an ONNX export, or a loaded ``Predictor``.

    ``half``: bfloat16 on a CPU with native support (ignored with a note elsewhere), float16
    on CUDA (torch backend only; onnxruntime runs the float32 graph).

    ``threads``: CPU threads for the networks and the decoder, a count or ``"auto"`` (see
    :func:`live_threads`; torch's setting is process-wide). ``spinning``: whether onnxruntime's
    worker threads spin between operators (default: :data:`ONNX_SPINNING`).
    """
    from ..export.runtime import load_backend_predictor
    from ..inference.predictors import cpu_has_bf16
    from .threads import thread_candidates

    threads = live_threads(threads)
    if isinstance(model, LivePredictor):
        return model
    if hasattr(model, "run_batch") and hasattr(model, "stages"):
        pred = model
    else:
        if not Path(model).exists():
            raise ConfigError(f"Model {model} does not exist.", path=model,
                              hint="Pass the folder written by `posetrack train` or `posetrack export-model`.")
        settings.setdefault("max_instances", None)
        if backend == "torch":
            settings.update(fp16=bool(half), cpu_bf16=bool(half))
            if half and not cpu_has_bf16():
                log.warning("half precision: this CPU has no native bfloat16 (AVX512-BF16/AMX); float32 is used "
                            "on CPU (float16 still applies on CUDA)")
        if backend == "onnx":
            first = max(thread_candidates()) if threads == "auto" else threads
            settings.update(threads=first, spinning=ONNX_SPINNING if spinning is None else bool(spinning))
        pred = load_backend_predictor(model, device, backend=backend, **settings)
    return LivePredictor(pred, frame_size=frame_size, on_size_mismatch=on_size_mismatch, threads=threads)
