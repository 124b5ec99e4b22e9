"""3D poses of a session: the triangulation result, its per-point messages and its exports.

:class:`Poses3D` holds ``points`` (T, I, K, 3) in world units (the board's, mm), with per point
``error_px`` (mean reprojection error over the views used), ``n_views`` and ``status``, and per
point and view the masks ``used`` / ``rejected`` (T, I, K, C). Exports:

* CSV, one row per (frame, individual, node): ``x, y, z, error_px, n_views, views, status``;
* movement-style netCDF: ``position`` (time, space=[x, y, z], keypoints, individuals),
  ``confidence`` (the fraction of available views used), and extra variables ``error_px``,
  ``n_views``, ``status``; the camera names and skeleton are attributes;
* NWB (ndx-pose): one ``PoseEstimation`` of (x, y, z) series per animal, with its skeleton.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TriangulationError
from .triangulate import BONE_LENGTH, OK, STATUS_TEXT, TOO_FEW_VIEWS

__all__ = ["Poses3D", "bone_lengths", "load_netcdf3d"]


@dataclass
class Poses3D:
    points: np.ndarray
    error_px: np.ndarray
    n_views: np.ndarray
    status: np.ndarray
    used: np.ndarray
    available: np.ndarray
    rejected: np.ndarray
    view_error_px: np.ndarray
    frames: np.ndarray
    cameras: list[str]
    individuals: list[str]
    node_names: list[str]
    edges: list[tuple[int, int]] = field(default_factory=list)
    units: str = "mm"
    offsets: dict = field(default_factory=dict)  # camera -> frame offset used (session frame t = its frame t + o)

    @property
    def shape(self):
        return self.points.shape[:3]

    def counts(self) -> dict[str, int]:
        """How many (frame, individual, node) points have each status, counting only labelled points."""
        labelled = self.available.any(-1)
        out = {text: int(((self.status == s) & labelled).sum()) for s, text in STATUS_TEXT.items()
               if s != BONE_LENGTH or (self.status == BONE_LENGTH).any()}
        out["not labelled in any view"] = int((~labelled).sum())
        return out

    def messages(self, limit: int | None = None) -> list[str]:
        """One line per labelled point without a 3D position, and per rejected 2D point."""
        out = []
        t_i, i_i, k_i = np.nonzero(self.available.any(-1) & (self.status != OK))
        for t, i, k in zip(t_i, i_i, k_i):
            seen = [c for c, a in zip(self.cameras, self.available[t, i, k]) if a]
            who = f"frame {int(self.frames[t])}, {self.individuals[i]}, node {self.node_names[k]}"
            if self.status[t, i, k] == TOO_FEW_VIEWS:
                out.append(f"{who}: seen in {len(seen)} view{'s' if len(seen) != 1 else ''} ({', '.join(seen)}); "
                           "at least 2 are needed, so it has no 3D position")
            elif self.status[t, i, k] == BONE_LENGTH:
                out.append(f"{who}: a bone to it is far from its median length; its 3D point was dropped")
            else:
                errs = ", ".join(f"{c} {e:.1f} px" for c, e, a in zip(self.cameras, self.view_error_px[t, i, k],
                                                                       self.available[t, i, k]) if a)
                out.append(f"{who}: the views disagree (reprojection errors {errs}); no 3D position")
            if limit and len(out) >= limit:
                return out
        t_i, i_i, k_i, c_i = np.nonzero(self.rejected & (self.status[..., None] == OK))
        for t, i, k, c in zip(t_i, i_i, k_i, c_i):
            out.append(f"frame {int(self.frames[t])}, {self.individuals[i]}, node {self.node_names[k]}: the "
                       f"{self.cameras[c]} point is {self.view_error_px[t, i, k, c]:.1f} px from the 3D point of the "
                       "other views; left out (check that label)")
            if limit and len(out) >= limit:
                break
        return out

    def reprojection_outliers(self) -> list[dict]:
        """Rejected 2D points as ``{camera, frame, individual, node, error_px}`` (for outlier queues)."""
        rows = []
        for t, i, k, c in zip(*np.nonzero(self.rejected)):
            rows.append({"camera": self.cameras[c], "frame": int(self.frames[t]), "individual": self.individuals[i],
                         "node": self.node_names[k], "error_px": float(self.view_error_px[t, i, k, c])})
        return rows

    # ------------------------------------------------------------------ exports
    def to_csv(self, path) -> Path:
        path = Path(path)
        lines = ["frame,individual,node,x,y,z,error_px,n_views,views,status"]
        t_n, i_n, k_n = self.shape
        for t in range(t_n):
            for i in range(i_n):
                for k in range(k_n):
                    p = self.points[t, i, k]
                    views = ";".join(c for c, u in zip(self.cameras, self.used[t, i, k]) if u)
                    st = STATUS_TEXT[int(self.status[t, i, k])] if self.available[t, i, k].any() else "not labelled"
                    vals = ",".join("" if not np.isfinite(v) else f"{v:.4f}" for v in p)
                    e = self.error_px[t, i, k]
                    err = "" if not np.isfinite(e) else f"{e:.3f}"
                    lines.append(f"{int(self.frames[t])},{self.individuals[i]},{self.node_names[k]},{vals},"
                                 f"{err},{int(self.n_views[t, i, k])},{views},{st}")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)
        return path

    def to_xarray(self, fps: float | None = None):
        try:
            import xarray as xr
        except ImportError as exc:
            raise TriangulationError("netCDF export needs xarray, which is not installed.",
                                     hint="pip install 'napari-posetrack[analysis]' (movement brings xarray).") from exc
        pos = self.points.transpose(0, 3, 2, 1)  # time, space, keypoints, individuals
        n_avail = self.available.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            conf = np.where(n_avail > 0, self.n_views / np.maximum(n_avail, 1), np.nan)
        time = self.frames / fps if fps else self.frames
        coords = {"time": time.astype(float), "space": ["x", "y", "z"], "keypoints": self.node_names,
                  "individuals": self.individuals}
        dims3 = ("time", "keypoints", "individuals")
        ds = xr.Dataset(
            {"position": (("time", "space", "keypoints", "individuals"), pos),
             "confidence": (dims3, conf.transpose(0, 2, 1)),
             "error_px": (dims3, self.error_px.transpose(0, 2, 1)),
             "n_views": (dims3, self.n_views.transpose(0, 2, 1).astype(np.int16)),
             "status": (dims3, self.status.transpose(0, 2, 1).astype(np.int8))},
            coords=coords,
            attrs={"source_software": "napari-posetrack", "ds_type": "poses", "time_unit": "seconds" if fps else
                   "frames", "fps": float(fps) if fps else np.nan, "space_unit": self.units,
                   "cameras": json.dumps(self.cameras), "frame_offsets": json.dumps(self.offsets),
                   "skeleton_edges": json.dumps([list(e) for e in self.edges]),
                   "status_codes": json.dumps(STATUS_TEXT)},
        )
        return ds

    def to_netcdf(self, path, fps: float | None = None) -> Path:
        path = Path(path)
        ds = self.to_xarray(fps)
        tmp = path.with_name(path.name + ".tmp")
        ds.to_netcdf(str(tmp))
        tmp.replace(path)
        return path

    def to_nwb(self, path, fps: float | None = None) -> Path:
        """NWB file with one ndx-pose ``PoseEstimation`` of 3D series per animal (``nwb`` extra).

        Timestamps are seconds when ``fps`` is given; otherwise the rate is 1 and the
        "seconds" are frame numbers (said in the description).
        """
        try:
            from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
            from pynwb import NWBHDF5IO, NWBFile
        except ImportError as exc:
            raise TriangulationError("NWB export needs pynwb and ndx-pose, which are not installed.",
                                     hint="pip install 'napari-posetrack[nwb]'.") from exc
        import datetime
        import uuid

        path = Path(path)
        rate = float(fps) if fps else 1.0
        when = "seconds" if fps else "frame numbers (no frame rate was given)"
        nwb = NWBFile(session_description="3D poses triangulated by napari-posetrack from "
                      f"{len(self.cameras)} cameras ({', '.join(self.cameras)})",
                      identifier=str(uuid.uuid4()), session_start_time=datetime.datetime.now(datetime.timezone.utc))
        module = nwb.create_processing_module("behavior", "3D poses")
        n_avail = self.available.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            conf = np.where(n_avail > 0, self.n_views / np.maximum(n_avail, 1), np.nan)
        skeletons, estimations = [], []
        for i, ind in enumerate(self.individuals):
            skel = Skeleton(name=f"skeleton_{ind}", nodes=list(self.node_names),
                            edges=np.asarray(self.edges, dtype=np.uint8).reshape(-1, 2))
            series = [PoseEstimationSeries(
                name=node, data=self.points[:, i, k], unit=self.units, confidence=conf[:, i, k],
                confidence_definition="fraction of the cameras that saw the node whose 2D point was used",
                reference_frame="world frame of the calibration (the reference camera's frame, board units)",
                rate=rate, starting_time=float(self.frames[0]) / rate if len(self.frames) else 0.0,
                description=f"time axis in {when}")
                for k, node in enumerate(self.node_names)]
            skeletons.append(skel)
            estimations.append(PoseEstimation(
                name=f"PoseEstimation3D_{ind}", pose_estimation_series=series, skeleton=skel,
                description=f"triangulated from {', '.join(self.cameras)}; offsets {self.offsets}",
                source_software="napari-posetrack"))
        module.add(Skeletons(skeletons=skeletons))
        for pe in estimations:
            module.add(pe)
        tmp = path.with_name(path.name + ".tmp")
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
        tmp.replace(path)
        return path

    def save(self, path, fps: float | None = None) -> Path:
        """Write by suffix: ``.csv``, ``.nc`` (movement netCDF) or ``.nwb`` (ndx-pose)."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            return self.to_csv(path)
        if path.suffix.lower() in (".nc", ".netcdf", ".nc4"):
            return self.to_netcdf(path, fps)
        if path.suffix.lower() == ".nwb":
            return self.to_nwb(path, fps)
        raise TriangulationError(f"Cannot write 3D poses to {path.name}: unknown suffix {path.suffix!r}.",
                                 path=path, hint="Use .csv, .nc (movement netCDF) or .nwb.")


def bone_lengths(points: np.ndarray, edges) -> np.ndarray:
    """Bone lengths (T, I, E) of poses (T, I, K, 3); NaN where an end point is missing."""
    e = np.asarray(edges, dtype=int).reshape(-1, 2)
    return np.linalg.norm(points[:, :, e[:, 0]] - points[:, :, e[:, 1]], axis=-1)


def load_netcdf3d(path):
    """Read a 3D poses netCDF written by :meth:`Poses3D.to_netcdf` as an ``xarray.Dataset``."""
    import xarray as xr

    ds = xr.load_dataset(str(path))
    if "position" not in ds or ds.sizes.get("space") != 3:
        raise TriangulationError(f"{path} holds no 3D 'position' variable (space must be x, y, z).", path=path,
                                 hint="Write it with `posetrack triangulate --out poses.nc`.")
    return ds
