"""``posetrack calibrate``: calibrate a multi-camera rig from ChArUco/checkerboard images.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_calibrate`).
"""

from __future__ import annotations

from pathlib import Path


def calibrate(session, board=None, out=None, *, store=None, reference=None, distortion: str = "k1k2",
              fix_principal_point: bool = False, min_views: int = 3, min_corners: int = 8, report=None,
              overwrite: bool = False):
    """Calibrate the cameras of ``session`` and write ``out``; returns ``(CameraGroup, CalibrationReport)``.

    ``session`` is a :class:`~napari_posetrack.core.multiview.MultiviewSession` or a path.
    """
    import json

    from ..core.errors import PoseTrackError
    from ..core.multiview import CalibrationConfig, MultiviewSession, calibrate_session, load_session, save_calibration
    from ..core.multiview.pipeline import save_to_store

    sess = session if isinstance(session, MultiviewSession) else load_session(session)
    if out is None:
        base = sess.root if sess.source is None else Path(sess.source).parent
        out = base / "calibration.toml"
    out = Path(out)
    if out.exists() and not overwrite:
        raise PoseTrackError(f"{out} already exists.", path=out,
                             hint="Pass --overwrite to replace it, or --out to write elsewhere.")
    if store and not Path(store).exists():
        raise PoseTrackError(f"No project store at {store}.", path=store,
                             hint="Create it first with `posetrack new`, or leave --store out.")
    cfg = CalibrationConfig(reference=reference, distortion=distortion, fix_principal_point=fix_principal_point,
                            min_views=min_views, min_corners=min_corners)
    group, rep = calibrate_session(sess, board, cfg)
    save_calibration(group, out)
    if report:
        Path(report).write_text(json.dumps(rep.to_dict(), indent=1))
    if store:
        sess.calibration = out
        save_to_store(store, group, sess, rep)
    return group, rep

