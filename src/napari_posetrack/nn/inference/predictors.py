"""Predictors: one per model type, frames in, pose tables (source = predicted) out.

>>> pred = load_predictor("models/flies", device="cpu")          # doctest: +SKIP
>>> table = pred.predict_frames(frames, frame_idx=[0, 1, 2])      # doctest: +SKIP

Every predictor works in two halves so that the video pipeline can overlap them:
:meth:`Predictor.run_batch` takes a uint8 tensor ``(B, H, W, C)`` already on the device and
returns decoded arrays; :meth:`Predictor.predict_frames` wraps both for numpy frames.

Coordinates: a peak at map position ``m`` (map pixels) is at input pixel ``m * stride``
(``nn.preprocess.grid_to_input``), at original pixel ``unscale_points(m * stride, scale)``,
plus the crop origin for top-down crops.

Scores: node score = confidence-map value at the peak; instance score = mean node score over
all nodes (a missing node counts 0; see :func:`.filters.instance_scores`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.errors import ConfigError, SkeletonMismatchError
from ...core.posetable import PREDICTED, UNLABELED, VISIBLE, PoseTable
from ...core.skeleton import Skeleton
from .filters import FilterConfig, filter_instances, instance_scores

__all__ = ["PredictorSettings", "Predictor", "SingleInstancePredictor", "BottomUpPredictor",
           "TopDownPredictor", "PREDICTORS", "apply_settings", "load_predictor", "resolve_device"]


@dataclass
class PredictorSettings:
    """Inference settings shared by every predictor.

    Attributes
    ----------
    peak_threshold : float
        Minimum confidence-map value of a node peak.
    centroid_threshold : float
        Minimum centroid-map value of a top-down anchor.
    refine : {"quadratic", "integral", "none"}
        Subpixel refinement of peaks (offset heads are used instead when the model has them).
    paf_method : {"greedy", "hungarian"}
        Matching of bottom-up connections: greedy (the default) takes the frame's best connections
        of an edge first; hungarian maximises the edge's total score.
    paf_samples, paf_threshold, paf_min_fraction : int, float, float
        Line-integral settings (see :mod:`.paf`).
    paf_peak_weight : float
        Weight of the two peaks' mean confidence added to a connection's line-integral score
        (0 = the field alone). On the fly benchmark's 30-minute bottom-up model, greedy matching
        with weight 1 raised PCK@5px from 0.590 to 0.647 and OKS mAP from 0.143 to 0.226 against
        hungarian with the field alone.
    filters : FilterConfig
        Per-frame instance filters (max instances, min scores, duplicate OKS).
    fp16 : bool
        Half precision (autocast) on CUDA; ignored on CPU.
    cpu_bf16 : bool
        bfloat16 autocast on CPUs that compute it natively (AVX512-BF16 or AMX; about 2x the
        frames/s there), ignored elsewhere. Off by default: peaks near the threshold can come
        and go, so results differ slightly from float32 (see docs/inference.md).
    compile : bool
        ``torch.compile`` the model(s).
    crop_batch : int
        Maximum top-down crops per forward pass.
    heading_check : float
        Heading-aligned top-down: when the centroid model's heading confidence (length of the
        predicted direction vector, 0..1) is below this, the crop is also tried turned round by
        180 degrees and the better-scoring pose is kept (robust to head/tail confusions).
    recenter : bool
        Top-down: predict a crop again, re-centred on the anchor node the crop model found (and
        turned to the heading it found), when that anchor lies more than ``recenter_px`` x the
        crop size from the crop centre, or the heading is off by more than 20 degrees; the
        better-scoring pose is kept. Corrects the coarse centroid model at the cost of a second
        crop pass for the instances that moved.
    recenter_px : float
        See ``recenter``; a fraction of the crop size.
    anchor_nms : float
        Top-down: of two centroid peaks closer than this fraction of the crop size, only the
        stronger gets a crop (0 = keep all).
    pair_sides : bool
        Heading-aligned top-down: left/right node pairs that keep one side in the training crops
        (wingL left of wingR) are not both put on one peak when their maps show two
        (:func:`~.decode.resolve_sides`; models trained before it carry no sides and are unchanged).
        Bottom-up: such pairs are put in the order across the body axis (anchor -> heading) that the
        labels keep, and a pair on one peak takes a second connected peak (:func:`~.paf.order_pair_sides`).
    flip_test : bool
        Top-down: each crop is also predicted mirrored left/right, and its maps (left/right nodes
        swapped, put back on the crop's grid) are averaged with the direct ones. Off by default:
        on the fly benchmark's default 30-minute model it raised PCK@5px from 0.804 to 0.830 and
        cost about a third of the frames/s (19 -> 13). Needs left/right node pairs (skeleton
        symmetries); ignored without them.
    """

    peak_threshold: float = 0.2
    centroid_threshold: float = 0.2
    refine: str = "quadratic"
    paf_method: str = "greedy"
    paf_samples: int = 10
    paf_threshold: float = 0.05
    paf_min_fraction: float = 0.7
    paf_peak_weight: float = 1.0
    filters: FilterConfig = field(default_factory=FilterConfig)
    fp16: bool = True
    cpu_bf16: bool = False
    compile: bool = False
    crop_batch: int = 64
    heading_check: float = 0.5
    recenter: bool = True
    recenter_px: float = 0.05
    anchor_nms: float = 0.1
    pair_sides: bool = True
    flip_test: bool = False


def cpu_has_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (x86 AVX512-BF16 or AMX-BF16 on Linux).

    ``POSETRACK_CPU_BF16=0`` (or ``1``) overrides the check. Elsewhere bfloat16 would be
    emulated and slower than float32, so it is not used.
    """
    import os

    env = os.environ.get("POSETRACK_CPU_BF16")
    if env is not None:
        return env.strip() not in ("", "0", "false", "no")
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(device="auto"):
    """``"auto"`` -> cuda, then mps, then cpu; returns a ``torch.device``."""
    import torch

    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"Device {device!r} was asked for, but CUDA is not available here.",
                          hint="Use --device cpu (or auto).")
    return dev


class _Stage:
    """One network: model + config + preprocessing on the device."""

    def __init__(self, model, cfg_dict: dict, device, settings: PredictorSettings):
        import torch

        from ..config import load_config

        self.cfg = load_config(cfg_dict)
        self.device = device
        self.scale = float(self.cfg.preprocess.input_scale)
        if self.scale <= 0:
            from ..checkpoint import CheckpointError

            raise CheckpointError(
                "The model's config.yaml has preprocess.input_scale 0 ('auto'), which training replaces with the "
                "scale it used; this config was never trained.",
                hint="Set preprocess.input_scale in config.yaml to the scale the weights were trained at.")
        self.stride = int(self.cfg.model.output_stride)
        self.pad_to = int(self.cfg.pad_to)
        self.channels = int(getattr(model, "in_channels", 0) or self.cfg.preprocess.channels
                            or self.cfg.data.get("channels", 1) or 1)
        self.has_offsets = bool(self.cfg.model.offsets)
        self.fp16 = bool(settings.fp16) and device.type == "cuda"
        self.bf16 = bool(settings.cpu_bf16) and device.type == "cpu" and cpu_has_bf16()
        # channels-last: about 2x faster convolutions on CPU (oneDNN) and tensor cores on CUDA
        self.channels_last = device.type in ("cpu", "cuda")
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = torch.compile(model) if settings.compile else model

    def prepare(self, x):
        """uint8 or float (B, C, H, W) on the device -> network input (B, C', H', W') float."""
        import torch

        from ..preprocess import convert_channels, pad_to_multiple, scale_images

        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        x = convert_channels(x, self.channels)
        x = scale_images(x, self.scale)
        x, _ = pad_to_multiple(x, self.pad_to)
        return x

    def forward(self, x) -> dict:
        import torch

        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.fp16:
            ctx = torch.autocast("cuda", dtype=torch.float16)
        elif self.bf16:
            ctx = torch.autocast("cpu", dtype=torch.bfloat16)
        else:
            ctx = contextlib.nullcontext()
        with ctx:
            out = self.model(x)
        return {k: v.float() for k, v in out.items()}

    def to_original(self, xy_map):
        """Map pixels (..., 2) tensor -> original pixels (before scaling)."""
        from ..preprocess import unscale_points

        return unscale_points(xy_map * self.stride, self.scale)

    def peaks_global(self, out, settings: PredictorSettings):
        """(B, K, 2) original-pixel points (NaN below threshold) and (B, K) scores."""
        from .decode import global_points

        offsets = out.get("offsets") if self.has_offsets else None
        xy, val = global_points(out["confmaps"], offsets, self.stride, settings.peak_threshold, settings.refine)
        return self.to_original(xy), val


def _table(points, node_scores, frame_idx, video_id) -> PoseTable:
    points = np.asarray(points, np.float32)
    finite = np.isfinite(points).all(-1)
    scores = np.where(finite, node_scores, np.nan).astype(np.float32)
    return PoseTable.from_arrays(
        points, frame_idx=frame_idx, video_id=video_id,
        state=np.where(finite, VISIBLE, UNLABELED).astype(np.uint8), score=scores,
        instance_score=instance_scores(scores), source=PREDICTED)


class Predictor:
    """Base class. Subclasses set :attr:`kind` and implement :meth:`run_batch`."""

    kind = ""

    def __init__(self, stages: dict, device, settings: PredictorSettings | None = None, model_dir=None):
        self.settings = settings or PredictorSettings()
        self.device = device
        self.model_dir = None if model_dir is None else str(model_dir)
        self.stages = {name: _Stage(m, c, device, self.settings) for name, (m, c) in stages.items()}
        first = next(iter(self.stages.values()))
        last = list(self.stages.values())[-1]
        self.skeleton = Skeleton.from_dict(last.cfg.skeleton) if last.cfg.skeleton.get("node_names") else \
            Skeleton.from_dict(first.cfg.skeleton)

    @property
    def n_nodes(self) -> int:
        return self.skeleton.n_nodes

    def check_skeleton(self, skeleton: Skeleton, *, source: str = "the project") -> None:
        """Raise :class:`SkeletonMismatchError` unless ``skeleton`` has this model's nodes, in order."""
        if skeleton is None or skeleton.same_nodes(self.skeleton):
            return
        try:
            self.skeleton.require_match(skeleton, source=source)
        except SkeletonMismatchError as exc:
            raise SkeletonMismatchError(
                f"The model in {self.model_dir} was trained on skeleton {self.skeleton.node_names}, which does "
                f"not match {source}: {exc}",
                hint="Predict into a new output, or retrain the model on this project's skeleton.") from None

    # -------------------------------------------------------------- running
    def run_batch(self, frames_u8) -> list[tuple[np.ndarray, np.ndarray]]:
        """Predict a batch.

        Parameters
        ----------
        frames_u8 : Tensor (B, H, W, C) uint8 on the device

        Returns
        -------
        list of B (points (I, K, 2) float32 original px, node_scores (I, K)), already filtered.
        """
        raise NotImplementedError

    def _filtered(self, points, node_scores):
        points, node_scores, keep = self._filter_index(points, node_scores)
        return points[keep], node_scores[keep]

    def _filter_index(self, points, node_scores):
        """``(points, node_scores, keep)``: the instances the filters keep (``keep`` indexes the inputs)."""
        points = np.asarray(points, np.float32).reshape(-1, self.n_nodes, 2)
        node_scores = np.asarray(node_scores, np.float32).reshape(-1, self.n_nodes)
        node_scores = np.where(np.isfinite(points).all(-1), node_scores, np.nan)
        keep = filter_instances(points, node_scores, instance_scores(node_scores), self.settings.filters)
        return points, node_scores, keep

    def to_table(self, results, frame_idx, video_id: int = 0) -> PoseTable:
        """Rows for the per-frame results of :meth:`run_batch`."""
        pts, sc, fi = [], [], []
        for (p, s), f in zip(results, frame_idx):
            pts.append(p)
            sc.append(s)
            fi.append(np.full(len(p), int(f), np.int64))
        if not pts or sum(len(p) for p in pts) == 0:
            return PoseTable.empty(self.n_nodes)
        return _table(np.concatenate(pts), np.concatenate(sc), np.concatenate(fi), video_id)

    def predict_frames(self, frames, frame_idx=None, video_id: int = 0) -> PoseTable:
        """Predict numpy frames ``(B, H, W, C)`` (or one ``(H, W, C)`` frame) uint8."""
        import torch

        arr = np.asarray(frames)
        if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4):
            arr = arr[..., None]
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim == 2:
            arr = arr[None, ..., None]
        frame_idx = np.arange(len(arr)) if frame_idx is None else np.atleast_1d(frame_idx)
        with torch.inference_mode():
            arr = np.ascontiguousarray(arr) if arr.flags.writeable else np.array(arr)  # read-only cache frames
            x = torch.from_numpy(arr).to(self.device)
            res = self.run_batch(x)
        return self.to_table(res, frame_idx, video_id)


class SingleInstancePredictor(Predictor):
    """One animal per frame: the global peak of each node's confidence map."""

    kind = "single"

    def run_batch(self, frames_u8):
        st = self.stages["single"]
        out = st.forward(st.prepare(frames_u8.permute(0, 3, 1, 2)))
        xy, val = st.peaks_global(out, self.settings)
        xy = _inside_frame(xy.cpu().numpy(), *frames_u8.shape[1:3])
        val = val.cpu().numpy()
        return [self._filtered(xy[i:i + 1], val[i:i + 1]) for i in range(len(xy))]


class BottomUpPredictor(Predictor):
    """All animals at once: local peaks of every node, grouped by part affinity fields."""

    kind = "bottomup"

    def __init__(self, stages, device, settings: PredictorSettings | None = None, model_dir=None):
        super().__init__(stages, device, settings, model_dir)
        from .decode import body_axis_sides

        #: body axis (anchor, heading) and left/right pairs (left, right) whose order across it the labels keep
        self.side_axis, self.sides = body_axis_sides(self.stages["bottomup"].cfg.data)

    def _peaks(self, frames_u8):
        """The network's outputs on a batch and every local peak of every node: (out, b, c, xy, val)."""
        from .decode import local_points

        st = self.stages["bottomup"]
        out = st.forward(st.prepare(frames_u8.permute(0, 3, 1, 2)))
        offsets = out.get("offsets") if st.has_offsets else None
        return (out, *local_points(out["confmaps"], offsets, st.stride, self.settings.peak_threshold,
                                   self.settings.refine))

    def run_batch(self, frames_u8):
        from .decode import group_frames

        st = self.stages["bottomup"]
        out, b, c, xy, val = self._peaks(frames_u8)
        groups = group_frames(b, c, xy, val, out["pafs"].cpu().numpy(), frames_u8.shape[0], self.n_nodes,
                              self.skeleton.edges, self.settings, self.side_axis, self.sides)
        h, w = frames_u8.shape[1:3]
        return [self._filtered(_inside_frame(_unscale_np(pts, st), h, w), node_scores)
                for pts, node_scores, _ in groups]


def _unscale_np(pts_map: np.ndarray, st: _Stage) -> np.ndarray:
    from ..preprocess import unscale_points

    return unscale_points(pts_map * st.stride, st.scale).astype(np.float32)


def _inside_frame(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """Points outside the frame (peaks found in the padding) become NaN."""
    p = np.array(points, np.float32, copy=True)
    out = ~((p[..., 0] >= -0.5) & (p[..., 0] <= w - 0.5) & (p[..., 1] >= -0.5) & (p[..., 1] <= h - 0.5))
    p[out] = np.nan
    return p


from .topdown import TopDownPredictor  # noqa: E402  (it subclasses Predictor, defined above)

#: checkpoint kind -> (predictor class, stage names)
PREDICTORS = {
    "single": (SingleInstancePredictor, ("single",)),
    "bottomup": (BottomUpPredictor, ("bottomup",)),
    "topdown": (TopDownPredictor, ("centroid", "centered_instance")),
}


def apply_settings(settings: PredictorSettings, overrides: dict) -> PredictorSettings:
    """Set fields of ``settings`` (or of its ``filters``) by name; an unknown name is a ConfigError."""
    for k, v in overrides.items():
        if hasattr(settings.filters, k):
            setattr(settings.filters, k, v)
        elif hasattr(settings, k):
            setattr(settings, k, v)
        else:
            raise ConfigError(f"Unknown inference setting {k!r}.",
                              hint="See PredictorSettings and FilterConfig for the settings.")
    return settings


def load_predictor(model_dir, device="auto", settings: PredictorSettings | None = None, **kwargs) -> Predictor:
    """Load the predictor for a model directory written by ``posetrack train``.

    Parameters
    ----------
    model_dir : path
        A single-instance or bottom-up checkpoint, or a top-down dir with ``centroid/`` and
        ``centered_instance/``.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    settings : PredictorSettings, optional
    **kwargs
        Fields of :class:`PredictorSettings` (``peak_threshold=...``) or of
        :class:`~.filters.FilterConfig` (``max_instances=...``) to override.
    """
    from ..checkpoint import checkpoint_kind, load_model

    settings = apply_settings(settings or PredictorSettings(), kwargs)
    d = Path(model_dir)
    dev = resolve_device(device)
    kind = checkpoint_kind(d)
    if kind in ("centroid", "centered_instance"):
        raise ConfigError(
            f"{d} holds only the {kind} half of a top-down model.",
            hint="Pass the top-down model directory (the parent holding centroid/ and centered_instance/).")
    if kind not in PREDICTORS:
        raise ConfigError(f"No predictor for model kind {kind!r}; known: {sorted(PREDICTORS)}.")
    cls, names = PREDICTORS[kind]
    if kind == "topdown":
        stages = {n: load_model(d / n, dev, expect_type=n) for n in names}
    else:
        stages = {names[0]: load_model(d, dev, expect_type=kind)}
    if kind == "topdown" and (stages["centered_instance"][1].get("data") or {}).get("identity_classes"):
        from ..identity_predict import TopDownIdentityPredictor as cls  # multi-class top-down
    if kind == "bottomup" and (stages["bottomup"][1].get("data") or {}).get("identity_classes"):
        from .bottomup_id import BottomUpIdentityPredictor as cls  # multi-class bottom-up
    return cls(stages, dev, settings, model_dir=d)
