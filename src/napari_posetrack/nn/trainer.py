"""The training loop, written as a generator of :class:`~napari_posetrack.core.progress.ProgressEvent`.

``iter_fit(frames, cfg, out_dir)`` trains one model and returns a result dict; it yields an
event per step (``stage="train"``) and per epoch (``stage="epoch"``, with losses and, every
``train.eval_every`` epochs, validation pose metrics). It honours a ``CancelToken``: a stop
ends the epoch loop cleanly and keeps the best checkpoint. Checkpoints are written with
:func:`napari_posetrack.nn.checkpoint.save_checkpoint` (atomic). The best checkpoint is the
one with the best validation pose metric (``train.select_by: pose``: OKS mAP, then PCK@5px,
then the lower loss), or with the lowest validation loss (``select_by: loss``; the training
loss when there is no validation split). The learning rate follows :func:`lr_factor`
(warm-up, then cosine over the time budget or the epochs); autocast precision follows
:func:`training_precision`.

Data parallel: pass ``dist=DistInfo(rank, world_size)`` after
``torch.distributed.init_process_group``; every rank draws the same global batch of
``batch_size * world_size`` indices and trains on its slice, gradients are averaged by
``DistributedDataParallel``, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import ConfigError, PoseTrackError
from ..core.progress import CancelToken, ProgressEvent
from .augment import augment_batch, cut_patches
from .autoconfig import auto_batch_and_rate, ema_for_norm, resolve_auto
from .batches import Samples, build_samples
from .budget import Budget, agree, annealing_ahead, epoch_limit
from .checkpoint import CheckpointError, save_checkpoint
from .data import FrameSet, split_indices
from .ema import WeightAverage
from .model import build_model, head_names
from .targets import make_targets
from .validate import validate

__all__ = ["DistInfo", "select_device", "iter_fit", "compute_loss", "config_warnings", "OutOfMemory"]


class OutOfMemory(PoseTrackError):
    """The device ran out of memory during training."""


@dataclass
class DistInfo:
    """Where this process sits in a data-parallel job (see :mod:`napari_posetrack.nn.distributed`)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit unavailable device raises ConfigError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Device 'cuda' was asked for but no CUDA GPU is available.",
                          hint="Use --device auto or cpu, or install a CUDA build of torch.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("Device 'mps' was asked for but Apple MPS is not available.", hint="Use auto or cpu.")
    return torch.device(name)


def compute_loss(outputs: dict, targets: dict, foreground_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Sum of per-head losses. Returns (total, parts).

    Confidence, centroid and class maps: mean squared error, each pixel weighted ``1 + foreground_weight *
    target`` so that the few pixels under a peak are not outweighed by the background (a plain MSE
    run learns to output zeros for nodes it is not yet sure of). PAFs: MSE. Offsets: masked L1.
    Heading: masked MSE of the unit vectors near each anchor.
    """
    parts = {}
    for name, tgt in targets.items():
        out = outputs[name].float()
        if name == "offsets":
            maps, weight = tgt
            w = weight.repeat_interleave(2, dim=1)
            parts[name] = (w * (out - maps).abs()).sum() / w.sum().clamp_min(1.0) * 0.05
        elif name == "identity":
            from .identity import identity_loss

            parts[name] = identity_loss(out, tgt)
        elif name == "heading":
            from .align import HEADING_LOSS_WEIGHT

            vec, weight = tgt
            parts[name] = (weight * (out - vec) ** 2).sum() / (2 * weight.sum()).clamp_min(1.0) * HEADING_LOSS_WEIGHT
        elif foreground_weight and name in ("confmaps", "centroids", "classmaps"):
            parts[name] = ((1.0 + foreground_weight * tgt) * (out - tgt) ** 2).mean()
        else:
            parts[name] = F.mse_loss(out, tgt)
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}


def _batch(samples: Samples, idx, device, cfg, flip_perm, gen, augment: bool):
    if samples.sampler is not None and augment:  # top-down crops: drawn (aligned, augmented) from the frames
        x, pts, _ = samples.sampler.draw(idx, cfg.augment if augment else None, gen, flip_perm, device)
        anchors = samples.anchors[idx].to(device)
        batch = {"points": pts, "anchors": anchors}
        if samples.classes is not None:
            batch["classes"] = samples.classes[idx].to(device)
        return x, batch
    images, pts, anchors = samples.images[idx], samples.points[idx], samples.anchors[idx]
    headings = samples.headings[idx] if samples.headings is not None else None
    if augment and samples.paster is not None and cfg.augment.crowd > 0:  # one more animal, close to another
        images, pts, anchors, headings = samples.paster(images, pts, anchors, headings, cfg.augment.crowd, gen)
    if augment and cfg.augment.patch_size > 0:  # train on windows; inference still sees whole frames
        images, pts, anchors, headings = cut_patches(images, pts, cfg.augment.patch_size, gen,
                                                     extra=(anchors, headings))
    x = images.to(device, non_blocking=True).float() / 255.0
    pts = pts.to(device)
    anchors = anchors.to(device)
    k = pts.shape[2]
    if headings is not None:  # heading nodes move with the points (an extra, unpermuted node)
        pts = torch.cat([pts, headings.to(device)[:, :, None, :]], 2)
        if flip_perm is not None:
            flip_perm = list(flip_perm) + [k]
    if augment:
        x, pts, anchors = augment_batch(x, pts, cfg.augment, anchors=anchors, flip_perm=flip_perm, generator=gen)
    batch = {"points": pts[:, :, :k], "anchors": anchors}
    if samples.headings is not None:
        batch["headings"] = pts[:, :, k]
    if samples.classes is not None:
        batch["classes"] = samples.classes[idx].to(device)
    return x, batch


def _ctx(cfg, x, model_out_hw, edges):
    return {"out_hw": model_out_hw, "stride": cfg.model.output_stride, "sigma": cfg.model.sigma,
            "paf_width": cfg.model.paf_width, "edges": edges, "model_type": cfg.model.type}


def _oom_error(cfg, exc) -> OutOfMemory:
    bs = cfg.train.batch_size
    return OutOfMemory(
        f"The device ran out of memory with batch size {bs} ({str(exc).splitlines()[0][:120]}).",
        hint=f"Use a smaller batch size (try {max(1, bs // 2)}), a smaller input scale, or fewer filters.")


def _plateau(cfg, opt):
    if cfg.train.scheduler != "plateau":
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(2, cfg.train.patience // 3),
                                                      min_lr=1e-6)


def lr_factor(cfg, progress: float) -> float:
    """Learning-rate multiplier at ``progress`` in [0, 1] of the run: linear warm-up, then cosine to 1%
    (``scheduler: cosine``) or flat (``plateau``/``none``; plateau halves it on its own)."""
    tc = cfg.train
    progress = min(max(progress, 0.0), 1.0)
    if tc.warmup and progress < tc.warmup:
        return 0.05 + 0.95 * progress / tc.warmup
    if tc.scheduler != "cosine":
        return 1.0
    frac = (progress - tc.warmup) / max(1e-9, 1.0 - tc.warmup)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac))


def training_precision(cfg, device) -> tuple[str, str | None]:
    """(precision used, a warning or None): bfloat16 autocast on CPUs that compute it natively,
    float16 AMP on CUDA/MPS (``train.amp``), else float32."""
    tc = cfg.train
    if device.type in ("cuda", "mps"):
        return ("float16" if tc.amp else "float32"), None
    if tc.precision == "float32":
        return "float32", None
    from .inference.predictors import cpu_has_bf16

    if cpu_has_bf16():
        return "bf16", None
    if tc.precision == "bf16":
        return "float32", ("warning: train.precision is bf16 but this CPU does not compute bfloat16 natively "
                           "(no AVX512-BF16 or AMX): emulated bf16 would be slower, so training runs in float32")
    return "float32", None


def _load_resume(out_dir: Path, cfg, model, opt, sched):
    from .checkpoint import _read_state_dict, weights_path
    from .config import load_config

    old = load_config(out_dir)
    if old.model.type != cfg.model.type:
        raise CheckpointError(f"Cannot resume: {out_dir} holds a {old.model.type!r} model, this run trains a "
                              f"{cfg.model.type!r} model.", path=out_dir,
                              hint="Resume into the right folder, or start a new run with another --out.")
    model.load_state_dict(_read_state_dict(weights_path(out_dir, "last")))
    state_file = out_dir / "state.pt"
    state = torch.load(state_file, map_location="cpu", weights_only=True) if state_file.is_file() else {}
    if "optimizer" in state:
        opt.load_state_dict(state["optimizer"])
    if sched is not None and "scheduler" in state:
        sched.load_state_dict(state["scheduler"])
    hist_file = out_dir / "history.json"
    import json

    history = json.loads(hist_file.read_text()) if hist_file.is_file() else []
    return int(state.get("epoch", len(history))), float(state.get("best", math.inf)), history


def _seed(tc) -> torch.Generator:
    """Set the torch threads and seed of a run; returns the generator of its batches and augmentation."""
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    return torch.Generator().manual_seed(tc.seed + 1)


def _device(name: str, dist: DistInfo) -> torch.device:
    """The training device; each data-parallel rank on CUDA takes its own GPU."""
    device = select_device(name)
    if device.type == "cuda" and dist.world_size > 1:
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    return device


def _autocast_factory(precision: str, device):
    """A function returning the autocast context of ``precision`` (bf16 on CPU, float16 on CUDA/MPS)."""
    def autocast():
        if precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        if precision == "float16":
            return torch.autocast(device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    return autocast


def _train_step(net, opt, scaler, autocast, x, batch: dict, cfg, heads, edges) -> float:
    """One optimisation step on batch ``x``; returns its loss. Out of memory becomes :class:`OutOfMemory`."""
    try:
        if x.device.type != "mps":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            out = net(x)
        hw = next(iter(out.values())).shape[-2:]
        with torch.no_grad():
            targets = make_targets(heads, batch, _ctx(cfg, x, tuple(hw), edges))
        loss, _ = compute_loss(out, targets, cfg.train.foreground_weight)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    except torch.OutOfMemoryError as exc:
        raise _oom_error(cfg, exc) from None
    return float(loss.detach())


def _finish_reserve(eval_clock) -> float:
    """Seconds of a time budget kept for after the last step: the last epoch's validation and the final
    scoring of the best model each cost about one pose validation (measured: ``eval_clock[0]``), so a
    budget-limited run stops that much earlier instead of running past its ``--max-minutes``."""
    return 2.0 * float(eval_clock[0])


def _set_lr(opt, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def _score_epoch(model, val_s, val_fs, cfg, device, rec: dict, last_epoch: bool, clock, eval_clock, metrics):
    """The epoch's selection score (``None``: not scored, so it cannot be the best), adding the validation pose
    metrics to ``rec`` when they are due. Returns (score, metrics, eval_clock)."""
    tc = cfg.train
    score = (-rec["val_loss"],)
    # pose metrics (peak finding, grouping) can cost more than the epoch: when they take seconds,
    # keep them to about EVAL_SHARE of the time (the last epoch is always scored)
    eval_due = last_epoch or eval_clock[0] < 2.0 or \
        clock() - eval_clock[1] >= eval_clock[0] * (1 - EVAL_SHARE) / EVAL_SHARE
    if val_s is not None and tc.eval_every and (rec["epoch"] % tc.eval_every == 0 or last_epoch) and eval_due:
        t_eval = clock()
        metrics = validate(model, val_s, val_fs, cfg, device)
        eval_clock = (clock() - t_eval, clock())
        metrics.pop("distances", None)
        rec.update(_summary(metrics))
        if tc.select_by == "pose" and metrics:
            score = _pose_score(metrics, rec["val_loss"])
    elif tc.select_by == "pose" and val_s is not None and tc.eval_every:
        score = None
    return score, metrics, eval_clock


def _save_epoch(out_dir: Path, model, cfg, opt, sched, epoch: int, improved: bool, history: list) -> None:
    state = {"optimizer": opt.state_dict(), "epoch": epoch}
    if sched is not None:
        state["scheduler"] = sched.state_dict()
    save_checkpoint(out_dir, model, cfg, which=("best", "last") if improved else ("last",), state=state,
                    history=history)


def _epoch_message(rec: dict) -> str:
    msg = f"epoch {rec['epoch']}: train {rec['train_loss']:.4g} val {rec['val_loss']:.4g}"
    if "val_oks_map" in rec:
        msg += f" val OKS mAP {rec['val_oks_map']:.3f} PCK@5 {rec['val_pck_5']:.3f}"
    return msg


def _prepare(frames: FrameSet, cfg, device, world_size: int = 1):
    """Split the frames (``train.seed``), resolve the auto settings, build the samples, pick the precision.
    Returns (training samples, validation samples or None, validation frames, precision, setup messages)."""
    tc = cfg.train
    cfg.data.setdefault("channels", int(cfg.preprocess.channels or frames.channels))
    tr_idx, va_idx = split_indices(len(frames), tc.val_fraction, tc.seed)
    train_fs, val_fs = frames.subset(tr_idx), frames.subset(va_idx)
    train_s, auto_msgs = resolve_auto(frames, train_fs, cfg)
    auto_msgs += auto_batch_and_rate(cfg, len(train_s), device.type, world_size) + ema_for_norm(cfg)
    val_s = build_samples(val_fs, cfg) if len(val_fs) else None
    cfg.data.update({"n_train_frames": int(len(tr_idx)), "n_val_frames": int(len(va_idx)),
                     "n_train_samples": len(train_s), "val_keys": frames.keys[va_idx].tolist()})
    precision, prec_warning = training_precision(cfg, device)
    cfg.data["precision"] = precision
    msgs = auto_msgs + train_s.messages + config_warnings(cfg) + ([prec_warning] if prec_warning else [])
    msgs.append(f"{cfg.model.type}: {len(train_s)} training and {len(val_s) if val_s is not None else 0} "
                f"validation samples, batch {tc.batch_size}, {precision} on {device.type}")
    return train_s, val_s, val_fs, precision, msgs


def _build(model, cfg, device, dist: DistInfo):
    """The model on its device (channels-last), its data-parallel wrapper, optimizer and plateau scheduler."""
    model = model if model is not None else build_model(cfg)
    model.to(device)
    if device.type != "mps":
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.learning_rate)
    net = model
    if dist.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    return model, net, opt, _plateau(cfg, opt)


class _Selection:
    """The best epoch so far (by :func:`_better`) and the epochs since it, for checkpoints and early stopping."""

    def __init__(self, history: list, global_step: int):
        last = history[-1] if history else {}
        self.best = tuple(last["best_score"]) if last.get("best_score") else None
        self.best_epoch = last.get("best_epoch", -1)
        self.bad_epochs = 0
        self.best_step = global_step

    def update(self, score, rec: dict, global_step: int) -> bool:
        """Take epoch ``rec``'s score; record the best in ``rec``. Returns whether it is the new best."""
        improved = _better(score, self.best)
        if improved:
            self.best, self.best_epoch, self.bad_epochs, self.best_step = score, rec["epoch"], 0, global_step
        else:
            self.bad_epochs += 1
        rec["best_epoch"] = self.best_epoch
        rec["best_score"] = list(self.best) if self.best is not None else None
        return improved


def iter_fit(frames: FrameSet, cfg, out_dir, *, resume: bool = False, cancel: CancelToken | None = None,
             dist: DistInfo | None = None, model=None):
    """Train one model (generator). Returns a dict: out_dir, best_epoch, best_val_loss, metrics, history, stopped.

    ``frames`` (FrameSet) are all labeled frames, split here by ``cfg.train.seed``; ``cfg`` is a validated
    TrainingConfig whose ``skeleton`` and ``data`` are filled here; ``out_dir`` is the checkpoint directory
    (written atomically; never half-written).
    """
    cancel, dist = (CancelToken() if cancel is None else cancel), (dist or DistInfo())
    out_dir = Path(out_dir)
    t0 = time.monotonic()
    tc = cfg.train
    gen = _seed(tc)
    device = _device(tc.device, dist)
    train_s, val_s, val_fs, precision, msgs = _prepare(frames, cfg, device, dist.world_size)
    for msg in msgs:
        yield ProgressEvent("setup", message=msg)
    model, net, opt, sched = _build(model, cfg, device, dist)
    start_epoch, history = 0, []
    if resume and (out_dir / "config.yaml").is_file():
        start_epoch, _, history = _load_resume(out_dir, cfg, model, opt, sched)
        yield ProgressEvent("setup", message=f"resumed from epoch {start_epoch} in {out_dir}")
    ema = WeightAverage(model, tc.ema) if tc.ema > 0 else None
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "float16" and device.type == "cuda")
    autocast = _autocast_factory(precision, device)
    heads, edges = head_names(cfg), [tuple(e) for e in cfg.skeleton.get("edges", [])]
    flip_perm, n_train = frames.flip_permutation, len(train_s)
    steps = tc.steps_per_epoch or max(MIN_EPOCH_STEPS if tc.max_minutes else 10, math.ceil(n_train / tc.batch_size))
    budget = Budget(tc, steps)
    stopped, metrics = "epochs", {}
    global_step = start_epoch * steps
    sel = _Selection(history, global_step)
    eval_clock = (0.0, budget.clock())  # (cost of the last pose validation, when it ended)
    n_epochs = epoch_limit(tc)
    for epoch in range(start_epoch, n_epochs):
        net.train()
        losses = []
        for step in range(steps):
            stop = cancel.cancelled or (budget.over(_finish_reserve(eval_clock)) and (step or epoch > start_epoch))
            progress, stop = agree(dist, device, budget.progress(global_step), stop)
            if stop:
                break
            gidx = torch.randint(0, n_train, (tc.batch_size * dist.world_size,), generator=gen)
            idx = gidx[dist.rank * tc.batch_size:(dist.rank + 1) * tc.batch_size]
            if sched is None or progress < tc.warmup:
                _set_lr(opt, tc.learning_rate * lr_factor(cfg, progress))
            x, batch = _batch(train_s, idx, device, cfg, flip_perm, gen, cfg.augment.enabled)
            losses.append(_train_step(net, opt, scaler, autocast, x, batch, cfg, heads, edges))
            if ema is not None:
                ema.update(model)
            global_step += 1
            yield ProgressEvent("train", step + 1, steps, {"epoch": epoch + 1, "loss": losses[-1], **budget.left()})
        _, interrupted = agree(dist, device, 0.0, cancel.cancelled or budget.over(_finish_reserve(eval_clock)))
        if not losses:
            stopped = "cancelled" if cancel.cancelled else "time limit"
            break
        train_loss = float(np.mean(losses))
        with ema.applied(model) if ema is not None else contextlib.nullcontext():  # validated and saved averaged
            val_loss = _val_loss(model, val_s, cfg, heads, edges, device, autocast=autocast) if val_s is not None \
                else train_loss
            rec = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                   "lr": opt.param_groups[0]["lr"], "time": time.monotonic() - t0}
            last_epoch = epoch + 1 >= n_epochs or interrupted
            score, metrics, eval_clock = _score_epoch(model, val_s, val_fs, cfg, device, rec, last_epoch,
                                                      budget.clock, eval_clock, metrics)
            improved = sel.update(score, rec, global_step)
            history.append(rec)
            if sched is not None:
                sched.step(val_loss)
            if dist.is_main:
                _save_epoch(out_dir, model, cfg, opt, sched, epoch + 1, improved, history)
        yield ProgressEvent("epoch", epoch + 1, n_epochs if n_epochs < sys.maxsize else 0, dict(rec),
                            message=_epoch_message(rec))
        if interrupted:
            stopped = "cancelled" if cancel.cancelled else "time limit"
            break
        # a few frames make short epochs: also wait MIN_PATIENCE_STEPS steps, or a noisy validation
        # score stops a run that has only begun (40 frames: 10 steps an epoch)
        _, early = agree(dist, device, 0.0, bool(tc.patience) and sel.bad_epochs >= tc.patience
                          and global_step - sel.best_step >= MIN_PATIENCE_STEPS
                          and not annealing_ahead(tc, budget, global_step))
        if early:
            stopped = "early stopping"
            break
    if ema is not None:  # every rank ends with the averaged weights, the ones saved and predicted with
        ema.copy_to(model)
    best_epoch = sel.best_epoch
    result = {"out_dir": str(out_dir), "best_epoch": best_epoch, "best_val_loss": _best_loss(history, best_epoch),
              "history": history, "stopped": stopped, "epochs_run": len(history)}
    result["metrics"] = yield from _finish(model, cfg, out_dir, history, val_s, val_fs, device, dist, metrics)
    result["model"] = model
    return result


def _finish(model, cfg, out_dir: Path, history: list, val_s, val_fs, device, dist: DistInfo, metrics: dict):
    """End of a run (generator): reload the best weights, score them on the validation split, draw the
    validation plots, say what does not work, and save the final best checkpoint. Returns the metrics."""
    if not history and dist.is_main:
        yield ProgressEvent("validate", 0, 1, message=(
            f"warning: the time budget ended before the first {cfg.model.type} training step finished; no model was "
            f"written to {out_dir}. Give training more time (train.max_minutes)."))
    if dist.is_main and history and (out_dir / "best.safetensors").is_file():
        from .checkpoint import _read_state_dict, weights_path

        model.load_state_dict(_read_state_dict(weights_path(out_dir, "best")))
        if val_s is not None:
            yield ProgressEvent("validate", 0, 1, message="scoring the best model on the validation split")
            metrics = validate(model, val_s, val_fs, cfg, device)
            try:
                from .validate import save_validation_plots

                save_validation_plots(model, val_s, val_fs, cfg, metrics, out_dir, device)
            except Exception as exc:  # noqa: BLE001 - plots are a bonus; never fail a run for them
                yield ProgressEvent("validate", 0, 1, message=f"could not draw validation plots: {exc}")
            metrics.pop("distances", None)
            for msg in result_warnings(cfg, metrics, history):
                yield ProgressEvent("validate", 0, 1, message=msg)
        cfg.data["metrics"] = _summary(metrics)
        save_checkpoint(out_dir, model, cfg, which=("best",))
        import json

        (out_dir / "metrics.json").write_text(json.dumps(metrics, default=float, indent=1))
        yield ProgressEvent("validate", 1, 1, _summary(metrics))
    return metrics


#: with a time budget, an epoch is one pass over the training samples but at least this many steps: with 40
#: labeled frames (10 batches) validating after every pass would take much of the budget, and an explicit
#: ``train.epochs`` would end the run long before it
MIN_EPOCH_STEPS = 50
#: at most about this share of the training time goes to pose validation between epochs
EVAL_SHARE = 0.1
#: early stopping never ends a run fewer than this many steps after its best epoch
MIN_PATIENCE_STEPS = 1000


def _better(score, best) -> bool:
    """Is epoch ``score`` better than ``best``? A pose-scored epoch beats a loss-only one, never the reverse."""
    if score is None:
        return False
    if best is None or len(score) > len(best):
        return True
    return len(score) == len(best) and score > best


def _pose_score(metrics: dict, val_loss: float) -> tuple:
    """Ordering key of a validation result: OKS mAP, then PCK@5, then lower loss."""
    def num(v):
        return -1.0 if v is None or not np.isfinite(v) else float(v)

    return (num(metrics.get("oks_map")), num(metrics.get("pck_5")), -val_loss)


def _best_loss(history, best_epoch) -> float:
    for rec in history:
        if rec["epoch"] == best_epoch:
            return float(rec["val_loss"])
    return math.inf


def result_warnings(cfg, metrics: dict, history: list) -> list[str]:
    """What a finished run must say about a model that does not work: no animals, nodes never predicted."""
    out = []
    if not metrics:
        return out
    what = {"centered_instance": "nodes in the crops"}.get(cfg.model.type, "animals")
    if metrics.get("n_gt_instances", 0) and (metrics.get("n_pred_instances", 0) == 0 or
                                             metrics.get("error", {}).get("n", 0) == 0):
        out.append(f"warning: the model finds no {what} on the validation frames after {len(history)} epochs; it "
                   "is not usable yet. Train longer (train.max_minutes / epochs), or check the labels and sigma.")
        return out
    never = [n for n, v in (metrics.get("per_node") or {}).items()
             if np.isfinite(v.get("detected", np.nan)) and v.get("detected", 0) < 0.05]
    if never and cfg.model.type != "centroid":
        out.append(f"warning: node(s) {never} are (almost) never predicted on the validation frames; train longer, "
                   "or check that they are labeled consistently.")
    return out


def config_warnings(cfg) -> list[str]:
    """Settings that train badly without failing outright; each gets a ``warning:`` line."""
    out = []
    m = cfg.model
    if m.sigma and m.sigma < 0.75 * m.stride:
        out.append(f"warning: model.sigma {m.sigma:g} px is smaller than the output stride {m.stride} allows: each "
                   "confidence peak covers less than one output cell, and such maps often train to all zeros. "
                   f"Use sigma >= {0.75 * m.stride:g} (1.5 to 5 is typical) or a smaller output stride.")
    return out


def _summary(m: dict) -> dict:
    if not m:
        return {}
    return {"val_oks_map": m["oks_map"], "val_pck_5": m["pck_5"], "val_px_error": m["error"]["mean"]}


@torch.no_grad()
def _val_loss(model, samples, cfg, heads, edges, device, batch_size=8, autocast=None) -> float:
    model.eval()
    tot, n = 0.0, 0
    for s in range(0, len(samples), batch_size):
        idx = torch.arange(s, min(s + batch_size, len(samples)))
        x, batch = _batch(samples, idx, device, cfg, None, None, False)
        with autocast() if autocast is not None else contextlib.nullcontext():
            out = model(x)
        hw = next(iter(out.values())).shape[-2:]
        loss, _ = compute_loss(out, make_targets(heads, batch, _ctx(cfg, x, tuple(hw), edges)),
                               cfg.train.foreground_weight)
        tot += float(loss) * len(idx)
        n += len(idx)
    model.train()
    return tot / max(n, 1)
