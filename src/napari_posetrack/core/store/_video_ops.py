"""Videos of a store: locating moved files, opening readers, adding and relinking (a mixin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import VideoInfo
from ..errors import MissingVideoError, StoreError
from ._codec import entry_video, new_name, video_entry
from ._paths import find_candidates
from ._videos import EmbeddedVideoReader, probe_info

__all__ = ["VideosMixin", "write_embedded"]


class VideosMixin:
    """Methods of :class:`~napari_posetrack.core.store.ProjectStore` about videos."""

    # ------------------------------------------------------------------ videos
    def _video_entry(self, video_id: int) -> dict:
        entries = self._meta(self.head()).get("videos", [])
        if not 0 <= int(video_id) < len(entries):
            raise StoreError(f"The project has {len(entries)} videos; there is no video_id {video_id}.",
                             path=self.path, hint="Use an index into store.videos.")
        return entries[int(video_id)]

    def video_path(self, video_id: int) -> Path | None:
        """The video's file/folder if it exists (at its relative path, else its old absolute path)."""
        entry = self._video_entry(video_id)
        info = entry_video(entry, self.project_dir)
        for p in (info.path, entry.get("abs_path", "")):
            if p and Path(p).exists():
                return Path(p)
        return None

    def missing_videos(self) -> dict[int, list[str]]:
        """``{video_id: candidate paths}`` for every (non-embedded) video that is not found."""
        out = {}
        for i, entry in enumerate(self._meta(self.head()).get("videos", [])):
            if entry.get("kind") != "embedded" and self.video_path(i) is None:
                out[i] = [str(c) for c in find_candidates(Path(entry.get("path", "")).name, self.project_dir)]
        return out

    def open_video(self, video_id: int):
        """A reader (``core.video.VideoReader`` interface) for one video.

        Raises
        ------
        MissingVideoError
            If the file is not found; ``candidates`` lists files of the same name nearby.
        """
        entry = self._video_entry(video_id)
        if entry.get("kind") == "embedded" and entry.get("embedded"):
            g = self._root[entry["embedded"]]
            return EmbeddedVideoReader(g["images"], g["frame_idx"][:], n_frames=entry.get("n_frames", 0),
                                       fps=entry.get("fps", 0.0), path=str(entry.get("path", "")))
        path = self.video_path(video_id)
        if path is None:
            expected = entry_video(entry, self.project_dir).path
            name = Path(entry.get("path", "")).name
            cands = find_candidates(name, self.project_dir)
            hint = (f"Relink it: store.relink_video({video_id}, {str(cands[0])!r})" if cands else
                    f"Find the video and relink it with store.relink_video({video_id}, NEW_PATH).")
            raise MissingVideoError(
                f"Video {video_id} of {self.path.name} is not at {expected} (stored as {entry.get('path')!r} "
                f"relative to {self.project_dir}); {len(cands)} file(s) named {name!r} found nearby.",
                path=expected, hint=hint, candidates=cands,
            )
        from ..video import open_video

        info = entry_video(entry, self.project_dir)
        if info.kind == "images" and info.image_paths and all(Path(p).is_file() for p in info.image_paths):
            return open_video(info.image_paths)  # exactly the listed frames, in their order
        return open_video(path)

    def add_video(self, video) -> int:
        """Add a video file, image folder or :class:`VideoInfo`; return its ``video_id``."""
        info = video if isinstance(video, VideoInfo) else probe_info(video)
        with self._writing() as head:
            meta = self._meta(head)
            videos = self._videos(meta)
            videos.append(info)
            self._commit_changes(head, {"videos": videos})
            return len(videos) - 1

    def relink_video(self, video_id: int, new_path, *, check: bool = True) -> None:
        """Point ``video_id`` at ``new_path`` (a moved video). Checks the frame size matches."""
        new = probe_info(new_path)
        with self._writing() as head:
            videos = self._videos(self._meta(head))
            if not 0 <= video_id < len(videos):
                raise StoreError(f"There is no video_id {video_id} (the project has {len(videos)}).", path=self.path)
            old = videos[video_id]
            if check and old.height and (old.height, old.width) != (new.height, new.width):
                raise StoreError(
                    f"{new.path} is {new.width}x{new.height} but video {video_id} was {old.width}x{old.height}.",
                    path=new.path, hint="Pick the same video, or pass check=False to relink anyway.",
                )
            videos[video_id] = new
            self._commit_changes(head, {"videos": videos})

    def _write_videos(self, videos: list[VideoInfo], meta: dict, n: int) -> tuple[list[dict], list[str]]:
        old = {(e.get("path"), e.get("kind")): e.get("embedded") for e in meta.get("videos", [])}
        entries, groups = [], []
        for i, info in enumerate(videos):
            group = None
            if info.kind == "embedded" and info.embedded is not None:
                rel = video_entry(info, self.project_dir)["path"]
                group = old.get((rel, "embedded"))
                if group is None or not np.array_equal(self._root[group]["frame_idx"][:],
                                                       np.asarray(info.embedded["frame_idx"])):
                    group = f"embedded/{new_name(f'video{i}', n)}"
                    write_embedded(self._root, group, info.embedded)
                groups.append(group)
            entries.append(video_entry(info, self.project_dir, group))
        return entries, groups


def write_embedded(root, group: str, embedded: dict) -> None:
    """Write embedded frames ``{"frame_idx": (M,), "images": (M, H, W, C)}`` as arrays of ``group``."""
    import zarr

    images = np.asarray(embedded["images"], np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    g = root.create_group(group, overwrite=True)
    fi = np.asarray(embedded["frame_idx"], np.int64)
    a = g.create_array("frame_idx", shape=fi.shape, dtype=np.int64, chunks=(max(1, len(fi)),))
    if len(fi):
        a[:] = fi
    m, h, w, c = images.shape
    img = g.create_array("images", shape=images.shape, dtype=np.uint8, chunks=(1, max(h, 1), max(w, 1), max(c, 1)),
                         compressors=zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"))
    if m:
        img[:] = images
