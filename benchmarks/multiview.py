"""Multi-camera 3D on the real 4-camera session (``../shared/data/multiview``).

Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multiview.py [--json out.json]

Prints tables:

1. **Calibration** from the 21 ChArUco images per camera: reprojection error per camera
   (median, p95 px) after bundle adjustment, the detections dropped, and the time.
2. **Board held-out check**: the board corners triangulated from 3 cameras and projected into
   the 4th, for our calibration and the reference ``calibration.toml`` (precise 2D points, so
   this measures the calibration alone).
3. **Triangulation** of the proofread 2D labels from all 4 views: reprojection error per node.
4. **Held-out view**: triangulate from 3 views, project into the 4th, compare with its
   proofread labels (median and p90 px per held-out camera), for our calibration and the reference;
   then per node (median / p90 px and the median offset vector), checks of the geometry on the
   mouse's part of the scene (labels inside the board's image region, mouse inside the board's
   3D box, one offset common to all nodes vs each node's own), and the synchronisation check
   (the held-out camera's labels shifted by -2..+2 frames, all frames and moving frames).
5. **Bone lengths**: coefficient of variation of each bone over the 120 frames (ours and the
   reference ``points3d.h5``).
6. **Reference points3d.h5**: its reprojection error in each camera with its own calibration,
   and the distance between its points and ours after a similarity alignment.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multiview"


def _row(cells, widths):
    return "".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(cells, widths)))


def _table(title, header, rows, widths=None):
    widths = widths or [max(14, len(header[0]) + 2)] + [max(10, len(h) + 2) for h in header[1:]]
    print(f"\n## {title}")
    print(_row(header, widths))
    for r in rows:
        print(_row([f"{c:.2f}" if isinstance(c, float) else str(c) for c in r], widths))


def _held_out(views, group, cam_index, config=None, weighted=False):
    """Pixel errors of the held-out camera's labels from the other cameras' 3D points.

    ``weighted``: the other cameras' scores are multiplied by per-camera weights estimated from
    those cameras alone (``view_weights``: their labels' leave-one-out error), never from the
    held-out camera's labels.
    """
    from napari_posetrack.core.multiview import triangulate_views
    from napari_posetrack.core.multiview.consistency import view_weights, weight_views

    keep = [c for j, c in enumerate(views.cameras) if j != cam_index]
    v3 = dataclasses.replace(views, points=np.delete(views.points, cam_index, 0),
                             scores=np.delete(views.scores, cam_index, 0), cameras=keep)
    if weighted:
        v3 = weight_views(v3, view_weights(v3, group, config))
    p3 = triangulate_views(v3, group, config)
    proj = group[views.cameras[cam_index]].project(p3.points)
    return np.linalg.norm(proj - views.points[cam_index], axis=-1)


def _shifted(proj, lab, shift):
    """(proj[t], lab[t + shift]) over the frames where both exist."""
    n = len(lab)
    if shift >= 0:
        return proj[: n - shift], lab[shift:]
    return proj[-shift:], lab[: n + shift]


def _held_out_projection(views, group, cam_index):
    """(T, I, K, 2) pixels in camera ``cam_index`` of the 3D points of the other cameras' labels."""
    from napari_posetrack.core.multiview import triangulate_views

    keep = [c for j, c in enumerate(views.cameras) if j != cam_index]
    v3 = dataclasses.replace(views, points=np.delete(views.points, cam_index, 0),
                             scores=np.delete(views.scores, cam_index, 0), cameras=keep)
    return group[views.cameras[cam_index]].project(triangulate_views(v3, group).points)


def _held_out_per_node(views, group) -> dict:
    """Median and p90 px of each node's held-out error, per held-out camera; and the median offset vector."""
    import warnings

    per, offsets = {}, {}
    for ci, c in enumerate(views.cameras):
        proj = _held_out_projection(views, group, ci)[:, 0]
        d = views.points[ci, :, 0] - proj  # (T, K, 2): label minus where the other cameras put the node
        e = np.linalg.norm(d, axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            off = np.nanmedian(d, axis=0)
        for k, node in enumerate(views.node_names):
            x = e[:, k][np.isfinite(e[:, k])]
            per.setdefault(node, {})[c] = [float(np.median(x)), float(np.percentile(x, 90)), int(len(x))] if len(x) \
                else None
        offsets[c] = {views.node_names[k]: off[k].tolist() for k in range(len(views.node_names))
                      if np.isfinite(off[k]).all()}
    rows = [[node] + [f"{v[0]:.1f} / {v[1]:.1f}" if v else "-" for v in (per[node][c] for c in views.cameras)]
            for node in views.node_names]
    _table("Held-out view per node: median / p90 px of each camera's labels from the other three cameras' 3D point",
           ["node"] + list(views.cameras), rows, [16] + [15] * len(views.cameras))
    print("median offset (label - reprojection, x, y px) per node:")
    for c in views.cameras:
        print(f"  {c}: " + ", ".join(f"{n} ({x:+.0f},{y:+.0f})" for n, (x, y) in offsets[c].items()))
    return {"per_node": per, "offsets": offsets}


def _geometry_checks(views, group, dets, corners) -> dict:
    """Checks of the calibration on the mouse's part of the scene, independent of the labels' accuracy.

    * the labels lie inside the image region the board covered (convex hull of all detected
      corners), so the lens model is not extrapolated;
    * the mouse's 3D points lie inside the box spanned by the board corners in 3D;
    * a camera whose extrinsics were off would shift all nodes alike: the median offset vector
      common to the nodes against the nodes' own offsets.
    """
    import cv2

    from napari_posetrack.core.multiview import triangulate_points, triangulate_views

    out, rows = {}, []
    poses = triangulate_views(views, group)
    board3d = triangulate_points(group.subset(list(dets)), corners).points3d
    b = board3d[np.isfinite(board3d).all(1)]
    m = poses.points.reshape(-1, 3)
    m = m[np.isfinite(m).all(1)]
    lo, hi = b.min(0), b.max(0)
    inside3d = float(((m >= lo) & (m <= hi)).all(1).mean())
    for ci, c in enumerate(views.cameras):
        allc = np.concatenate([d.corners for d in dets[c]]).astype(np.float32)
        hull = cv2.convexHull(allc)
        lab = views.points[ci][np.isfinite(views.points[ci]).all(-1)]
        inside = float(np.mean([cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in lab]))
        proj = _held_out_projection(views, group, ci)[:, 0]
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            off = np.nanmedian(views.points[ci, :, 0] - proj, axis=0)
        off = off[np.isfinite(off).all(1)]
        common = np.median(off, 0)
        own = float(np.median(np.linalg.norm(off, axis=1)))
        left = float(np.median(np.linalg.norm(off - common, axis=1)))
        # the held-out error if this camera's image were moved by the common offset: the most any
        # correction of its pose could give (fitted on its own labels, so an optimistic bound)
        moved = float(np.nanmedian(np.linalg.norm(views.points[ci, :, 0] - common - proj, axis=-1)))
        rows.append([c, inside, float(np.linalg.norm(common)), own, left, moved])
        out[c] = {"labels_inside_board_hull": inside, "common_shift_px": common.tolist(), "node_offset_px": own,
                  "after_common_shift_px": left, "held_out_median_after_common_shift_px": moved}
    _table("Geometry on the mouse: labels inside the board's image region; one shift common to all nodes vs "
           "each node's own offset (medians, px); held-out median with the common shift removed",
           ["camera", "in board", "common px", "node px", "node - common", "held-out"], rows)
    box = ", ".join(f"{a} {lo[j]:.0f}..{hi[j]:.0f}" for j, a in enumerate("xyz"))
    span = ", ".join(f"{a} {m[:, j].min():.0f}..{m[:, j].max():.0f}" for j, a in enumerate("xyz"))
    print(f"mouse 3D points inside the board corners' 3D box: {inside3d:.3f} (board {box} mm; mouse {span} mm)")
    out["mouse_inside_board_box_3d"] = inside3d
    return out


def _sync_check(views, group, shifts=(-2, -1, 0, 1, 2), moving_px: float = 1.0) -> dict:
    """Held-out median when the held-out camera's labels are shifted by ``shifts`` frames.

    All frames, and the frames where that camera's nodes move more than ``moving_px`` (median
    over nodes) to the next frame, where a synchronisation error would show most.
    """
    out, rows = {}, []
    for ci, c in enumerate(views.cameras):
        proj = _held_out_projection(views, group, ci)
        lab = views.points[ci]
        motion = np.nanmedian(np.linalg.norm(np.diff(lab[:, 0], axis=0), axis=-1), axis=1)
        moving = np.flatnonzero(motion > moving_px)
        row_all, row_mov = [], []
        for sh in shifts:
            p, q = _shifted(proj, lab, sh)
            row_all.append(float(np.nanmedian(np.linalg.norm(p - q, axis=-1))))
            idx = np.array([t for t in moving if 0 <= t + sh < len(lab)], int)
            row_mov.append(float(np.nanmedian(np.linalg.norm(proj[idx] - lab[idx + sh], axis=-1))) if len(idx)
                           else float("nan"))
        rows.append([c, "all"] + row_all)
        rows.append([c, f"moving ({len(moving)})"] + row_mov)
        out[c] = {"shifts": list(shifts), "all": row_all, "moving": row_mov, "moving_frames": int(len(moving))}
    _table("Synchronisation: held-out median (px) with the held-out camera's labels shifted by s frames",
           ["camera", "frames"] + [f"s={s:+d}" for s in shifts], rows, [8, 13] + [9] * len(shifts))
    return out


def _umeyama(src, dst):
    """Similarity (s, R, t) minimising |s R src + t - dst|."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, d, vt = np.linalg.svd(b.T @ a / len(src))
    s_ = np.eye(3)
    s_[2, 2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ s_ @ vt
    scale = np.trace(np.diag(d) @ s_) / a.var(0).sum()
    return scale, rot, mu_d - scale * rot @ mu_s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write all figures to this JSON file")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"real data not found at {DATA}")
        return 1
    import h5py

    from napari_posetrack.core.multiview import (CalibrationConfig, bone_lengths, calibrate_detections,
                                                 detect_session, load_board, load_calibration, load_session,
                                                 triangulate_points, triangulate_views)

    out: dict = {}
    session = load_session(DATA)
    board = load_board(DATA / "board.toml")
    ref = load_calibration(DATA / "calibration.toml")

    # 1. calibration -----------------------------------------------------------------------
    t0 = time.perf_counter()
    dets = detect_session(session, board)
    t_detect = time.perf_counter() - t0
    t0 = time.perf_counter()
    group, report = calibrate_detections(dets, board, CalibrationConfig())
    t_cal = time.perf_counter() - t0
    _table(f"Calibration (detection {t_detect:.1f} s for {sum(map(len, dets.values()))} images, "
           f"calibration + bundle adjustment {t_cal:.1f} s)",
           ["camera", "views", "corners", "median px", "p95 px", "f px", "k1", "k2"],
           [[r["camera"], r["views"], r["corners"], r["median_px"], r["p95_px"], float(group[r["camera"]].matrix[0, 0]),
             f"{group[r['camera']].dist[0]:.3f}", f"{group[r['camera']].dist[1]:.3f}"] for r in report.per_camera])
    for d in report.dropped:
        print(f"dropped {d['camera']} {d['source']}: {d['reason']}")
    if not report.dropped:
        print("no detection dropped")
    worst_view = max(report.per_view, key=lambda r: r["median_px"])
    print(f"worst board view: {worst_view['camera']} {worst_view['source']} median {worst_view['median_px']:.2f} px, "
          f"max {worst_view['max_px']:.2f} px")
    out["calibration"] = {"per_camera": report.per_camera, "dropped": report.dropped, "detect_s": t_detect,
                          "calibrate_s": t_cal}

    # 2. board held-out -----------------------------------------------------------------------
    cams = list(dets)
    keys = sorted({d.key for c in cams for d in dets[c]})
    corners = np.full((len(cams), len(keys), board.n_corners, 2), np.nan)
    for ci, c in enumerate(cams):
        for d in dets[c]:
            corners[ci, keys.index(d.key), d.ids] = d.corners
    corners = corners.reshape(len(cams), -1, 2)
    rows, out["board_held_out"] = [], {}
    for ci, c in enumerate(cams):
        keep = [j for j in range(len(cams)) if j != ci]
        row = [c]
        for name, cal in (("ours", group), ("reference", ref)):
            r = triangulate_points(cal.subset([cams[j] for j in keep]), corners[keep])
            e = np.linalg.norm(cal[c].project(r.points3d) - corners[ci], axis=-1)
            row += [float(np.nanmedian(e)), float(np.nanpercentile(e, 90))]
            out["board_held_out"][f"{name}/{c}"] = row[-2:]
        rows.append(row)
    _table("Board corners: triangulate from 3 cameras, project into the 4th (px)",
           ["held out", "ours med", "ours p90", "ref med", "ref p90"], rows)

    # 3. triangulation of the proofread labels ----------------------------------------------------
    t0 = time.perf_counter()
    views = session.load_views()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    poses = triangulate_views(views, group)
    t_tri = time.perf_counter() - t0
    rows = []
    for k, node in enumerate(views.node_names):
        e = poses.view_error_px[:, :, k][poses.used[:, :, k]]
        rows.append([node, float(np.median(e)), float(np.percentile(e, 90)), float(poses.n_views[:, :, k].mean()),
                     int(poses.rejected[:, :, k].sum())])
    e_all = poses.view_error_px[poses.used]
    rows.append(["all", float(np.median(e_all)), float(np.percentile(e_all, 90)), float(poses.n_views.mean()),
                 int(poses.rejected.sum())])
    _table(f"Triangulation of the proofread labels, 4 views (load {t_load:.1f} s, triangulate {t_tri:.2f} s for "
           f"{poses.points.shape[0]} frames x {len(views.node_names)} nodes); "
           "reprojection error in the views used (px)",
           ["node", "median", "p90", "views", "rejected"], rows)
    rej = {c: int(poses.rejected[..., i].sum()) for i, c in enumerate(poses.cameras)}
    print(f"2D points rejected (> {20.0:.0f} px from the other views) per camera: {rej}; status counts: "
          f"{poses.counts()}")
    out["triangulation"] = {"per_node": rows, "rejected": rej, "counts": poses.counts(), "triangulate_s": t_tri}

    # 4. held-out view -----------------------------------------------------------------------
    rows, out["held_out"] = [], {}
    for ci, c in enumerate(views.cameras):
        e = _held_out(views, group, ci)
        er = _held_out(views, ref, ci)
        rows.append([c, float(np.nanmedian(e)), float(np.nanpercentile(e, 90)), int(np.isfinite(e).sum()),
                     float(np.nanmedian(er)), float(np.nanpercentile(er, 90))])
        out["held_out"][c] = rows[-1][1:]
    _table("Held-out view: triangulate from the other 3, project into this one, compare with its labels (px)",
           ["held out", "median", "p90", "points", "ref med", "ref p90"], rows)
    from napari_posetrack.core.multiview import TriangulationConfig
    from napari_posetrack.core.multiview.consistency import view_weights

    rows = []
    for label, cfg in (("RANSAC, 10 px", TriangulationConfig(max_error_px=10)),
                       ("RANSAC, 20 px (default)", TriangulationConfig()),
                       ("RANSAC, 30 px", TriangulationConfig(max_error_px=30)),
                       ("all views, no rejection", TriangulationConfig(ransac=False, max_error_px=1e9)),
                       ("default, no refinement", TriangulationConfig(refine=False))):
        rows.append([label] + [float(np.nanmedian(_held_out(views, group, ci, cfg)))
                               for ci in range(len(views.cameras))])
    for label, cfg in (("RANSAC 20 px, view weights", TriangulationConfig()),
                       ("no rejection, view weights", TriangulationConfig(ransac=False, max_error_px=1e9))):
        rows.append([label] + [float(np.nanmedian(_held_out(views, group, ci, cfg, weighted=True)))
                               for ci in range(len(views.cameras))])
    _table("Held-out median (px) by triangulation setting", ["setting"] + list(views.cameras), rows,
           [26] + [10] * len(views.cameras))
    out["held_out_settings"] = rows
    # which labels of the held-out view sit nearer another node's reprojection than their own
    w_all = view_weights(views, group)
    print("per-camera weights from all four cameras' leave-one-out errors: "
          + ", ".join(f"{c} {w:.2f}" for c, w in w_all.items()))
    out["view_weights"] = w_all
    print("\nlabels nearer another node's held-out reprojection (label -> node, own px vs other px, medians):")
    out["confusions"] = {}
    for ci, c in enumerate(views.cameras):
        keep = [x for j, x in enumerate(views.cameras) if j != ci]
        v3 = dataclasses.replace(views, points=np.delete(views.points, ci, 0),
                                 scores=np.delete(views.scores, ci, 0), cameras=keep)
        proj = group[c].project(triangulate_views(v3, group).points)[:, 0]
        lab = views.points[ci, :, 0]
        with np.errstate(invalid="ignore"):
            dist = np.linalg.norm(lab[:, :, None] - proj[:, None, :], axis=-1)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(dist, axis=0)
        med = np.where(np.isnan(med), np.inf, med)
        found = [(views.node_names[k], views.node_names[int(np.argmin(med[k]))], float(med[k, k]), float(med[k].min()))
                 for k in range(len(views.node_names)) if np.isfinite(med[k, k]) and np.argmin(med[k]) != k]
        out["confusions"][c] = found
        print(f"  {c}: " + ("; ".join(f"{a} -> {b} ({x:.1f} vs {y:.1f})" for a, b, x, y in found) or "none"))

    out["held_out_per_node"] = _held_out_per_node(views, group)
    out["geometry"] = _geometry_checks(views, group, dets, corners)
    out["synchronisation"] = _sync_check(views, group)

    # 5. bone lengths ------------------------------------------------------------------------
    with h5py.File(DATA / "points3d.h5", "r") as f:
        ref3d = np.asarray(f["tracks"][:], float)  # (120, 1, 15, 3)
    ours_b, ref_b = bone_lengths(poses.points, views.edges), bone_lengths(ref3d, views.edges)
    rows = []
    for j, (a, b) in enumerate(views.edges):
        lo, lr = ours_b[:, 0, j], ref_b[:, 0, j]
        rows.append([f"{views.node_names[a]}-{views.node_names[b]}", float(np.nanmean(lo)),
                     float(np.nanstd(lo) / np.nanmean(lo)), float(np.nanmean(lr)),
                     float(np.nanstd(lr) / np.nanmean(lr))])
    cv_o = np.nanmedian([r[2] for r in rows])
    cv_r = np.nanmedian([r[4] for r in rows])
    rows.append(["median", "", float(cv_o), "", float(cv_r)])
    _table("Bone lengths over the 120 frames (mm; CV = std / mean)", ["bone", "ours mm", "ours CV", "ref mm",
                                                                      "ref CV"], rows, [22, 10, 10, 10, 10])
    out["bones"] = rows

    # 6. the reference 3D points ----------------------------------------------------------------
    rows = []
    for ci, c in enumerate(views.cameras):
        er = np.linalg.norm(ref[c].project(ref3d) - views.points[ci], axis=-1)
        eo = np.linalg.norm(group[c].project(poses.points) - views.points[ci], axis=-1)
        rows.append([c, float(np.nanmedian(er)), float(np.nanpercentile(er, 90)), float(np.nanmedian(eo)),
                     float(np.nanpercentile(eo, 90))])
    _table("Reprojection into each camera's labels (px): reference points3d.h5 with its calibration vs ours",
           ["camera", "ref med", "ref p90", "ours med", "ours p90"], rows)
    ok = np.isfinite(ref3d).all(-1) & np.isfinite(poses.points).all(-1)
    s, rot, t = _umeyama(poses.points[ok], ref3d[ok])
    aligned = poses.points[ok] @ rot.T * s + t
    dist = np.linalg.norm(aligned - ref3d[ok], axis=-1)
    print(f"ours vs reference 3D after similarity alignment: scale {s:.3f}, median {np.median(dist):.2f} mm, "
          f"p90 {np.percentile(dist, 90):.2f} mm over {int(ok.sum())} points")
    out["reference"] = {"reprojection": rows, "scale": float(s), "median_mm": float(np.median(dist))}
    side, top = ref["side"], ref["top"]
    same = all(np.allclose(getattr(side, a), getattr(top, a)) for a in ("matrix", "rvec", "tvec"))
    apart = np.linalg.norm(group["side"].center - group["top"].center)
    print(f"reference calibration: side and top identical: {same}; our focal lengths side "
          f"{group['side'].matrix[0, 0]:.1f} px, top {group['top'].matrix[0, 0]:.1f} px; "
          f"camera centres {apart:.0f} mm apart")
    print(f"\ntimes: detection {t_detect:.1f} s, calibration {t_cal:.1f} s, loading labels {t_load:.1f} s, "
          f"triangulation {t_tri:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
