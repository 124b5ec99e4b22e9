"""Decode network outputs into points (used for validation during training).

The full inference pipeline (video streaming, tracking hand-off) lives in ``nn/inference``;
this module holds the small decoders the trainer needs to score a model on its validation
split: global peaks (single / centred instance), local peaks (centroids, bottom-up parts)
and a greedy part-affinity grouping.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["global_peaks", "local_peaks", "group_bottomup"]


def _refine(cm, b, k, r, c, offsets=None, stride=1):
    """Sub-pixel position of a peak at (r, c): offsets if given, else 3x3 weighted centroid."""
    if offsets is not None:
        dx = offsets[b, 2 * k, r, c]
        dy = offsets[b, 2 * k + 1, r, c]
        return c * stride + dx, r * stride + dy
    h, w = cm.shape[-2:]
    r0, r1 = max(r - 1, 0), min(r + 2, h)
    c0, c1 = max(c - 1, 0), min(c + 2, w)
    win = cm[b, k, r0:r1, c0:c1].clamp_min(0)
    tot = win.sum().clamp_min(1e-6)
    ys = torch.arange(r0, r1, dtype=cm.dtype, device=cm.device)
    xs = torch.arange(c0, c1, dtype=cm.dtype, device=cm.device)
    y = (win.sum(1) * ys).sum() / tot
    x = (win.sum(0) * xs).sum() / tot
    return x * stride, y * stride


def global_peaks(confmaps, stride: int, offsets=None, threshold: float = 0.1):
    """Highest peak per channel.

    Parameters
    ----------
    confmaps : tensor (B, K, h, w)

    Returns
    -------
    points : ndarray (B, K, 2) x, y in input px (NaN below ``threshold``)
    scores : ndarray (B, K)
    """
    b, k, h, w = confmaps.shape
    flat = confmaps.reshape(b, k, -1)
    vals, idx = flat.max(-1)
    rows, cols = idx // w, idx % w
    if offsets is not None:
        off = offsets.reshape(b, k, 2, h * w)
        gi = idx[:, :, None, None].expand(b, k, 2, 1)
        d = torch.gather(off, 3, gi)[..., 0]
        xy = torch.stack([cols, rows], -1).to(confmaps.dtype) * stride + d
    else:
        # 3x3 weighted centroid, vectorised
        pad = F.pad(confmaps.clamp_min(0), (1, 1, 1, 1))
        acc = torch.zeros(b, k, 3, device=confmaps.device, dtype=confmaps.dtype)
        bi = torch.arange(b)[:, None].expand(b, k)
        ki = torch.arange(k)[None, :].expand(b, k)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                v = pad[bi, ki, rows + 1 + dy, cols + 1 + dx]
                acc[..., 0] += v * dx
                acc[..., 1] += v * dy
                acc[..., 2] += v
        tot = acc[..., 2].clamp_min(1e-6)
        xy = torch.stack([cols + acc[..., 0] / tot, rows + acc[..., 1] / tot], -1).to(confmaps.dtype) * stride
    pts = xy.detach().float().cpu().numpy()
    sc = vals.detach().float().cpu().numpy()
    pts[sc < threshold] = np.nan
    return pts, sc


def local_peaks(maps, stride: int, threshold: float = 0.2, offsets=None):
    """Local maxima (3x3) above ``threshold``.

    Returns a list over batch of lists over channels of arrays (P, 3): x, y (input px), score.
    """
    pooled = F.max_pool2d(maps, 3, stride=1, padding=1)
    peak = (maps == pooled) & (maps > threshold)
    out = []
    for b in range(maps.shape[0]):
        per = []
        for k in range(maps.shape[1]):
            rc = torch.nonzero(peak[b, k])
            rows = []
            for r, c in rc.tolist():
                x, y = _refine(maps, b, k, r, c, offsets, stride)
                rows.append((float(x), float(y), float(maps[b, k, r, c])))
            per.append(np.asarray(rows, np.float32).reshape(-1, 3))
        out.append(per)
    return out


def _paf_score(paf_x, paf_y, p0, p1, stride, n_samples=10):
    """Mean projection of the PAF on the segment p0 -> p1 (PAF (h, w) tensors, points in input px)."""
    h, w = paf_x.shape
    vec = p1 - p0
    length = float(np.linalg.norm(vec))
    if length < 1e-6:
        return 0.0
    unit = vec / length
    t = np.linspace(0, 1, n_samples)
    pts = p0[None] + t[:, None] * vec[None]
    c = np.clip(np.round(pts[:, 0] / stride).astype(int), 0, w - 1)
    r = np.clip(np.round(pts[:, 1] / stride).astype(int), 0, h - 1)
    proj = paf_x[r, c] * unit[0] + paf_y[r, c] * unit[1]
    return float(proj.mean())


def group_bottomup(peaks, pafs, edges, n_nodes: int, stride: int, min_score: float = 0.1):
    """Greedy grouping of part peaks into instances with PAF scores (one image).

    Parameters
    ----------
    peaks : list over nodes of (P, 3) arrays (x, y, score)
    pafs : ndarray (2E, h, w)
    edges : list of (src, dst)

    Returns
    -------
    points : ndarray (N, K, 2) NaN where missing; scores : (N, K); instance_scores : (N,)
    """
    assign = [np.full(len(p), -1, int) for p in peaks]
    instances: list[dict] = []
    for e, (a, b) in enumerate(edges):
        pa, pb = peaks[a], peaks[b]
        cands = []
        for i in range(len(pa)):
            for j in range(len(pb)):
                s = _paf_score(pafs[2 * e], pafs[2 * e + 1], pa[i, :2], pb[j, :2], stride)
                if s > min_score:
                    cands.append((s, i, j))
        cands.sort(reverse=True)
        used_a, used_b = set(), set()
        for s, i, j in cands:
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            ia, ib = assign[a][i], assign[b][j]
            if ia < 0 and ib < 0:
                instances.append({a: i, b: j, "score": s})
                assign[a][i] = assign[b][j] = len(instances) - 1
            elif ia >= 0 and ib < 0:
                if b not in instances[ia]:
                    instances[ia][b] = j
                    instances[ia]["score"] += s
                    assign[b][j] = ia
            elif ib >= 0 and ia < 0:
                if a not in instances[ib]:
                    instances[ib][a] = i
                    instances[ib]["score"] += s
                    assign[a][i] = ib
            elif ia != ib:
                A, B = instances[ia], instances[ib]
                if not (set(A) & set(B)) - {"score"}:
                    A.update({k: v for k, v in B.items() if k != "score"})
                    A["score"] += B["score"] + s
                    for k, v in B.items():
                        if k != "score":
                            assign[k][v] = ia
                    B.clear()
    for k in range(n_nodes):  # unassigned peaks of nodes without edges become their own instances
        for i in range(len(peaks[k])):
            if assign[k][i] < 0 and not any(k in e for e in edges):
                instances.append({k: i, "score": float(peaks[k][i, 2])})
    instances = [d for d in instances if len(d) > 1]
    pts = np.full((len(instances), n_nodes, 2), np.nan, np.float32)
    sc = np.zeros((len(instances), n_nodes), np.float32)
    inst = np.zeros(len(instances), np.float32)
    for n, d in enumerate(instances):
        for k, i in d.items():
            if k == "score":
                continue
            pts[n, k] = peaks[k][i, :2]
            sc[n, k] = peaks[k][i, 2]
        inst[n] = d["score"]
    return pts, sc, inst
