"""Pinhole cameras with OpenCV's distortion model, in plain numpy.

A :class:`Camera` maps world points (N, 3) to pixels (N, 2): ``X_cam = R X + t`` (``R`` from
the Rodrigues vector ``rvec``), then the OpenCV model with distortion ``(k1, k2, p1, p2, k3)``
and the 3x3 matrix ``K``. A :class:`CameraGroup` is a calibrated rig; it reads and writes
anipose's ``calibration.toml`` layout (one ``[cam_<i>]`` table per camera with ``name``,
``size`` = [width, height], ``matrix``, ``distortions``, ``rotation``, ``translation``) and
a plain-JSON dict for the project store. World units are those of the board (mm here).

No OpenCV is needed here: triangulation and projection run with numpy only.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CalibrationError

__all__ = ["Camera", "CameraGroup", "rodrigues", "rodrigues_inverse", "load_calibration", "save_calibration"]

_REQUIRED = ("size", "matrix", "distortions", "rotation", "translation")


def rodrigues(rvec) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from Rodrigues vectors (..., 3)."""
    r = np.asarray(rvec, dtype=np.float64)
    theta = np.linalg.norm(r, axis=-1)[..., None, None]
    small = theta < 1e-12
    th = np.where(small, 1.0, theta)
    k = r / th[..., 0]  # (..., 3) unit axis
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    kmat = np.stack([np.stack([zero, -kz, ky], -1), np.stack([kz, zero, -kx], -1),
                     np.stack([-ky, kx, zero], -1)], -2)
    eye = np.broadcast_to(np.eye(3), kmat.shape)
    rot = eye + np.sin(th) * kmat + (1 - np.cos(th)) * (kmat @ kmat)
    # first order for tiny angles
    rx, ry, rz = r[..., 0], r[..., 1], r[..., 2]
    lin = eye + np.stack([np.stack([zero, -rz, ry], -1), np.stack([rz, zero, -rx], -1),
                          np.stack([-ry, rx, zero], -1)], -2)
    return np.where(small, lin, rot)


def rodrigues_inverse(rot) -> np.ndarray:
    """Rodrigues vector (3,) of a rotation matrix (3, 3)."""
    rot = np.asarray(rot, dtype=np.float64)
    # project onto SO(3) first (averaged rotations are not exactly orthogonal)
    u, _, vt = np.linalg.svd(rot)
    rot = u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt
    cos = np.clip((np.trace(rot) - 1) / 2, -1.0, 1.0)
    theta = math.acos(cos)
    w = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]])
    if theta < 1e-8:
        return w / 2
    if math.pi - theta < 1e-4:  # near 180 degrees: axis from the symmetric part
        b = (rot + np.eye(3)) / 2
        axis = np.sqrt(np.clip(np.diag(b), 0, None))
        i = int(np.argmax(axis))
        axis = b[i] / axis[i]
        axis /= np.linalg.norm(axis)
        return axis * theta
    return w * theta / (2 * math.sin(theta))


def distort(xy, dist) -> np.ndarray:
    """Apply OpenCV's distortion (k1, k2, p1, p2, k3) to normalized points (N, 2)."""
    k1, k2, p1, p2, k3 = (list(np.asarray(dist, dtype=np.float64).ravel()) + [0.0] * 5)[:5]
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], -1)


@dataclass
class Camera:
    """One calibrated camera.

    Parameters
    ----------
    name : camera name (``back``, ``cam1`` ...).
    size : (width, height) in pixels.
    matrix : (3, 3) intrinsic matrix.
    dist : (5,) distortion ``k1, k2, p1, p2, k3``.
    rvec, tvec : (3,) world-to-camera rotation (Rodrigues) and translation.
    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    rvec: np.ndarray = field(default_factory=lambda: np.zeros(3))
    tvec: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self):
        self.size = (int(self.size[0]), int(self.size[1]))
        self.matrix = np.asarray(self.matrix, dtype=np.float64).reshape(3, 3)
        d = np.asarray(self.dist, dtype=np.float64).ravel()
        self.dist = np.concatenate([d, np.zeros(max(0, 5 - d.size))])[:5] if d.size <= 5 else d
        self.rvec = np.asarray(self.rvec, dtype=np.float64).reshape(3)
        self.tvec = np.asarray(self.tvec, dtype=np.float64).reshape(3)

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) world-to-camera rotation of ``rvec`` (kept until ``rvec`` changes: projection asks for it often)."""
        key = self.rvec.tobytes()
        cached = self.__dict__.get("_rotation_cache")
        if cached is None or cached[0] != key:
            cached = (key, rodrigues(self.rvec))
            self.__dict__["_rotation_cache"] = cached
        return cached[1].copy()

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.rotation.T @ self.tvec

    def extrinsic(self) -> np.ndarray:
        """(3, 4) ``[R | t]``."""
        return np.hstack([self.rotation, self.tvec[:, None]])

    def project(self, points3d) -> np.ndarray:
        """Pixels (..., 2) of world points (..., 3); NaN in, NaN out; points behind the camera are NaN."""
        p = np.asarray(points3d, dtype=np.float64)
        xc = p @ self.rotation.T + self.tvec
        z = xc[..., 2:3]
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = xc[..., :2] / z
        uv = distort(xy, self.dist)
        k = self.matrix
        out = np.stack([k[0, 0] * uv[..., 0] + k[0, 1] * uv[..., 1] + k[0, 2], k[1, 1] * uv[..., 1] + k[1, 2]], -1)
        out[(z[..., 0] <= 0)] = np.nan
        return out

    def undistort(self, pixels, iterations: int = 30) -> np.ndarray:
        """Normalized image coordinates (..., 2) of pixels (..., 2) (inverse of the distortion)."""
        p = np.asarray(pixels, dtype=np.float64)
        k = self.matrix
        yd = (p[..., 1] - k[1, 2]) / k[1, 1]
        xd = (p[..., 0] - k[0, 2] - k[0, 1] * yd) / k[0, 0]
        k1, k2, p1, p2, k3 = self.dist[:5]
        x, y = xd.copy(), yd.copy()
        for _ in range(iterations):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            x = (xd - dx) / radial
            y = (yd - dy) / radial
        return np.stack([x, y], -1)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """anipose's fields, as plain lists."""
        return {
            "name": self.name,
            "size": [int(self.size[0]), int(self.size[1])],
            "matrix": self.matrix.tolist(),
            "distortions": self.dist.tolist(),
            "rotation": self.rvec.tolist(),
            "translation": self.tvec.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "the calibration") -> Camera:
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise CalibrationError(
                f"{where} lacks the field(s) {missing}; it has {sorted(d)}.",
                hint=f"A camera needs {list(('name',) + _REQUIRED)} (anipose's calibration.toml layout). "
                "Recalibrate with `posetrack calibrate`, or add the fields.",
            )
        try:
            cam = cls(name=str(d.get("name", "")), size=tuple(d["size"]), matrix=d["matrix"], dist=d["distortions"],
                      rvec=d["rotation"], tvec=d["translation"])
        except (TypeError, ValueError) as exc:
            raise CalibrationError(
                f"{where} has a field of the wrong shape ({exc}).",
                hint="size is [width, height], matrix 3x3, distortions up to 5 numbers, rotation and translation "
                "3 numbers each.",
            ) from None
        if not np.isfinite(cam.matrix).all() or cam.matrix[0, 0] <= 0 or cam.matrix[1, 1] <= 0:
            raise CalibrationError(f"{where} has an invalid camera matrix {cam.matrix.tolist()}.",
                                   hint="The focal lengths must be positive numbers.")
        return cam


@dataclass
class CameraGroup:
    """A calibrated rig: cameras in one world frame, plus free-form metadata (errors, board)."""

    cameras: list[Camera]
    metadata: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def __getitem__(self, key) -> Camera:
        if isinstance(key, str):
            for c in self.cameras:
                if c.name == key:
                    return c
            raise CalibrationError(f"The calibration has no camera named {key!r}; it has {self.names}.",
                                   hint="Calibrate that camera too, or check the camera names of the session.")
        return self.cameras[key]

    def subset(self, names) -> CameraGroup:
        return CameraGroup([self[n] for n in names], dict(self.metadata))

    def project(self, points3d) -> np.ndarray:
        """(n_cams, ..., 2) pixels of world points (..., 3)."""
        return np.stack([c.project(points3d) for c in self.cameras])

    def to_dict(self) -> dict:
        return {"cameras": [c.to_dict() for c in self.cameras], "metadata": _plain(self.metadata)}

    @classmethod
    def from_dict(cls, d: dict) -> CameraGroup:
        if "cameras" not in d:
            raise CalibrationError(f"A calibration record needs a 'cameras' list; found keys {sorted(d)}.",
                                   hint="Save it with CameraGroup.to_dict() or `posetrack calibrate`.")
        cams = [Camera.from_dict(c, where=f"camera {i} of the calibration record") for i, c in enumerate(d["cameras"])]
        return cls(cams, dict(d.get("metadata", {})))


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    return v


# ---------------------------------------------------------------------- TOML
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[ " + ", ".join(_toml_value(x) for x in v) + ",]" if len(v) else "[]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_table(name: str, d: dict) -> list[str]:
    lines = [f"[{name}]"]
    subs = []
    for k, v in d.items():
        if isinstance(v, dict):
            subs.append((k, v))
        elif v is not None:
            lines.append(f"{k} = {_toml_value(_plain(v))}")
    out = lines + [""]
    for k, v in subs:
        out += _toml_table(f"{name}.{k}", v)
    return out


def read_toml(path) -> dict:
    """Parse a TOML file (tomllib, or tomli on Python 3.10)."""
    path = Path(path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise CalibrationError("Reading TOML on Python 3.10 needs the 'tomli' package.",
                                   hint="pip install tomli") from exc
    if not path.is_file():
        raise CalibrationError(f"{path} does not exist.", path=path, hint="Check the path.")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{path} is not valid TOML: {exc}.", path=path,
                               hint="Fix the file or write a new one.") from None


def save_calibration(group: CameraGroup, path) -> Path:
    """Write ``group`` in anipose's ``calibration.toml`` layout (atomically)."""
    path = Path(path)
    lines: list[str] = []
    for i, cam in enumerate(group.cameras):
        lines += _toml_table(f"cam_{i}", cam.to_dict())
    meta = {k: v for k, v in _plain(group.metadata).items()}
    lines += _toml_table("metadata", meta)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path


def load_calibration(path) -> CameraGroup:
    """Read an anipose-style ``calibration.toml`` (ours or anipose's/sleap-anipose's).

    Missing fields raise :class:`CalibrationError` naming the camera table and the fields.
    """
    path = Path(path)
    data = read_toml(path)
    tables = sorted((k for k in data if k.startswith("cam_")), key=lambda k: (len(k), k))
    if not tables:
        raise CalibrationError(
            f"{path} has no [cam_<i>] tables (found {sorted(data)}): not an anipose calibration file.",
            path=path, hint="Pass a calibration.toml written by anipose, sleap-anipose or `posetrack calibrate`.")
    cams = []
    for k in tables:
        d = data[k]
        if "name" not in d:
            raise CalibrationError(f"[{k}] in {path} has no 'name'; it has {sorted(d)}.", path=path,
                                   hint="Add name = \"<camera>\" to each [cam_<i>] table.")
        cams.append(Camera.from_dict(d, where=f"[{k}] ({d.get('name')}) in {path}"))
    names = [c.name for c in cams]
    if len(set(names)) != len(names):
        raise CalibrationError(f"{path} names a camera twice: {names}.", path=path,
                               hint="Give each camera a unique name.")
    return CameraGroup(cams, dict(data.get("metadata", {})))
