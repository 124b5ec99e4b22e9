"""Streaming predictions: cheap appends, resume after an interruption or a kill, clearing."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.store import ProjectStore
from napari_posetrack.core.store._zarrio import append_columns

CHILD = Path(__file__).with_name("_store_writer_child.py")
_spec = importlib.util.spec_from_file_location("_store_writer_child", CHILD)
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)

N_FRAMES = 600


def _full_run() -> PoseTable:
    return PoseTable.concat([child.stream_frame(f) for f in range(N_FRAMES)], n_nodes=child.K)


def _new_store(tmp_path) -> Path:
    return ProjectStore.create(tmp_path / "s.posetrack.zarr", child.skeleton()).path


def _same_rows(a: PoseTable, b: PoseTable) -> bool:
    return a.sorted().equals(b.sorted())


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path):
    path = _new_store(tmp_path)
    assert child.run_stream(str(path), N_FRAMES, 64, stop_after=3) == 3  # "crashes" after 3 batches
    store = ProjectStore.open(path, mode="r")
    # frames with no instance count as predicted too (passed as frames=)
    assert np.array_equal(store.predicted_frames(0), np.arange(192))
    assert len(store.predictions) == sum(f % 3 for f in range(192))
    n_more = child.run_stream(str(path), N_FRAMES, 64)
    assert n_more == int(np.ceil((N_FRAMES - 192) / 64))
    final = ProjectStore.open(path, mode="r")
    assert _same_rows(final.predictions, _full_run())
    assert np.array_equal(final.predicted_frames(0), np.arange(N_FRAMES))
    assert final.predicted_frames(1).size == 0


def test_killed_streaming_run_resumes(tmp_path):
    path = _new_store(tmp_path)
    log = tmp_path / "stream.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(CHILD), "--stream", str(path), "200000", "50", str(log)], env=env)
    t_end = time.monotonic() + 60
    while not (log.exists() and len(log.read_text().splitlines()) >= 5):
        assert time.monotonic() < t_end and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = ProjectStore.open(path, mode="r").predicted_frames(0)
    assert len(done) >= 250 and np.array_equal(done, np.arange(len(done)))  # a prefix, in whole batches
    target = len(done) + 120
    child.run_stream(str(path), target, 50)
    final = ProjectStore.open(path, mode="r").predictions
    expect = PoseTable.concat([child.stream_frame(f) for f in range(target)], n_nodes=child.K)
    assert _same_rows(final, expect)  # nothing lost, nothing twice


def test_uncommitted_rows_are_ignored_then_overwritten(tmp_path):
    path = _new_store(tmp_path)
    store = ProjectStore.open(path)
    first = PoseTable.concat([child.stream_frame(f) for f in range(10)], n_nodes=child.K)
    store.append_predictions(first)
    ref = store.head()["tables"]["predictions"]
    # an append that wrote rows but died before its commit
    junk = PoseTable.concat([child.stream_frame(f) for f in range(500, 520)], n_nodes=child.K)
    append_columns(store._root, ref["group"], ref["n_rows"], junk.to_dict())
    assert ProjectStore.open(path, mode="r").predictions.equals(first)
    second = PoseTable.concat([child.stream_frame(f) for f in range(10, 14)], n_nodes=child.K)
    store.append_predictions(second)
    assert ProjectStore.open(path, mode="r").predictions.equals(PoseTable.concat([first, second]))


def test_appending_a_frame_twice_is_a_no_op(tmp_path):
    store = ProjectStore.open(_new_store(tmp_path))
    batch = PoseTable.concat([child.stream_frame(f) for f in range(1, 30)], n_nodes=child.K)
    assert store.append_predictions(batch) == len(batch)
    c = store.commit
    assert store.append_predictions(batch) == 0
    assert store.commit == c and len(store.predictions) == len(batch)
    # explicit opt-out appends anyway
    assert store.append_predictions(batch.take(np.arange(2)), skip_existing_frames=False) == 2


def test_clear_predictions_of_one_video(tmp_path):
    store = ProjectStore.open(_new_store(tmp_path))
    a = PoseTable.concat([child.stream_frame(f) for f in range(1, 9)], n_nodes=child.K)
    b = a.with_columns(video_id=np.ones(len(a), np.int32))
    store.append_predictions(a, frames=[[0, 0]])
    store.append_predictions(b, frames=[[1, 0]])
    store.clear_predictions(video_id=0)
    assert store.predicted_frames(0).size == 0
    assert np.array_equal(store.predicted_frames(1), [0, 1, 2, 4, 5, 7, 8])  # 3, 6 had no instance
    assert store.predictions.equals(b)
    store.clear_predictions()
    assert len(store.predictions) == 0 and store.predicted_frames(1).size == 0


def test_many_small_appends_keep_reads_exact(tmp_path):
    store = ProjectStore.open(_new_store(tmp_path))
    rng = np.random.default_rng(0)
    parts = []
    for i in range(15):
        t = PoseTable.from_arrays(rng.random((1200, child.K, 2)).astype(np.float32),
                                  frame_idx=i * 1200 + np.arange(1200), source=1)
        store.append_predictions(t)
        parts.append(t)
    arr = store._root[store.head()["tables"]["predictions"]["group"]]["points"]
    assert arr.shape[0] >= len(store.predictions)  # capacity grows ahead of the committed rows
    assert ProjectStore.open(store.path, mode="r").predictions.equals(PoseTable.concat(parts))


def test_own_appends_are_not_a_conflict_but_foreign_ones_are(tmp_path):
    """Appending then saving predictions through the same store object replaces them; a save of
    predictions read before *another* process appended still raises a conflict."""
    from napari_posetrack.core.errors import StoreError
    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.core.store import ProjectStore

    sk = Skeleton.from_names(["a", "b"])

    def rows(frames):
        return PoseTable.from_arrays(np.ones((len(frames), 2, 2)), frame_idx=frames, source=1)

    s = ProjectStore.create(tmp_path / "p.posetrack.zarr", sk)
    s.append_predictions(rows([0, 1]))
    read = s.predictions  # handed out, then changed by our own append
    s.append_predictions(rows([2]))
    s.save(predictions=read)  # unchanged since read: the appended row is kept
    assert sorted(s.predictions.frame_idx.tolist()) == [0, 1, 2]
    s.save(predictions=rows([7]))  # changed here: replaces
    assert s.predictions.frame_idx.tolist() == [7]

    other = ProjectStore.open(s.path)
    mine = other.predictions
    s.append_predictions(rows([8]))  # another writer appends meanwhile
    with pytest.raises(StoreError, match="another writer"):
        other.save(predictions=mine.with_columns(frame_idx=mine.frame_idx + 1))
