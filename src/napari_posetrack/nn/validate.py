"""Score a model on validation samples with :func:`napari_posetrack.core.metrics.pose.pose_metrics`.

Registry :data:`PREDICTORS`: model type -> ``fn(model, samples, frameset, cfg) -> (gt, pred)``
pose tables in original frame pixels. Centred-instance models are scored on crops around
the ground-truth anchors (like SLEAP's per-model validation); centroid models are scored as a
one-node skeleton (the anchor).

Outputs are decoded by :mod:`napari_posetrack.nn.inference.decode` with the default
:class:`~napari_posetrack.nn.inference.predictors.PredictorSettings`: the same peak finding,
refinement and PAF grouping as ``posetrack predict``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.metrics.pose import pose_metrics
from ..core.posetable import PoseTable
from .inference.decode import body_axis_sides, global_points, group_frames, local_points
from .inference.filters import instance_scores
from .preprocess import unscale_points

#: OKS sigma used to score centroid models (in px, since the anchor's "area" is 1 px^2)
CENTROID_SIGMA = 2.5

__all__ = ["CENTROID_SIGMA", "PREDICTORS", "predict_samples", "validate", "save_validation_plots"]


@torch.no_grad()
def _forward_all(model, samples, device, batch_size=8):
    model.eval()
    for s in range(0, len(samples), batch_size):
        x = samples.images[s: s + batch_size].to(device).float() / 255.0
        yield s, {k: v.float() for k, v in model(x).items()}


def _table(points, frame, scores=None, instance_scores=None):
    pts = np.asarray(points, np.float32)
    state = np.isfinite(pts).all(-1).astype(np.uint8)
    return PoseTable.from_arrays(pts, frame_idx=np.asarray(frame, np.int64), state=state, score=scores,
                                 instance_score=instance_scores)


def _gt_full(fs, frame_ids, k):
    rows, fr = [], []
    for i in frame_ids:
        for p in fs.points[i]:
            rows.append(p)
            fr.append(i)
    return _table(np.asarray(rows).reshape(-1, k, 2), fr)


def _settings():
    from .inference.predictors import PredictorSettings

    return PredictorSettings()


def _global_peaks_all(model, samples, cfg, device):
    """Best peak of every node for every sample: points (N, K, 2) in original pixels and scores (N, K)."""
    stride, scale = cfg.model.output_stride, cfg.preprocess.input_scale
    st = _settings()
    pts, sc = [], []
    for _, out in _forward_all(model, samples, device):
        xy, val = global_points(out["confmaps"], out.get("offsets"), stride, st.peak_threshold, st.refine)
        p = unscale_points(xy.cpu().numpy() * stride, scale)
        pts.append(p)
        sc.append(np.where(np.isfinite(p).all(-1), val.cpu().numpy(), np.nan))
    return np.concatenate(pts), np.concatenate(sc)


def _predict_single(model, samples, fs, cfg, device):
    pts, sc = _global_peaks_all(model, samples, cfg, device)
    pred = _table(pts, samples.frame, sc, instance_scores(sc))
    return _gt_full(fs, samples.frame, pts.shape[1]), pred


def _predict_crops(model, samples, fs, cfg, device):
    """Crop predictions mapped back to frame pixels through each crop's affine map (see :mod:`.align`)."""
    from .align import points_from_crop

    st = _settings()
    pts, sc = [], []
    for _, out in _forward_all(model, samples, device):
        xy, val = global_points(out["confmaps"], out.get("offsets"), cfg.model.output_stride, st.peak_threshold,
                                st.refine)
        pts.append(xy.cpu() * cfg.model.output_stride)
        sc.append(val.cpu())
    A = samples.transforms
    p = points_from_crop(torch.cat(pts), A).numpy()
    sc = torch.cat(sc).numpy()
    sc = np.where(np.isfinite(p).all(-1), sc, np.nan)
    crop_ids = np.arange(len(samples))
    gt = points_from_crop(samples.points[:, 0], A).numpy()
    return _table(gt, crop_ids), _table(p, crop_ids, sc, instance_scores(sc))


def _predict_centroids(model, samples, fs, cfg, device):
    stride, scale = cfg.model.output_stride, cfg.preprocess.input_scale
    st = _settings()
    rows, fr, sc = [], [], []
    for s0, out in _forward_all(model, samples, device):
        b, _, xy, val = local_points(out["centroids"], out.get("offsets"), stride, st.centroid_threshold, st.refine)
        rows.append(unscale_points(xy.cpu().numpy() * stride, scale))
        fr.append(np.asarray(samples.frame)[s0 + b.cpu().numpy()])
        sc.append(val.cpu().numpy())
    rows, fr, sc = (np.concatenate(a) if a else np.zeros(0) for a in (rows, fr, sc))
    pred = _table(rows.reshape(-1, 1, 2), fr.astype(np.int64), sc.reshape(-1, 1), sc.reshape(-1))
    g_rows, g_fr = [], []
    for i, f in enumerate(samples.frame):
        for a in samples.anchors[i].numpy():
            if np.isfinite(a).all():
                g_rows.append(unscale_points(a[None], scale))
                g_fr.append(f)
    return _table(np.asarray(g_rows).reshape(-1, 1, 2), g_fr), pred


def _predict_bottomup(model, samples, fs, cfg, device):
    stride, scale = cfg.model.output_stride, cfg.preprocess.input_scale
    st = _settings()
    k = len(fs.node_names)
    axis, sides = body_axis_sides(cfg.data)  # grouped as the predictor groups
    rows, fr, sc = [], [], []
    for s0, out in _forward_all(model, samples, device):
        b, c, xy, val = local_points(out["confmaps"], out.get("offsets"), stride, st.peak_threshold, st.refine)
        n = out["confmaps"].shape[0]
        if "classmaps" in out:  # multi-class bottom-up: nodes grouped by the class maps
            from .inference.bottomup_id import group_by_class

            groups = group_by_class(b, c, xy, val, out["classmaps"].cpu().numpy(), n, k, axis=axis, sides=sides)
        else:
            groups = group_frames(b, c, xy, val, out["pafs"].cpu().numpy(), n, k, fs.edges, st, axis, sides)
        for i, (pts, node_scores, *_) in enumerate(groups):
            rows.append(unscale_points(pts * stride, scale))
            fr.extend([samples.frame[s0 + i]] * len(pts))
            sc.append(node_scores)
    rows = np.concatenate(rows) if rows else np.zeros((0, k, 2), np.float32)
    sc = np.concatenate(sc) if sc else np.zeros((0, k), np.float32)
    pred = _table(rows.reshape(-1, k, 2), fr, sc.reshape(-1, k), instance_scores(sc.reshape(-1, k)))
    return _gt_full(fs, samples.frame, k), pred


#: model type -> predictor
PREDICTORS = {"single": _predict_single, "centered_instance": _predict_crops, "centroid": _predict_centroids,
              "bottomup": _predict_bottomup}


def predict_samples(model, samples, fs, cfg, device="cpu"):
    """(gt, pred) pose tables for validation samples."""
    return PREDICTORS[cfg.model.type](model, samples, fs, cfg, device)


def validate(model, samples, fs, cfg, device="cpu") -> dict:
    """Pose metrics of ``model`` on ``samples`` (see :func:`pose_metrics`)."""
    if len(samples) == 0:
        return {}
    gt, pred = predict_samples(model, samples, fs, cfg, device)
    if cfg.model.type == "centroid":
        # a one-point "skeleton" has no area (OKS uses area 1 px^2): sigma 2.5 means OKS 0.5 at ~5.9 px
        m = pose_metrics(gt, pred, node_names=["anchor"], sigmas=CENTROID_SIGMA)
        if samples.headings is not None:
            m["heading"] = heading_errors(model, samples, cfg, device)
        return m
    return pose_metrics(gt, pred, node_names=fs.node_names)


def heading_errors(model, samples, cfg, device="cpu") -> dict:
    """Heading read at the ground-truth anchors against the labeled anchor -> heading-node angle.

    Returns median and p90 absolute error (degrees), the fraction within 30 degrees and the
    fraction off by more than 150 degrees (head and tail confused), over instances with a heading.
    """
    from .align import read_heading

    stride = cfg.model.output_stride
    errs = []
    for s0, out in _forward_all(model, samples, device):
        n = out["heading"].shape[0]
        a = samples.anchors[s0:s0 + n]
        h = samples.headings[s0:s0 + n]
        ok = torch.isfinite(a).all(-1) & torch.isfinite(h).all(-1) & ((h - a).norm(dim=-1) > 1e-3)
        b, j = ok.nonzero(as_tuple=True)
        if len(b) == 0:
            continue
        phi, _ = read_heading(out["heading"], b, a[b, j] / stride)
        d = h[b, j] - a[b, j]
        true = torch.atan2(d[:, 1], d[:, 0])
        diff = torch.remainder(phi - true + np.pi, 2 * np.pi) - np.pi
        errs.append(diff.abs().numpy() * 180 / np.pi)
    e = np.concatenate(errs) if errs else np.zeros(0)
    if not len(e):
        return {"n": 0}
    return {"n": int(len(e)), "median_deg": float(np.median(e)), "p90_deg": float(np.percentile(e, 90)),
            "within_30": float((e <= 30).mean()), "flipped": float((e > 150).mean())}


def save_validation_plots(model, samples, fs, cfg, metrics: dict, out_dir, device="cpu", n: int = 8) -> list:
    """Write ``val_errors.png`` (per-node errors, PCK) and ``val_grid.png`` (frames with GT/predictions)."""
    from pathlib import Path

    from ..core.metrics.plots import plot_error_distributions, plot_validation_grid

    out = Path(out_dir)
    paths = []
    if metrics.get("distances") is not None:
        plot_error_distributions(metrics, out / "val_errors.png")
        paths.append(out / "val_errors.png")
    sub = min(n, len(samples))
    if sub == 0:
        return paths
    gt, pred = predict_samples(model, samples, fs, cfg, device)
    images, g_list, p_list = [], [], []
    for i in range(sub):
        key = samples.frame[i] if cfg.model.type != "centered_instance" else i
        if cfg.model.type == "centered_instance":  # draw on the crop (in crop-input pixels)
            from .align import points_to_crop

            img = samples.images[i, 0].numpy()
            A = samples.transforms[i:i + 1]
            g = [points_to_crop(torch.as_tensor(p, dtype=torch.float32)[None], A)[0].numpy()
                 for p in gt.points[gt.frame_idx == key]]
            q = [points_to_crop(torch.as_tensor(p, dtype=torch.float32)[None], A)[0].numpy()
                 for p in pred.points[pred.frame_idx == key]]
        else:
            img = fs.images[int(key)]
            g = list(gt.points[gt.frame_idx == key])
            q = list(pred.points[pred.frame_idx == key])
        images.append(img)
        g_list.append(np.asarray(g).reshape(-1, gt.points.shape[1], 2))
        p_list.append(np.asarray(q).reshape(-1, gt.points.shape[1], 2))
    edges = [] if cfg.model.type == "centroid" else fs.edges
    plot_validation_grid(images, g_list, p_list, out / "val_grid.png", edges=edges)
    paths.append(out / "val_grid.png")
    return paths
