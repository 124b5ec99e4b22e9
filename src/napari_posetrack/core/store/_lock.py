"""A writer lock file for a project store, with stale-lock detection.

The lock is a file ``.writer.lock`` created with ``O_EXCL`` holding the writer's pid, host
name and start time. It is held for the duration of one write (a save, an append), not for
as long as a store is open, so a napari session and a command-line run can take turns.
A lock whose process is gone (same host, pid not alive) is stale and is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from ..errors import StoreLockedError

__all__ = ["WriterLock", "LOCK_NAME"]

LOCK_NAME = ".writer.lock"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


class WriterLock:
    """Re-entrant (within one object) inter-process writer lock on a store folder.

    Parameters
    ----------
    store_path : Path
        The ``*.posetrack.zarr`` folder.
    timeout : float
        Seconds to wait for another live writer before raising :class:`StoreLockedError`.
    """

    def __init__(self, store_path: Path, timeout: float = 10.0):
        self.path = Path(store_path) / LOCK_NAME
        self.timeout = timeout
        self._depth = 0
        self._thread_lock = threading.RLock()

    def owner(self) -> dict | None:
        """The lock file's content, or None if there is no lock (or it is unreadable)."""
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _is_stale(self, info: dict | None) -> bool:
        if info is None:
            # unreadable: a writer may be between create and write; stale only if old
            try:
                return time.time() - self.path.stat().st_mtime > 5.0
            except OSError:
                return True
        if info.get("host") != socket.gethostname():
            return False
        return not _pid_alive(int(info.get("pid", -1)))

    def _try_create(self) -> bool:
        try:
            fd = os.open(str(self.path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StoreLockedError(
                f"Cannot create the writer lock {self.path}: {exc.strerror}.",
                path=self.path.parent,
                hint="Check that the project folder is writable, or open the project read-only (mode='r').",
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}, f)
        return True

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self._depth:
            self._depth += 1
            return
        try:
            deadline = time.monotonic() + self.timeout
            while not self._try_create():
                info = self.owner()
                if self._is_stale(info):
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                    continue
                if time.monotonic() > deadline:
                    who = f"process {info.get('pid')} on {info.get('host')}" if info else "another process"
                    raise StoreLockedError(
                        f"The project store {self.path.parent} is being written by {who}; "
                        f"waited {self.timeout:.0f} s for it to finish.",
                        path=self.path.parent,
                        hint=f"Wait for that process to finish. If it is gone, delete {self.path}.",
                    )
                time.sleep(0.02)
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth = 1

    def release(self) -> None:
        if self._depth <= 0:
            return
        self._depth -= 1
        if self._depth == 0:
            try:
                info = self.owner()
                if info is None or int(info.get("pid", -1)) == os.getpid():
                    self.path.unlink()
            except FileNotFoundError:
                pass
        self._thread_lock.release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
