"""Writer process for the kill test of the project store (tests/core/test_store_atomic.py).

Run as ``python _store_writer_child.py STORE START LOG`` (or ``--zygote``, see :func:`zygote`):
applies steps START, START+1, ... to the store forever, writing ``committed I`` to LOG after
each step returns, until it is killed.
Every step is deterministic, so :func:`expected_state` can rebuild the state after any
step without I/O, and the test can check that a killed writer left exactly one of them.
"""

from __future__ import annotations

import sys

import numpy as np

K = 5  # nodes


def skeleton():
    from napari_posetrack.core.skeleton import Skeleton

    return Skeleton.from_names([f"n{i}" for i in range(K)], [("n0", "n1"), ("n1", "n2")], name="kill")


def _rng(i: int, what: str) -> np.random.Generator:
    return np.random.default_rng([i, sum(map(ord, what))])


def labels_for(i: int):
    from napari_posetrack.core.posetable import PoseTable

    rng = _rng(i, "labels")
    n = int(rng.integers(10000, 40000))
    pts = rng.random((n, K, 2)).astype(np.float32) * 500
    state = rng.integers(0, 3, (n, K)).astype(np.uint8)
    pts[state == 0] = np.nan
    return PoseTable.from_arrays(pts, frame_idx=rng.integers(0, 5000, n), state=state, track_id=rng.integers(-1, 3, n))


def batch_for(i: int):
    """Prediction rows appended by step ``i`` (frames unique to the step)."""
    from napari_posetrack.core.posetable import PoseTable

    rng = _rng(i, "batch")
    n_frames = 1500
    frames = np.repeat(i * n_frames + np.arange(n_frames), 2)
    n = len(frames)
    return PoseTable.from_arrays(rng.random((n, K, 2)).astype(np.float32), frame_idx=frames,
                                 score=rng.random((n, K)), instance_score=rng.random(n), source=1)


def kind(i: int) -> str:
    if i % 4 == 0:
        return "save_labels"
    if i % 12 == 3:
        return "replace_predictions"
    if i % 4 == 3:
        return "attrs"
    return "append"


def apply_step(store, i: int) -> None:
    k = kind(i)
    if k == "save_labels":
        store.save(labels=labels_for(i), suggestions=np.array([[0, i], [0, i + 1]]),
                   track_names=[f"t{i}", "b"], attrs={"step": i})
    elif k == "replace_predictions":
        store.save(predictions=batch_for(i), attrs={"step": i})
    elif k == "attrs":
        store.set_attrs(step=i, note=f"step {i}")
    else:
        store.append_predictions(batch_for(i))


def expected_state(i: int) -> dict:
    """The store's content after steps 1..i (0 = freshly created)."""
    from napari_posetrack.core.posetable import PoseTable

    last_labels, pred_steps, attrs = None, [], {}
    for j in range(1, i + 1):
        k = kind(j)
        if k == "save_labels":
            last_labels = j
            attrs["step"] = j
        elif k == "replace_predictions":
            pred_steps = [j]
            attrs["step"] = j
        elif k == "attrs":
            attrs.update(step=j, note=f"step {j}")
        else:
            pred_steps.append(j)
    empty = PoseTable.empty(K)
    return {
        "labels": labels_for(last_labels) if last_labels else empty,
        "predictions": PoseTable.concat([batch_for(j) for j in pred_steps], n_nodes=K) if pred_steps else empty,
        "suggestions": np.array([[0, last_labels], [0, last_labels + 1]]) if last_labels else np.zeros((0, 2)),
        "track_names": [f"t{last_labels}", "b"] if last_labels else [],
        "attrs": attrs,
    }


def run_writer(store_path: str, start: int, out_path: str) -> None:
    """Apply steps from ``start`` on, logging to ``out_path``; never returns (killed by the test)."""
    from napari_posetrack.core.store import ProjectStore

    import traceback

    with open(out_path, "w", buffering=1) as log:
        try:
            store = ProjectStore.open(store_path, lock_timeout=30)
            log.write("ready\n")
            i = start
            while True:
                apply_step(store, i)
                log.write(f"committed {i}\n")
                i += 1
        except BaseException:  # the test reads this: a writer must only ever die by SIGKILL
            log.write("error " + traceback.format_exc().replace("\n", " | ") + "\n")
            raise


def stream_frame(f: int):
    """What a fake model predicts on frame ``f``: 0, 1 or 2 instances (deterministic)."""
    from napari_posetrack.core.posetable import PoseTable

    n = f % 3
    rng = _rng(f, "stream")
    return PoseTable.from_arrays(rng.random((n, K, 2)).astype(np.float32), frame_idx=np.full(n, f),
                                 score=rng.random((n, K)), source=1)


def run_stream(store_path: str, n_frames: int, batch: int, out_path: str | None = None, stop_after=None) -> int:
    """Streaming inference over frames ``0..n_frames`` of video 0, resuming where the store is.

    Returns the number of batches appended (stops early after ``stop_after`` batches).
    """
    from napari_posetrack.core.posetable import PoseTable
    from napari_posetrack.core.store import ProjectStore

    store = ProjectStore.open(store_path, lock_timeout=30)
    done = set(store.predicted_frames(0).tolist())
    todo = [f for f in range(n_frames) if f not in done]
    log = open(out_path, "w", buffering=1) if out_path else None
    n_batches = 0
    for start in range(0, len(todo), batch):
        frames = todo[start:start + batch]
        table = PoseTable.concat([stream_frame(f) for f in frames], n_nodes=K)
        store.append_predictions(table, frames=np.column_stack([np.zeros(len(frames), int), frames]))
        n_batches += 1
        if log:
            log.write(f"appended {frames[-1]}\n")
        if stop_after is not None and n_batches >= stop_after:
            break
    return n_batches


def zygote() -> None:
    """Import everything once, then fork one writer per request ``STORE START LOGFILE``.

    Forking a warm process makes each kill round cost milliseconds instead of a fresh
    interpreter start. SIGCHLD is ignored so killed writers are reaped at once.
    """
    import os
    import signal

    import napari_posetrack.core.store  # noqa: F401 - warm the imports before forking

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    for line in sys.stdin:
        store_path, start, out_path = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                run_writer(store_path, int(start), out_path)
            finally:
                os._exit(1)
        print(pid, flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        zygote()
    elif sys.argv[1] == "--stream":
        run_stream(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        run_writer(sys.argv[1], int(sys.argv[2]), sys.argv[3])
