"""``posetrack triangulate``: 3D poses from the 2D poses of a calibrated multi-camera session.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_triangulate`).
"""

from __future__ import annotations

from pathlib import Path


def triangulate(session, out, *, views=None, calibration=None, store=None, max_error_px: float = 20.0,
                ransac: bool = True, min_score: float = 0.0, table: str = "auto", allow_unequal: bool = False,
                bone_tolerance=None, smooth: int = 0, estimate_offsets=None, fps=None, messages=None,
                suspects=None, overwrite: bool = False):
    """Triangulate ``session`` and write ``out`` (a path or a list of .csv/.nc/.nwb paths); returns the Poses3D."""
    from ..core.errors import PoseTrackError
    from ..core.multiview import (MultiviewSession, TriangulationConfig, constrain_bones, load_calibration,
                                  load_session, smooth_poses, triangulate_session)
    from ..core.multiview.pipeline import load_from_store

    outs = [Path(o) for o in ([out] if isinstance(out, (str, Path)) else out)]
    for o in outs:
        if o.suffix.lower() not in (".csv", ".nc", ".nwb"):
            raise PoseTrackError(f"Cannot write 3D poses to {o.name}.", path=o,
                                 hint="Use .csv, .nc (movement netCDF) and/or .nwb outputs.")
        if o.exists() and not overwrite:
            raise PoseTrackError(f"{o} already exists.", path=o, hint="Pass --overwrite to replace it.")
    sess = session if isinstance(session, MultiviewSession) else load_session(session)
    sess = sess.select(views)
    if store:
        group = load_from_store(store)
    elif calibration:
        group = load_calibration(calibration)
    else:
        group = None
    if group is not None:
        group = _check_cameras(group, sess, calibration or store)
    if estimate_offsets:
        import dataclasses

        from ..core.multiview import estimate_offsets as _estimate

        offsets, _ = _estimate(sess, group, max_shift=int(estimate_offsets), table=table)
        sess = dataclasses.replace(sess, cameras=[dataclasses.replace(c, offset=offsets[c.name])
                                                  for c in sess.cameras])
        allow_unequal = True  # the videos may still end at different frames
    cfg = TriangulationConfig(max_error_px=max_error_px, ransac=ransac, min_score=min_score)
    poses = triangulate_session(sess, group, config=cfg, table=table, allow_unequal=allow_unequal)
    if bone_tolerance is not None:
        poses, _ = constrain_bones(poses, bone_tolerance)
    if smooth and smooth > 1:
        poses = smooth_poses(poses, smooth)
    for o in outs:
        poses.save(o, fps=fps)
    if messages:
        Path(messages).write_text("\n".join(poses.messages()) + "\n")
    if suspects:
        from ..core.multiview.suspects import reprojection_suspects, write_suspects_csv

        write_suspects_csv(reprojection_suspects(poses, max_error_px), suspects)
    return poses


def _check_cameras(group, sess, where):
    from ..core.multiview import CalibrationError

    missing = [n for n in sess.names if n not in group.names]
    if missing:
        raise CalibrationError(f"Camera(s) {missing} of the session have no calibration in {where} (it calibrates "
                               f"{group.names}).", hint="Calibrate those cameras too (`posetrack calibrate`), or leave "
                               "them out with --views.")
    return group.subset(sess.names)

