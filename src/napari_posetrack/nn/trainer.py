"""The training loop, written as a generator of :class:`~napari_posetrack.core.progress.ProgressEvent`.

``iter_fit(frames, cfg, out_dir)`` trains one model and returns a result dict; it yields an
event per step (``stage="train"``) and per epoch (``stage="epoch"``, with losses and, every
``train.eval_every`` epochs, validation pose metrics). It honours a ``CancelToken``: a stop
ends the epoch loop cleanly and keeps the best checkpoint. Checkpoints are written with
:func:`napari_posetrack.nn.checkpoint.save_checkpoint` (atomic). The best checkpoint is the
one with the lowest validation loss (computed every epoch; when there is no validation
split, the training loss).

Data parallel: pass ``dist=DistInfo(rank, world_size)`` after
``torch.distributed.init_process_group``; every rank draws the same global batch of
``batch_size * world_size`` indices and trains on its slice, gradients are averaged by
``DistributedDataParallel``, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import ConfigError, PoseTrackError
from ..core.progress import CancelToken, ProgressEvent
from .augment import augment_batch
from .batches import Samples, build_samples
from .checkpoint import CheckpointError, save_checkpoint
from .data import FrameSet, split_indices
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


def compute_loss(outputs: dict, targets: dict) -> tuple[torch.Tensor, dict]:
    """Sum of per-head losses (MSE for maps, masked L1 for offsets). Returns (total, parts)."""
    parts = {}
    for name, tgt in targets.items():
        out = outputs[name].float()
        if name == "offsets":
            maps, weight = tgt
            w = weight.repeat_interleave(2, dim=1)
            parts[name] = (w * (out - maps).abs()).sum() / w.sum().clamp_min(1.0) * 0.05
        else:
            parts[name] = F.mse_loss(out, tgt)
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}


def _batch(samples: Samples, idx, device, cfg, flip_perm, gen, augment: bool):
    x = samples.images[idx].to(device, non_blocking=True).float() / 255.0
    pts = samples.points[idx].to(device)
    anchors = samples.anchors[idx].to(device)
    if augment:
        x, pts, anchors = augment_batch(x, pts, cfg.augment, anchors=anchors, flip_perm=flip_perm, generator=gen)
    return x, {"points": pts, "anchors": anchors}


def _ctx(cfg, x, model_out_hw, edges):
    return {"out_hw": model_out_hw, "stride": cfg.model.output_stride, "sigma": cfg.model.sigma,
            "paf_width": cfg.model.paf_width, "edges": edges, "model_type": cfg.model.type}


def _oom_error(cfg, exc) -> OutOfMemory:
    bs = cfg.train.batch_size
    return OutOfMemory(
        f"The device ran out of memory with batch size {bs} ({str(exc).splitlines()[0][:120]}).",
        hint=f"Use a smaller batch size (try {max(1, bs // 2)}), a smaller input scale, or fewer filters.")


def _scheduler(cfg, opt, total_epochs):
    kind = cfg.train.scheduler
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(2, cfg.train.patience // 3),
                                                          min_lr=1e-6)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_epochs))
    return None


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


def iter_fit(frames: FrameSet, cfg, out_dir, *, resume: bool = False, cancel: CancelToken | None = None,
             dist: DistInfo | None = None, model=None):
    """Train one model (generator). Returns a dict: out_dir, best_epoch, best_val_loss, metrics, history, stopped.

    Parameters
    ----------
    frames : FrameSet
        All labeled frames (split here by ``cfg.train.seed``).
    cfg : TrainingConfig
        Validated config; ``cfg.skeleton`` and ``cfg.data`` are filled here.
    out_dir : path
        Checkpoint directory (written atomically; never half-written).
    """
    cancel = CancelToken() if cancel is None else cancel
    dist = dist or DistInfo()
    out_dir = Path(out_dir)
    t0 = time.monotonic()
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    device = select_device(tc.device)
    if device.type == "cuda" and dist.world_size > 1:
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    cfg.data.setdefault("channels", int(cfg.preprocess.channels or frames.channels))
    tr_idx, va_idx = split_indices(len(frames), tc.val_fraction, tc.seed)
    train_fs, val_fs = frames.subset(tr_idx), frames.subset(va_idx)
    auto_msgs = []
    if not cfg.preprocess.input_scale:
        from .batches import auto_input_scale

        cfg.preprocess.input_scale, why = auto_input_scale(frames, cfg, explain=True)
        auto_msgs.append(f"input scale {cfg.preprocess.input_scale:g} (auto: {why}; "
                         "set preprocess.input_scale to choose)")
    if cfg.model.type == "centered_instance" and not cfg.model.crop_size:
        from .batches import auto_crop_size

        cfg.model.crop_size = auto_crop_size(frames, cfg)
    train_s = build_samples(train_fs, cfg)
    val_s = build_samples(val_fs, cfg) if len(val_fs) else None
    cfg.data.update({"n_train_frames": int(len(tr_idx)), "n_val_frames": int(len(va_idx)),
                     "n_train_samples": len(train_s), "val_keys": frames.keys[va_idx].tolist()})
    for msg in auto_msgs + train_s.messages + config_warnings(cfg):
        yield ProgressEvent("setup", message=msg)
    model = model if model is not None else build_model(cfg)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
    sched = _scheduler(cfg, opt, tc.epochs)
    start_epoch, best, history = 0, math.inf, []
    if resume and (out_dir / "config.yaml").is_file():
        start_epoch, best, history = _load_resume(out_dir, cfg, model, opt, sched)
        yield ProgressEvent("setup", message=f"resumed from epoch {start_epoch} in {out_dir}")
    net = model
    if dist.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    use_amp = bool(tc.amp and device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    heads = head_names(cfg)
    edges = [tuple(e) for e in cfg.skeleton.get("edges", [])]
    flip_perm = frames.flip_permutation
    n_train = len(train_s)
    steps = tc.steps_per_epoch or max(10, math.ceil(n_train / tc.batch_size))
    clock = time.process_time if tc.time_clock == "cpu" else time.monotonic
    budget_start = clock()
    deadline = budget_start + tc.max_minutes * 60 if tc.max_minutes else math.inf
    # With a time limit, a cosine schedule anneals over the time budget (per step), not over
    # ``epochs``: a budget-limited run would otherwise stop at an almost untouched learning rate.
    timed_cosine = bool(tc.max_minutes) and tc.scheduler == "cosine"
    if timed_cosine:
        sched = None
    best_epoch = history[-1]["best_epoch"] if history else -1
    bad_epochs, stopped, metrics = 0, "epochs", {}
    epoch = start_epoch
    for epoch in range(start_epoch, tc.epochs):
        net.train()
        losses = []
        for step in range(steps):
            if cancel.cancelled or (clock() > deadline and (step or epoch > start_epoch)):
                break
            gidx = torch.randint(0, n_train, (tc.batch_size * dist.world_size,), generator=gen)
            idx = gidx[dist.rank * tc.batch_size:(dist.rank + 1) * tc.batch_size]
            if timed_cosine:
                frac = min(1.0, (clock() - budget_start) / (tc.max_minutes * 60))
                for g in opt.param_groups:
                    g["lr"] = tc.learning_rate * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac)))
            try:
                x, batch = _batch(train_s, idx, device, cfg, flip_perm, gen, cfg.augment.enabled)
                with torch.autocast(device.type, enabled=use_amp):
                    out = net(x)
                hw = next(iter(out.values())).shape[-2:]
                with torch.no_grad():
                    targets = make_targets(heads, batch, _ctx(cfg, x, tuple(hw), edges))
                loss, parts = compute_loss(out, targets)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            except torch.OutOfMemoryError as exc:
                raise _oom_error(cfg, exc) from None
            losses.append(float(loss.detach()))
            yield ProgressEvent("train", step + 1, steps, {"epoch": epoch + 1, "loss": losses[-1]})
        interrupted = cancel.cancelled or clock() > deadline
        if not losses:
            stopped = "cancelled" if cancel.cancelled else "time limit"
            break
        train_loss = float(np.mean(losses))
        val_loss = _val_loss(model, val_s, cfg, heads, edges, device) if val_s is not None else train_loss
        rec = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
               "lr": opt.param_groups[0]["lr"], "time": time.monotonic() - t0}
        last_epoch = epoch + 1 >= tc.epochs or interrupted
        if val_s is not None and tc.eval_every and (epoch + 1) % tc.eval_every == 0 and not last_epoch:
            metrics = validate(model, val_s, val_fs, cfg, device)
            metrics.pop("distances", None)
            rec.update(_summary(metrics))
        improved = val_loss < best - 1e-9
        if improved:
            best, best_epoch, bad_epochs = val_loss, epoch + 1, 0
        else:
            bad_epochs += 1
        rec["best_epoch"] = best_epoch
        history.append(rec)
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(val_loss)
        elif sched is not None:
            sched.step()
        if dist.is_main:
            state = {"optimizer": opt.state_dict(), "epoch": epoch + 1, "best": best}
            if sched is not None:
                state["scheduler"] = sched.state_dict()
            save_checkpoint(out_dir, model, cfg, which=("best", "last") if improved else ("last",), state=state,
                            history=history)
        yield ProgressEvent("epoch", epoch + 1, tc.epochs, dict(rec), message=f"epoch {epoch + 1}: "
                            f"train {train_loss:.4g} val {val_loss:.4g}")
        if interrupted:
            stopped = "cancelled" if cancel.cancelled else "time limit"
            break
        if tc.patience and bad_epochs >= tc.patience:
            stopped = "early stopping"
            break
    result = {"out_dir": str(out_dir), "best_epoch": best_epoch, "best_val_loss": best, "history": history,
              "stopped": stopped, "epochs_run": len(history)}
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
        cfg.data["metrics"] = _summary(metrics)
        save_checkpoint(out_dir, model, cfg, which=("best",))
        import json

        (out_dir / "metrics.json").write_text(json.dumps(metrics, default=float, indent=1))
        yield ProgressEvent("validate", 1, 1, _summary(metrics))
    result["metrics"] = metrics
    result["model"] = model
    return result


def config_warnings(cfg) -> list[str]:
    """Settings that train badly without failing outright; each gets a ``warning:`` line."""
    out = []
    m = cfg.model
    if m.sigma < m.output_stride:
        out.append(f"warning: model.sigma {m.sigma:g} px is smaller than the output stride {m.output_stride}: each "
                   "confidence peak covers less than one output cell, and such maps often train to all zeros. "
                   f"Use sigma >= {m.output_stride} (2.5 to 5 is typical) or a smaller output stride.")
    if cfg.augment.enabled and cfg.augment.flip > 0 and not cfg.skeleton.get("symmetries"):
        out.append(f"warning: augment.flip is {cfg.augment.flip:g} but the skeleton declares no symmetric node "
                   "pairs, so a flipped frame keeps its left/right labels and teaches the model mirrored nodes. "
                   "Declare the symmetries (skeleton dock) or set augment.flip to 0.")
    return out


def _summary(m: dict) -> dict:
    if not m:
        return {}
    return {"val_oks_map": m["oks_map"], "val_pck_5": m["pck_5"], "val_px_error": m["error"]["mean"]}


@torch.no_grad()
def _val_loss(model, samples, cfg, heads, edges, device, batch_size=8) -> float:
    model.eval()
    tot, n = 0.0, 0
    for s in range(0, len(samples), batch_size):
        idx = torch.arange(s, min(s + batch_size, len(samples)))
        x = samples.images[idx].to(device).float() / 255.0
        batch = {"points": samples.points[idx].to(device), "anchors": samples.anchors[idx].to(device)}
        out = model(x)
        hw = next(iter(out.values())).shape[-2:]
        loss, _ = compute_loss(out, make_targets(heads, batch, _ctx(cfg, x, tuple(hw), edges)))
        tot += float(loss) * len(idx)
        n += len(idx)
    model.train()
    return tot / max(n, 1)
