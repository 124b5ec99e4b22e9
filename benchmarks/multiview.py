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
   proofread labels (median and p90 px per held-out camera), for our calibration and the reference.
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
