"""Project store bad input: every case gets a typed, teaching error and no half-written store."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from napari_posetrack.core.errors import (MissingVideoError, StoreError, StoreLockedError, StoreVersionError,
                                          VideoError)
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.skeleton import Skeleton
from napari_posetrack.core.store import ProjectStore

SKEL = Skeleton.from_names(["a", "b"])


def _labels(n=3):
    return PoseTable.from_arrays(np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2))


def _video(path, size=(24, 32), n=5):
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.height, s.width = size
        s.pix_fmt = "yuv420p"
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full(size + (3,), 9 * i, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _no_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and ("creating" in p.name or "old" in p.name)]


def test_unwritable_store_path(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not_a_folder") as e:
        ProjectStore.create(blocker / "p.posetrack.zarr", SKEL)
    assert "Cannot create" in str(e.value) and e.value.hint


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_parent_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="ro"):
            ProjectStore.create(ro / "p.posetrack.zarr", SKEL)
    finally:
        ro.chmod(0o755)


def test_existing_store_is_not_overwritten_unless_asked(tmp_path):
    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    s.save(labels=_labels())
    with pytest.raises(StoreError, match="already exists"):
        ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    assert len(ProjectStore.open(s.path).labels) == 3  # untouched
    s2 = ProjectStore.create(tmp_path / "p.posetrack.zarr", Skeleton.from_names(["x"]), overwrite=True)
    assert s2.skeleton.node_names == ["x"] and len(s2.labels) == 0
    assert not _no_leftovers(tmp_path)


def test_killed_create_leftovers_are_cleaned_later(tmp_path):
    old = tmp_path / ".p.posetrack.zarr.creating-deadbeef"
    old.mkdir()
    os.utime(old, (0, 0))  # a create killed long ago
    recent = tmp_path / ".p.posetrack.zarr.creating-cafecafe"
    recent.mkdir()  # maybe still running in another process: kept
    ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    assert not old.exists() and recent.exists()


def test_failed_create_leaves_nothing(tmp_path):
    with pytest.raises(VideoError, match="missing.mp4"):
        ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL, videos=[tmp_path / "missing.mp4"])
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError):
        ProjectStore.create(tmp_path / "q.posetrack.zarr", SKEL, videos=[bad])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]


def test_newer_schema_version(tmp_path):
    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    meta = s.path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["schema_version"] = 99
    meta.write_text(json.dumps(doc))
    with pytest.raises(StoreVersionError, match="version 99") as e:
        ProjectStore.open(s.path)
    assert "Upgrade napari-posetrack" in str(e.value)
    # a newer commit pointer is refused the same way
    doc["attributes"]["schema_version"] = 1
    meta.write_text(json.dumps(doc))
    head = json.loads((s.path / "HEAD.json").read_text())
    head["schema_version"] = 7
    (s.path / "HEAD.json").write_text(json.dumps(head))
    with pytest.raises(StoreVersionError, match="version 7"):
        ProjectStore.open(s.path)


def test_read_only_mode_and_read_only_folder(tmp_path, monkeypatch):
    path = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL).path
    ro = ProjectStore.open(path, mode="r")
    assert ro.read_only and len(ro.labels) == 0
    for write in (lambda: ro.save(labels=_labels()), lambda: ro.append_predictions(_labels()),
                  lambda: ro.set_attrs(x=1), lambda: ro.clear_predictions()):
        with pytest.raises(StoreLockedError, match="read-only"):
            write()
    # a folder the user cannot write opens read-only instead of failing
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if str(p) == str(path) else real_access(p, m, **k))
    s = ProjectStore.open(path)
    assert s.read_only
    with pytest.raises(StoreLockedError, match="mode='r\\+'"):
        s.save(labels=_labels())


def test_writer_lock_live_and_stale(tmp_path):
    path = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL).path
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock = path / ".writer.lock"
        lock.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(), "time": 0}))
        s = ProjectStore.open(path, lock_timeout=0.3)
        with pytest.raises(StoreLockedError, match=str(sleeper.pid)):
            s.save(labels=_labels())
    finally:
        sleeper.kill()
        sleeper.wait()
    # the same lock file, now stale (its process is gone): taken over
    s.save(labels=_labels())
    assert len(ProjectStore.open(path).labels) == 3
    assert not lock.exists()


def test_missing_video_candidates_and_relink(tmp_path):
    exp = tmp_path / "lab" / "mice" / "exp"  # the search looks two folders up: stays inside tmp_path
    video = _video(exp / "clip.mp4")
    s = ProjectStore.create(exp / "p.posetrack.zarr", SKEL, videos=[video])
    s.save(labels=_labels())
    moved = exp / "raw" / "day1" / "clip.mp4"
    moved.parent.mkdir(parents=True)
    shutil.move(str(video), str(moved))
    s = ProjectStore.open(exp)
    assert len(s.labels) == 3  # labels stay readable
    with pytest.raises(MissingVideoError, match="clip.mp4") as e:
        s.open_video(0)
    assert e.value.candidates == [str(moved.resolve())]
    assert "relink_video" in str(e.value)
    assert s.missing_videos() == {0: [str(moved.resolve())]}
    other = _video(tmp_path / "other.mp4", size=(16, 16))
    with pytest.raises(StoreError, match="16x16"):
        s.relink_video(0, other)
    s.relink_video(0, e.value.candidates[0])
    with ProjectStore.open(exp, mode="r").open_video(0) as r:
        assert r.shape[:3] == (5, 24, 32)
    assert ProjectStore.open(exp).missing_videos() == {}


def test_corrupt_pointer_and_recover(tmp_path):
    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    s.save(labels=_labels(2))
    s.save(labels=_labels(5))
    (s.path / "HEAD.json").write_text('{"commit": 3, "meta": ')  # torn by some other tool
    with pytest.raises(StoreError, match="corrupt") as e:
        ProjectStore.open(s.path)
    assert "older commit record" in str(e.value) and "recover" in str(e.value)
    assert ProjectStore.recover(s.path) == 3
    assert len(ProjectStore.open(s.path).labels) == 5
    # no history left: says so
    shutil.rmtree(s.path / "commits")
    (s.path / "HEAD.json").write_text("garbage")
    with pytest.raises(StoreError, match="No older commit records"):
        ProjectStore.open(s.path)


def test_pointer_naming_missing_group(tmp_path):
    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    s.save(labels=_labels(2))
    group = s.head()["tables"]["labels"]["group"]
    shutil.rmtree(s.path / group)
    with pytest.raises(StoreError, match="missing"):
        ProjectStore.open(s.path)


def test_pointer_that_escapes_the_store_is_refused(tmp_path):
    outside = ProjectStore.create(tmp_path / "other.posetrack.zarr", SKEL)
    outside.save(labels=_labels(3))
    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    s.save(labels=_labels(2))
    head = json.loads((s.path / "HEAD.json").read_text())
    # point the labels at a group of another store, through '..'
    other_group = outside.head()["tables"]["labels"]["group"]
    head["tables"]["labels"]["group"] = f"../other.posetrack.zarr/{other_group}"
    (s.path / "HEAD.json").write_text(json.dumps(head))
    with pytest.raises(StoreError, match="not a folder inside the store"):
        ProjectStore.open(s.path)


def test_corrupt_metadata_and_table(tmp_path):
    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    s.save(labels=_labels(4))
    head = s.head()
    chunk = next((s.path / head["tables"]["labels"]["group"] / "points").glob("c.*"))
    chunk.write_bytes(b"not blosc")
    with pytest.raises(StoreError, match="labels table .* corrupt"):
        _ = ProjectStore.open(s.path).labels
    (s.path / head["meta"] / "zarr.json").write_text("{broken")
    with pytest.raises(StoreError, match="metadata group .* corrupt"):
        _ = ProjectStore.open(s.path).skeleton


def test_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        ProjectStore.open(tmp_path / "nope.posetrack.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a napari-posetrack project store"):
        ProjectStore.open(tmp_path / "plain")
    with pytest.raises(StoreError, match="mode"):
        ProjectStore.open(tmp_path / "plain", mode="w")


def test_failed_add_video_changes_nothing(tmp_path):
    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    c = s.commit
    with pytest.raises(VideoError):
        s.add_video(tmp_path / "nothere.mp4")
    assert s.commit == c and s.videos == []


def test_failed_write_is_a_store_error_and_keeps_the_last_state(tmp_path, monkeypatch):
    import errno

    from napari_posetrack.core.store import project

    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", SKEL)
    s.save(labels=_labels(2))

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(project, "write_columns", full_disk)
    with pytest.raises(StoreError, match="No space left.*intact"):
        s.save(labels=_labels(5))
    assert len(ProjectStore.open(s.path, mode="r").labels) == 2
    assert not (s.path / ".writer.lock").exists()  # the lock is released
