"""A multi-camera session: named cameras, one video and one 2D labels file per camera, frame
offsets, board and calibration.

It loads from a small TOML or YAML file::

    name = "minimal_session"
    calibration = "calibration.toml"   # optional; relative to this file
    board = "board.toml"               # optional
    [cameras.back]
    video = "back/minimal_back.mp4"
    labels = "back/minimal_back_proofread.slp"
    offset = 0                          # session frame t is this camera's frame t + offset
    calibration_images = "back/calibration_images"   # or calibration_video = "..."

or from a folder with one sub-folder per camera (anipose/sleap-anipose layout): each holds one
video (``*.mp4``, ...), one ``*.slp`` and a ``calibration_images/`` folder (or a video whose name
contains "calibration"); ``board.toml`` and ``calibration.toml`` sit at the top.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SkeletonMismatchError
from .camera import CameraGroup, load_calibration, read_toml
from .errors import CalibrationError, SessionError

__all__ = ["CameraView", "MultiviewSession", "Views2D", "load_session"]

_VIDEO_EXT = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass
class CameraView:
    """One camera of a session (paths absolute)."""

    name: str
    video: Path | None = None
    labels: Path | None = None
    offset: int = 0
    calibration_images: Path | None = None
    calibration_video: Path | None = None


@dataclass
class Views2D:
    """2D poses of all cameras on the session's time axis.

    points (C, T, I, K, 2) px, NaN where absent; scores (C, T, I, K) (NaN for user labels);
    ``frames`` (T,) session frame numbers; ``cameras``, ``individuals``, ``node_names``, ``edges``.
    """

    points: np.ndarray
    scores: np.ndarray
    frames: np.ndarray
    cameras: list[str]
    individuals: list[str]
    node_names: list[str]
    edges: list[tuple[int, int]]


@dataclass
class MultiviewSession:
    cameras: list[CameraView]
    root: Path
    name: str = "session"
    calibration: Path | None = None
    board: Path | None = None
    source: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera(self, name: str) -> CameraView:
        for c in self.cameras:
            if c.name == name:
                return c
        raise SessionError(f"The session has no camera {name!r}; it has {self.names}.",
                           hint="Use one of those names (e.g. in --views).")

    def select(self, views) -> MultiviewSession:
        if not views:
            return self
        cams = [self.camera(v) for v in views]
        return MultiviewSession(cams, self.root, self.name, self.calibration, self.board, self.source, self.extra)

    # ------------------------------------------------------------------ calibration
    def load_calibration(self, path=None) -> CameraGroup:
        """The calibration of this session's cameras (in session order); errors name what is missing."""
        path = Path(path) if path else self.calibration
        if path is None or not Path(path).exists():
            raise CalibrationError(
                f"Session {self.name!r} has no calibration" + (f" ({path} does not exist)." if path else "."),
                path=path, hint="Run `posetrack calibrate SESSION --board board.toml` first, or pass --calibration.")
        group = load_calibration(path)
        missing = [n for n in self.names if n not in group.names]
        if missing:
            raise CalibrationError(
                f"Camera(s) {missing} of the session have no calibration in {path} (it calibrates {group.names}).",
                path=path, hint="Calibrate every camera of the session together (`posetrack calibrate`), or leave "
                "those cameras out with --views.")
        return group.subset(self.names)

    def calibration_sources(self) -> dict[str, list[Path] | Path]:
        """camera -> list of image files, or a calibration video."""
        out = {}
        for c in self.cameras:
            if c.calibration_images is not None:
                d = Path(c.calibration_images)
                files = sorted(p for p in d.iterdir() if p.suffix.lower() in _IMAGE_EXT) if d.is_dir() else []
                if not files:
                    raise SessionError(f"Camera {c.name!r}: no images in {d}.", path=d,
                                       hint="Put the board images (.jpg/.png) there, or set calibration_video.")
                out[c.name] = files
            elif c.calibration_video is not None:
                out[c.name] = Path(c.calibration_video)
            else:
                raise SessionError(f"Camera {c.name!r} has no calibration images or video.",
                                   hint="Set calibration_images (a folder) or calibration_video for it in the session "
                                   "file, or put a calibration_images/ folder in its camera folder.")
        return out

    # ------------------------------------------------------------------ frames
    def frame_counts(self) -> dict[str, int]:
        """Frames per camera, from the videos (or the labels' video records when a video is absent)."""
        counts = {}
        for c in self.cameras:
            n = 0
            if c.video is not None and Path(c.video).exists():
                from ..video import open_video

                with open_video(c.video) as r:
                    n = len(r)
            elif c.labels is not None:
                from ..io import load_dataset

                ds = load_dataset(c.labels, check_videos="ignore")
                n = ds.videos[0].n_frames if ds.videos else 0
            counts[c.name] = int(n)
        return counts

    def n_frames(self, *, allow_unequal: bool = False) -> int:
        """Frames on the common time axis; raises when the (offset) counts differ."""
        counts = self.frame_counts()
        for c in self.cameras:
            if c.offset < 0:
                raise SessionError(f"Camera {c.name!r} has a negative offset ({c.offset}).",
                                   hint="Offsets are >= 0: shift the other cameras instead.")
        known = {c.name: counts[c.name] - c.offset for c in self.cameras if counts[c.name] > 0}
        if not known:
            return 0
        if len(set(known.values())) > 1 and not allow_unequal:
            lo = min(counts[n] for n in known)
            raw = ", ".join(f"{n} {counts[n]}" for n in known)
            ends = ", ".join(f"{n} {counts[n] - lo}" for n in known)
            raise SessionError(
                f"The cameras have different frame counts after their offsets ({raw} frames; offsets "
                f"{ {c.name: c.offset for c in self.cameras} }): the videos may not be synchronised.",
                hint=f"Set each camera's `offset` in the session file (session frame t = camera frame t + offset). "
                f"If the recordings stopped together, the offsets are: {ends}; if they started together, all 0 and "
                "the longer videos have extra frames at the end. `posetrack triangulate --estimate-offsets` finds "
                "them from the 2D labels (the shifts that make the views agree best); --allow-unequal-frames uses "
                "only the frames all cameras share.")
        return int(min(known.values()))

    # ------------------------------------------------------------------ 2D poses
    def load_datasets(self) -> dict:
        """``{camera: PoseDataset}``: every camera's 2D labels as :meth:`load_views` reads them.

        A camera whose labels were edited in the 3D dock's camera views (or opened and edited in
        the Labeling dock) is read from the project store beside its labels file
        (:func:`~.label_edits.labels_source`).
        """
        from ..io import load_dataset
        from .label_edits import labels_source

        dsets = {}
        for c in self.cameras:
            if c.labels is None or not Path(c.labels).exists():
                raise SessionError(f"Camera {c.name!r} has no 2D labels file"
                                   + (f" ({c.labels} does not exist)." if c.labels else "."),
                                   hint="Set `labels` for it in the session file (a .slp or other labels file), "
                                   "or leave the camera out with --views.")
            dsets[c.name] = load_dataset(labels_source(c), check_videos="ignore")
        return dsets

    def load_views(self, *, table: str = "auto", allow_unequal: bool = False, n_frames: int | None = None,
                   datasets: dict | None = None) -> Views2D:
        """2D poses of every camera on the session's time axis (see :class:`Views2D`).

        The labels are read by :meth:`load_datasets`, or taken from ``datasets`` (its result,
        kept by a caller that edits them later, so they are not read twice).

        ``n_frames`` fixes the length of that axis (frames beyond a camera's video stay NaN)
        instead of checking that the cameras' frame counts agree.
        """
        dsets = dict(datasets) if datasets is not None else self.load_datasets()
        missing = [c.name for c in self.cameras if c.name not in dsets]
        if missing:
            raise SessionError(f"No 2D labels were given for camera(s) {missing}; the session has {self.names}.",
                               hint="Pass the result of load_datasets() for this session.")
        dsets = {c.name: dsets[c.name] for c in self.cameras}
        first = self.cameras[0].name
        skel = dsets[first].skeleton
        for name, ds in dsets.items():
            other = ds.skeleton
            if set(other.node_names) != set(skel.node_names):
                extra = [n for n in other.node_names if n not in skel.node_names]
                lacks = [n for n in skel.node_names if n not in other.node_names]
                raise SkeletonMismatchError(
                    f"The skeleton of camera {name!r} differs from that of {first!r}: it has the extra node(s) "
                    f"{extra} and lacks {lacks}.",
                    path=self.camera(name).labels,
                    hint="Every view must be labelled with the same skeleton (same node names); rename or add the "
                    "nodes in the labelling dock, or map them with `posetrack import --skeleton`.")
        n_t = int(n_frames) if n_frames is not None else self.n_frames(allow_unequal=allow_unequal)
        if n_t == 0:
            n_t = 1 + max(int(ds.instances.frame_idx.max()) - c.offset if len(ds.instances) else 0
                          for c, ds in ((c, dsets[c.name]) for c in self.cameras))
        tables = {}
        for c in self.cameras:
            ds = dsets[c.name]
            t = _pick(ds, table)
            if list(ds.skeleton.node_names) != list(skel.node_names):
                # node j of this camera goes to the first camera's position of the same name
                t = t.remap_nodes([list(skel.node_names).index(n) for n in ds.skeleton.node_names], skel.n_nodes)
            tables[c.name] = (t, ds.track_names)
        individuals = _individuals(tables)
        k = skel.n_nodes
        pts = np.full((len(self.cameras), n_t, len(individuals), k, 2), np.nan, np.float32)
        scr = np.full((len(self.cameras), n_t, len(individuals), k), np.nan, np.float32)
        for ci, c in enumerate(self.cameras):
            t, names = tables[c.name]
            frame = t.frame_idx - c.offset
            inside = (frame >= 0) & (frame < n_t)
            order = np.argsort(np.nan_to_num(t.instance_score, nan=np.inf))  # best (or user) written last
            for r in order[inside[order]]:
                ind = _individual_of(t, r, names, individuals)
                lab = t.state[r] > 0
                p = np.where(lab[:, None], t.points[r], np.nan)
                pts[ci, frame[r], ind] = p
                scr[ci, frame[r], ind] = np.where(lab, t.score[r], np.nan)
        return Views2D(pts, scr, np.arange(n_t), self.names, individuals, list(skel.node_names),
                       [tuple(e) for e in skel.edges])

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self, relative_to=None) -> dict:
        base = Path(relative_to) if relative_to else None

        def rel(p):
            if p is None:
                return None
            p = Path(p)
            if base is not None:
                try:
                    return str(p.resolve().relative_to(base.resolve()))
                except ValueError:
                    pass
            return str(p)

        cams = {}
        for c in self.cameras:
            d = {"video": rel(c.video), "labels": rel(c.labels), "offset": int(c.offset),
                 "calibration_images": rel(c.calibration_images), "calibration_video": rel(c.calibration_video)}
            cams[c.name] = {k: v for k, v in d.items() if v is not None}
        out = {"name": self.name, "calibration": rel(self.calibration), "board": rel(self.board), "cameras": cams}
        return {k: v for k, v in out.items() if v is not None}


def _pick(ds, table: str):
    from ..posetable import PoseTable

    if table == "labels":
        return ds.labels
    if table == "predictions":
        return ds.predictions
    if table != "auto":
        raise SessionError(f"table must be auto, labels or predictions; got {table!r}.")
    # user labels win over predictions of the same frame and track
    if not len(ds.labels):
        return ds.predictions
    if not len(ds.predictions):
        return ds.labels
    have = set(zip(ds.labels.frame_idx.tolist(), ds.labels.track_id.tolist()))
    keep = np.array([(f, t) not in have for f, t in zip(ds.predictions.frame_idx.tolist(),
                                                          ds.predictions.track_id.tolist())], bool)
    return PoseTable.concat([ds.predictions.take(np.flatnonzero(keep)), ds.labels], n_nodes=ds.skeleton.n_nodes)


def _individuals(tables) -> list[str]:
    """Identities across views: track names, or one animal when every frame has at most one instance."""
    names, multi = [], []
    for cam, (t, track_names) in tables.items():
        if not len(t):
            continue
        _, counts = np.unique(t.frame_idx, return_counts=True)
        if counts.max() > 1:
            multi.append(cam)
        for tid in np.unique(t.track_id):
            if tid >= 0 and track_names[tid] not in names:
                names.append(track_names[tid])
    if not multi:
        return names[:1] if len(names) == 1 else ["animal"]
    for cam in multi:
        t, _ = tables[cam]
        if (t.track_id < 0).any():
            f = int(t.frame_idx[t.track_id < 0][0])
            raise SessionError(
                f"Camera {cam!r} has several animals per frame, some without a track (frame {f}): which instance "
                "is which animal in the other views is unknown.",
                hint="Track every view (`posetrack track`) and give the same animal the same track name in every "
                "view, then triangulate.")
    return names


def _individual_of(t, r, names, individuals) -> int:
    if len(individuals) == 1:
        return 0
    return individuals.index(names[t.track_id[r]])


# ---------------------------------------------------------------------- loading
def load_session(path) -> MultiviewSession:
    """A session from a TOML/YAML description or from a folder (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return _from_folder(path)
    if not path.exists():
        raise SessionError(f"{path} does not exist.", path=path,
                           hint="Pass a session folder (one sub-folder per camera) or a session .toml/.yaml file.")
    if path.suffix.lower() == ".toml":
        data = read_toml(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
    else:
        raise SessionError(f"{path.name} is neither a folder nor a .toml/.yaml session file.", path=path,
                           hint="Describe the session in a TOML or YAML file (see docs/multiview.md).")
    return _from_dict(data, path.parent, source=path)


def _from_dict(data: dict, root: Path, source=None) -> MultiviewSession:
    cams = data.get("cameras")
    if not isinstance(cams, dict) or not cams:
        raise SessionError(f"{source or 'The session'} has no [cameras.<name>] tables (found keys {sorted(data)}).",
                           path=source, hint="Add one [cameras.<name>] table per camera with video and labels.")

    def p(v):
        if v is None:
            return None
        q = Path(v).expanduser()
        return q if q.is_absolute() else root / q

    views = []
    for name, d in cams.items():
        unknown = set(d) - {"video", "labels", "offset", "calibration_images", "calibration_video"}
        if unknown:
            raise SessionError(f"Camera {name!r}: unknown field(s) {sorted(unknown)}.", path=source,
                               hint="Use video, labels, offset, calibration_images, calibration_video.")
        try:
            off = int(d.get("offset", 0))
        except (TypeError, ValueError):
            raise SessionError(f"Camera {name!r}: offset must be an integer, got {d.get('offset')!r}.",
                               path=source) from None
        views.append(CameraView(str(name), p(d.get("video")), p(d.get("labels")), off,
                                p(d.get("calibration_images")), p(d.get("calibration_video"))))
    board = p(data.get("board")) or (root / "board.toml" if (root / "board.toml").exists() else None)
    cal = p(data.get("calibration"))
    return MultiviewSession(views, root, str(data.get("name", root.name)), cal, board, source)


def _from_folder(root: Path) -> MultiviewSession:
    views = []
    for sub in sorted(d for d in root.iterdir() if d.is_dir()):
        vids = [f for f in sorted(sub.iterdir()) if f.suffix.lower() in _VIDEO_EXT and "calibration" not in f.name]
        slps = sorted(sub.glob("*.slp"))
        if not vids and not slps:
            continue
        if len(slps) > 1:
            raise SessionError(f"Camera folder {sub} holds several labels files: {[s.name for s in slps]}.",
                               path=sub, hint="Keep one .slp per camera folder, or write a session .toml naming it.")
        if len(vids) > 1:
            raise SessionError(f"Camera folder {sub} holds several videos: {[v.name for v in vids]}.",
                               path=sub, hint="Keep one video per camera folder, or write a session .toml naming it.")
        cal_imgs = sub / "calibration_images"
        cal_vid = [Path(f) for f in sorted(glob.glob(str(sub / "**" / "*calibration*"), recursive=True))
                   if Path(f).suffix.lower() in _VIDEO_EXT]
        has_imgs = cal_imgs.is_dir() and any(f.suffix.lower() in _IMAGE_EXT for f in cal_imgs.iterdir())
        views.append(CameraView(sub.name, vids[0] if vids else None, slps[0] if slps else None, 0,
                                cal_imgs if has_imgs else None, None if has_imgs or not cal_vid else cal_vid[0]))
    if not views:
        raise SessionError(f"{root} has no camera folders (sub-folders with a video or a .slp).", path=root,
                           hint="Lay the session out as <session>/<camera>/{video, labels.slp, calibration_images/}, "
                           "or describe it in a session .toml.")
    cal = root / "calibration.toml"
    board = root / "board.toml"
    return MultiviewSession(views, root, root.name, cal if cal.exists() else None, board if board.exists() else None)
