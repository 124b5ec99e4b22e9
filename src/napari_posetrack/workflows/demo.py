"""``posetrack demo``: the whole loop on a synthetic clip, with no download.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_demo`).

Generates a clip of two moving animals with exact ground truth, keeps the poses of every
third frame as "labels" (what a user would have labeled), trains a small top-down model on
the CPU for about a minute, predicts every frame, tracks the identities, scores pose (OKS
mAP, PCK) and identity (IDF1) against the ground truth of the frames it never saw, saves a
project store (:func:`run_pipeline`). Opening napari on it with the docks is the GUI's part
(:mod:`napari_posetrack._napari.demo`, which is ``api.demo``); this module needs no display.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


#: pass marks; measured with seed 0: --minutes 0.75 gives mAP 0.18, IDF1 0.77; 0.9 gives mAP 0.29, IDF1 0.79
DEFAULT_MIN_MAP = 0.1


DEFAULT_MIN_IDF1 = 0.6


LABEL_EVERY = 3


#: epochs per stage (centroid, centered instance) per requested minute: about a minute of training
#: in all on one idle CPU core (measured: 40 + 40 epochs = 38 s of CPU time)
EPOCHS_PER_MINUTE = 45


def require(module: str, what: str):
    """Import ``module`` or raise a clear error naming the missing piece of the pipeline."""
    import importlib

    from ..core.errors import PoseTrackError

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PoseTrackError(
            f"The demo needs {what} ({module}), which cannot be imported: {exc}.",
            hint="Install the full package: pip install 'napari-posetrack[all]'.",
        ) from exc


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[demo] {msg}", file=sys.stderr, flush=True)


def _check_args(out: Path, minutes: float, n_frames: int, overwrite: bool) -> None:
    from ..core.errors import ConfigError

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"The demo folder {out} already exists and is not empty.",
                          hint="Pass --overwrite to reuse it, or choose another --out.")
    if minutes <= 0 or n_frames < 3 * LABEL_EVERY:
        raise ConfigError(f"Expected --minutes > 0 and --frames >= {3 * LABEL_EVERY}, got {minutes} and {n_frames}.",
                          hint="e.g. posetrack demo --minutes 1 --frames 150")


def _train_demo_model(nn_train, train_ds, model_dir: Path, minutes: float, seed: int, quiet: bool) -> dict:
    """A small top-down model, for a fixed number of epochs (``minutes`` only sets how many)."""
    from ..core.progress import drain

    # a fixed number of epochs (not a time limit) keeps the result the same on a busy machine; the
    # time limit is only a safety net at several times the planned duration
    epochs = max(5, int(round(EPOCHS_PER_MINUTE * minutes)))
    overrides = {"train": {"max_minutes": float(minutes) * 6, "epochs": epochs, "eval_every": 0, "patience": 0,
                           "seed": seed, "device": "cpu"},
                 "model": {"backbone": {"filters": 8, "down_blocks": 3}},
                 "augment": {"rotation": 15.0}}  # the short demo run learns faster with little rotation
    # epochs of one pass over the labels: the time limit above would otherwise make them at least 50 steps
    n_frames = len(set(train_ds.labels.frame_idx.tolist()))
    n_train = {"centroid": n_frames, "centered_instance": len(train_ds.labels)}
    stage_overrides = {stage: {"train": {"steps_per_epoch": max(10, -(-int(n * 0.9) // 4))}}
                       for stage, n in n_train.items()}
    stage_overrides["centroid"].update({"preprocess": {"input_scale": 0.25}, "model": {"sigma": 1.5}})
    return drain(nn_train.iter_train(train_ds, "topdown", model_dir, overrides=overrides,
                                     stage_overrides=stage_overrides), desc="train", show=not quiet)


def _score(truth, labeled, tracked, train_result: dict) -> dict:
    """Pose metrics on the frames never labeled, identity metrics on all frames."""
    import numpy as np

    pose_m = require("napari_posetrack.core.metrics.pose", "the pose metrics")
    track_m = require("napari_posetrack.core.metrics.tracking", "the tracking metrics")
    gt = truth.labels
    held_out = ~np.isin(tracked.table.frame_idx, gt.frame_idx[labeled])
    pm = pose_m.pose_metrics(gt.take(~labeled), tracked.table.take(held_out), node_names=truth.skeleton.node_names)
    tm = track_m.tracking_metrics(gt, tracked.table)
    return {"map": pm["oks_map"], "mar": pm["oks_mar"], "pck_5": pm["pck_5"],
            "median_error_px": pm["error"]["median"], "idf1": tm["idf1"], "id_switches": tm["id_switches"],
            "mota": tm["mota"], "n_predicted": int(len(tracked.table)), "n_ground_truth": int(len(gt)),
            "train_epochs": {k: v.get("epochs_run") for k, v in train_result["stages"].items()}}


def _save_project(out: Path, dataset) -> tuple[Path, Path]:
    """The project store and a predictions .slp in ``out``; returns their paths."""
    from ..core.io import save_dataset
    from ..core.store import ProjectStore

    store_path = out / "demo.posetrack.zarr"
    store = ProjectStore.create(store_path, dataset.skeleton, dataset.videos, overwrite=True)
    try:
        store.save(dataset)
    finally:
        if hasattr(store, "close"):
            store.close()
    return store_path, save_dataset(dataset, out / "predictions.slp", overwrite=True)


def run_pipeline(out, *, minutes: float = 1.0, n_frames: int = 150, seed: int = 0, overwrite: bool = False,
                 quiet: bool = True) -> dict:
    """Clip -> labels -> model -> predictions -> tracks -> metrics -> store. Returns a summary dict.

    Returns
    -------
    dict
        ``metrics`` (``map``, ``pck_5``, ``median_error_px``, ``idf1``, ``id_switches``, ...),
        ``store``, ``video``, ``model``, ``predictions`` (paths) and ``seconds`` per step.
    """
    from ..core.dataset import PoseDataset
    from ..core.errors import ConfigError
    from ..core.progress import drain

    out = Path(out)
    _check_args(out, minutes, n_frames, overwrite)
    synthetic = require("napari_posetrack.core.synthetic", "the synthetic clip generator")
    nn_train = require("napari_posetrack.nn.train", "the training pipeline (torch)")
    predictors = require("napari_posetrack.nn.inference.predictors", "the inference pipeline")
    pipeline = require("napari_posetrack.nn.inference.pipeline", "the inference pipeline")
    tracking = require("napari_posetrack.core.tracking", "the tracker")

    pipeline.configure_threads(1)  # torch's threads (through nn): one is as fast as two on a busy 2-core machine
    seconds = {}
    t = time.perf_counter()
    _log(f"generating a {n_frames}-frame synthetic clip of two animals in {out}", quiet)
    clip = synthetic.make_synthetic_clip(out / "data", n_frames=n_frames, n_animals=2, seed=seed)
    truth = clip["dataset"]
    labeled = truth.labels.frame_idx % LABEL_EVERY == 0
    train_ds = PoseDataset(truth.skeleton, truth.videos, list(truth.track_names), labels=truth.labels.take(labeled))
    seconds["clip"] = time.perf_counter() - t

    t = time.perf_counter()
    _log(f"training a top-down model for {minutes:g} min on {int(labeled.sum() // 2)} labeled frames", quiet)
    model_dir = out / "model"
    train_result = _train_demo_model(nn_train, train_ds, model_dir, minutes, seed, quiet)
    seconds["train"] = time.perf_counter() - t

    t = time.perf_counter()
    _log("predicting every frame", quiet)
    predictor = predictors.load_predictor(model_dir, "cpu", max_instances=2)
    predictions = drain(pipeline.iter_predict(predictor, clip["video"]), desc="predict", show=not quiet).table
    seconds["predict"] = time.perf_counter() - t
    if not len(predictions):
        raise ConfigError("The demo model found no animal in any frame (training was too short?).",
                          hint="Run the demo with more training time, e.g. --minutes 3.")

    t = time.perf_counter()
    _log("tracking identities", quiet)
    tracked = drain(tracking.iter_track(predictions, tracker="simple", max_tracks=2), desc="track", show=not quiet)
    seconds["track"] = time.perf_counter() - t

    metrics = _score(truth, labeled, tracked, train_result)
    dataset = PoseDataset(truth.skeleton, truth.videos, list(tracked.track_names), labels=train_ds.labels,
                          predictions=tracked.table)
    store_path, pred_path = _save_project(out, dataset)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return {"metrics": metrics, "store": store_path, "video": Path(clip["video"]), "model": model_dir,
            "predictions": pred_path, "seconds": seconds}

