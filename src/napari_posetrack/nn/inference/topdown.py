"""Top-down predictor: the centroid model finds each animal (and its heading) on the frame, then the
centred-instance model predicts the pose on a crop per animal.

Crops are drawn through one affine map per animal (:mod:`..align`): rotated heading-up when the
model was trained with a heading node, tried turned round when the heading is unsure, and
re-centred on the anchor node the crop model found when the coarse centroid was off.
"""

from __future__ import annotations

import math

from ...core.errors import ConfigError
from .predictors import Predictor, _inside_frame

__all__ = ["TopDownPredictor"]


class TopDownPredictor(Predictor):
    """Centroid model on the frame, then the centred-instance model on a crop per anchor."""

    kind = "topdown"

    def __init__(self, stages, device, settings=None, model_dir=None):
        super().__init__(stages, device, settings, model_dir)
        ci = self.stages["centered_instance"].cfg
        self.crop_size = int(ci.model.crop_size or ci.data.get("crop_size", 0) or 0)
        if self.crop_size <= 0:
            raise ConfigError(
                f"The centered-instance model in {model_dir} does not say its crop size "
                "(model.crop_size and data.crop_size are empty).",
                hint="Set model.crop_size in centered_instance/config.yaml to the crop size used in training.")
        from ..align import node_index

        #: crops are rotated heading-up (the model was trained with a heading node)
        names = ci.skeleton.get("node_names", [])
        self.aligned = node_index(ci.model.heading_node, names) is not None
        self.anchor_index = node_index(ci.model.anchor_node, names)
        self.heading_index = node_index(ci.model.heading_node, names)
        #: left/right node pairs (left, right) by their side in the aligned training crops (see resolve_sides)
        self.sides = [tuple(p) for p in ci.data.get("pair_sides", [])] if self.aligned else []
        #: node order of a mirrored crop (left/right pairs swapped), for ``flip_test``; None without pairs
        self.mirror_order = mirror_order(self.n_nodes, ci.skeleton.get("symmetries") or [])

    def anchors(self, frames_u8):
        """Centroid peaks of a batch: b (M,), xy (M, 2) original px, value (M,), heading angle (M,) and its
        confidence (M,) (NaN / 0 when the centroid model has no heading head)."""
        import torch

        from ..align import read_heading
        from .decode import local_points

        st = self.stages["centroid"]
        out = st.forward(st.prepare(frames_u8.permute(0, 3, 1, 2)))
        offsets = out.get("offsets") if st.has_offsets else None
        b, _, xy, val = local_points(out["centroids"], offsets, st.stride, self.settings.centroid_threshold,
                                     self.settings.refine)
        if "heading" in out:
            phi, conf = read_heading(out["heading"], b, xy)
        else:
            phi, conf = torch.full_like(val, float("nan")), torch.zeros_like(val)
        return b, st.to_original(xy), val, phi, conf

    def _best_anchors(self, n, b, axy, aval, phi, conf):
        """Anchors worth a crop: strongest first; a weaker anchor closer than ``anchor_nms`` x the crop size
        to a stronger one of the same frame is dropped (the centroid model often puts two peaks on one
        animal); with ``max_instances``, at most twice that many per frame (a margin: false anchors give
        low-scoring poses, removed after)."""
        import torch

        if not len(b):
            return b, axy, aval, phi, conf
        order = torch.argsort(aval, descending=True, stable=True)
        b, axy, aval, phi, conf = b[order], axy[order], aval[order], phi[order], conf[order]
        radius = float(self.settings.anchor_nms) * self.crop_size
        max_inst = self.settings.filters.max_instances
        keep = torch.zeros(len(b), dtype=torch.bool, device=b.device)
        for i in range(n):
            idx = (b == i).nonzero(as_tuple=True)[0]
            kept = []
            for j in idx.tolist():
                if max_inst is not None and len(kept) >= 2 * int(max_inst):
                    break
                if radius > 0 and kept and bool(((axy[kept] - axy[j]).norm(dim=1) < radius).any()):
                    continue
                kept.append(j)
            keep[kept] = True
        return b[keep], axy[keep], aval[keep], phi[keep], conf[keep]

    def _crop_extra(self, out):
        """Hook: what else a subclass reads from the centred-instance outputs ``out`` of a batch of crops, as a
        tensor (B, E) that follows the crop whose pose is kept (the identity predictor's class probabilities);
        None (the default) for nothing."""
        return None

    def _crop_predict(self, frames, b, A, n_in, frame_scale=1.0):
        """Centred-instance predictions on crops (M,) given by affine maps A: frame px points (M, K, 2), scores."""
        pts, val, _ = self._crop_run(frames, b, A, n_in, frame_scale)
        return pts, val

    def _crop_run(self, frames, b, A, n_in, frame_scale=1.0):
        """:meth:`_crop_predict` plus the :meth:`_crop_extra` of each crop (M, E), or None."""
        import torch

        from ..align import points_from_crop, sample_crops
        from .decode import global_points, resolve_sides

        st = self.stages["centered_instance"]
        pts = torch.zeros((len(b), self.n_nodes, 2), device=frames.device)
        val = torch.zeros((len(b), self.n_nodes), device=frames.device)
        extra = None
        step = max(1, self.settings.crop_batch)
        for lo in range(0, len(b), step):
            sl = slice(lo, lo + step)
            crops = sample_crops(frames, b[sl], A[sl], n_in, frame_scale)
            out = self._crop_forward(st, crops)
            offsets = out.get("offsets") if st.has_offsets else None
            xy, v = global_points(out["confmaps"], offsets, st.stride, self.settings.peak_threshold,
                                  self.settings.refine)
            if self.sides and self.settings.pair_sides:
                xy, v = resolve_sides(out["confmaps"], xy, v, self.sides, self.settings.peak_threshold)
            pts[sl] = points_from_crop(xy * st.stride, A[sl])
            val[sl] = v
            e = self._crop_extra(out)
            if e is not None:
                if extra is None:
                    extra = torch.zeros((len(b), e.shape[1]), dtype=e.dtype, device=frames.device)
                extra[sl] = e
        return pts, val, extra

    def _crop_forward(self, st, crops) -> dict:
        """Centred-instance outputs of a batch of crops; with ``flip_test`` (and left/right pairs, no offset
        heads) the confidence maps are averaged with those of the mirrored crops, mirrored back."""
        out = st.forward(crops)
        if self.settings.flip_test and self.mirror_order is not None and not getattr(st, "has_offsets", False):
            mirrored = st.forward(crops.flip(-1))["confmaps"]
            out["confmaps"] = 0.5 * (out["confmaps"] + unmirror_maps(mirrored, self.mirror_order, crops.shape[-1],
                                                                    st.stride))
        return out

    def _recenter(self, frames, b, A, pts, val, n_in, fscale, extra=None):
        """Second crop pass where the crop model puts the anchor node (or, aligned, the heading) clearly away
        from where the centroid model said: the crop is re-centred on the predicted anchor (and turned to the
        predicted heading) and predicted again; the better-scoring pose of the two is kept. The centroid model
        is coarse (its input is a fraction of the frame), the crop model is not. Returns ``(pts, val, extra)``."""
        import math

        import torch

        from ..align import crop_affine

        st = self.stages["centered_instance"]
        ai, hi = self.anchor_index, self.heading_index
        if ai is None or not len(b):
            return pts, val, extra
        anc = pts[:, ai]
        ok = torch.isfinite(anc).all(1) & (torch.nan_to_num(val[:, ai], nan=0.0) >= self.settings.peak_threshold)
        centre = A[:, :, 2] + A[:, :, :2].sum(-1) * (n_in - 1) / 2.0  # frame px of the crop centre
        shift = (anc - centre).norm(dim=1)
        # a crop whose anchor node lands far away found a neighbour, not its own animal: leave it
        ok = ok & (shift < 0.25 * self.crop_size)
        moved = shift > self.settings.recenter_px * self.crop_size
        angle = torch.atan2(A[:, 1, 1], A[:, 0, 1])  # frame direction of the crop's "down" (+y) axis
        if self.aligned and hi is not None:
            head = pts[:, hi]
            d = head - anc
            hok = ok & torch.isfinite(head).all(1) & (d.norm(dim=1) > 1.0)  # a degenerate heading says nothing
            phi = torch.atan2(d[:, 1], d[:, 0])
            turn = torch.remainder(phi + math.pi - angle + math.pi, 2 * math.pi) - math.pi  # heading vs crop "up"
            moved = moved | (hok & (turn.abs() > math.radians(20)))
            alpha = torch.where(hok, phi + math.pi / 2, angle - math.pi / 2)
        else:
            alpha = angle - math.pi / 2
        redo = (ok & moved).nonzero(as_tuple=True)[0]
        if not len(redo):
            return pts, val, extra
        A2 = crop_affine(anc[redo].float(), alpha[redo].float(), n_in, st.scale)
        p2, v2, e2 = self._crop_run(frames, b[redo], A2, n_in, fscale)
        _keep_better(pts, val, redo, p2, v2, ties_to_new=True, extra=extra, e2=e2)
        return pts, val, extra

    def crop_source(self, frames_u8):
        """Frames as the crop model samples them: channels converted, [0, 1], shrunk with antialiasing when the
        crops are much smaller than the frame (as in training). ``frames_u8`` may also be float in [0, 1] already
        (as ``_Stage.prepare`` accepts; live mode converts a frame once for both stages). Returns ``(frames,
        frame_scale, crop input side)``."""
        import torch

        from ..align import crop_input_side
        from ..preprocess import convert_channels, scale_images

        st = self.stages["centered_instance"]
        frames = frames_u8.permute(0, 3, 1, 2)
        frames = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
        frames = convert_channels(frames, st.channels)
        fscale = st.scale if st.scale < 0.75 else 1.0
        if fscale != 1.0:
            frames = scale_images(frames, fscale)
        return frames, fscale, crop_input_side(self.crop_size, st.scale, st.pad_to)

    def run_batch(self, frames_u8):
        import math

        import torch

        from ..align import crop_affine

        n = frames_u8.shape[0]
        b, axy, aval, phi, conf = self._best_anchors(n, *self.anchors(frames_u8))
        st = self.stages["centered_instance"]
        h, w = frames_u8.shape[1:3]
        frames, fscale, n_in = self.crop_source(frames_u8)
        aligned = self.aligned and bool(torch.isfinite(phi).any())
        alpha = torch.where(torch.isfinite(phi), phi + math.pi / 2, torch.zeros_like(phi)) if aligned else \
            torch.zeros(len(b), device=frames.device)
        A = crop_affine(axy.float(), alpha, n_in, st.scale)
        pts, val, extra = self._crop_run(frames, b, A, n_in, fscale)
        if aligned:  # an unsure heading may point backwards: also try the crop turned round, keep the better
            unsure = (conf < self.settings.heading_check).nonzero(as_tuple=True)[0]
            if len(unsure):
                A2 = crop_affine(axy[unsure].float(), alpha[unsure] + math.pi, n_in, st.scale)
                p2, v2, e2 = self._crop_run(frames, b[unsure], A2, n_in, fscale)
                _keep_better(pts, val, unsure, p2, v2, extra=extra, e2=e2)
        if self.settings.recenter:
            pts, val, extra = self._recenter(frames, b, A, pts, val, n_in, fscale, extra)
        pts, val, b = pts.cpu().numpy(), val.cpu().numpy(), b.cpu().numpy()
        pts = _inside_frame(pts, h, w)
        return self._per_frame(pts, val, b, n, None if extra is None else extra.float().cpu().numpy())

    def _per_frame(self, pts, val, b, n, extra):
        """Per-frame filtered results from the kept crops (``b`` = frame of each crop; ``extra`` (M, E) or None,
        see :meth:`_crop_extra`)."""
        return [self._filtered(pts[b == i], val[b == i]) for i in range(n)]


def _keep_better(pts, val, idx, p2, v2, *, ties_to_new: bool = False, extra=None, e2=None) -> None:
    """Replace poses ``idx`` of ``pts``/``val`` (in place) by the second try ``p2``/``v2`` where it scores higher
    (mean node score, missing nodes as 0; also on a tie with ``ties_to_new``); ``extra`` rows follow (from ``e2``)."""
    import torch

    new = torch.nan_to_num(v2, nan=0.0).clamp_min(0).mean(1)
    old = torch.nan_to_num(val[idx], nan=0.0).clamp_min(0).mean(1)
    better = new >= old if ties_to_new else new > old
    pts[idx[better]] = p2[better]
    val[idx[better]] = v2[better]
    if extra is not None and e2 is not None:
        extra[idx[better]] = e2[better]


def mirror_order(n_nodes: int, symmetries) -> list | None:
    """Channel order that turns the maps of a mirrored image into left/right-correct maps (each pair's two
    nodes swapped); None when there are no pairs (a mirrored crop would then teach nothing)."""
    order = list(range(n_nodes))
    for pair in symmetries:
        a, b = int(pair[0]), int(pair[1])
        if 0 <= a < n_nodes and 0 <= b < n_nodes and a != b:
            order[a], order[b] = b, a
    return order if order != list(range(n_nodes)) else None


def unmirror_maps(maps, order, width_in: int, stride: int):
    """Maps (B, K, H, W) predicted on images mirrored left-right (input width ``width_in``), back on the
    original image's grid: channels reordered, columns reversed and shifted by the fraction of a cell by
    which the mirrored grid misses the original one.

    Grid column ``c`` sits at input x = ``c * stride``. Mirrored, column ``c`` looked at input x
    ``width_in - 1 - c * stride``, so after reversing, column ``k`` sits at ``k * stride + d`` with
    ``d = width_in - 1 - stride * (W - 1)``; the result at ``c * stride`` is interpolated from its neighbours.
    """
    import torch

    m = maps[:, order].flip(-1)
    w = m.shape[-1]
    s = (width_in - 1 - stride * (w - 1)) / float(stride)  # reversed column k sits at original column k + s
    whole = int(math.floor(s))
    frac = s - whole
    if whole:
        m = torch.roll(m, shifts=whole, dims=-1)
        if whole > 0:
            m[..., :whole] = 0
        else:
            m[..., whole:] = 0
    if frac > 1e-6:  # value at column c: (1 - frac) x column c + frac x column c - 1
        prev = torch.cat([torch.zeros_like(m[..., :1]), m[..., :-1]], dim=-1)
        m = (1.0 - frac) * m + frac * prev
    return m
