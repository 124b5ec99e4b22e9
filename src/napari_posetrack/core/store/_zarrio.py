"""Low-level zarr I/O for the project store: durable files, columnar groups, atomic JSON.

Everything here works on a store root directory and relative group paths. Columns are
1-D-or-more numpy arrays that share their first (row) axis; each becomes one zarr array
chunked along rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import zarr
from zarr.storage import LocalStore

__all__ = [
    "DurableLocalStore",
    "open_root",
    "write_columns",
    "read_columns",
    "append_columns",
    "write_json_atomic",
    "fsync_dir",
    "CHUNK_ROWS",
]

#: rows per chunk of table arrays (about 0.8 MB of points per chunk for a 13-node skeleton)
CHUNK_ROWS = 8192

_DIRTY: dict[str, set[str]] = {}
_DIRTY_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None


def _compressors():
    return zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


def fsync_dir(path: Path) -> None:
    """fsync a directory so that renames and new entries in it survive a power cut."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _put_durable(path: Path, value, exclusive: bool = False, root: str = "") -> int:
    """Write a file atomically (temp file + fsync + rename), remember its folder for fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    view = value.as_buffer_like()
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(tmp, "wb") as f:
            n = f.write(view)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    with _DIRTY_LOCK:
        _DIRTY.setdefault(root, set()).add(str(path.parent))
    return n


class DurableLocalStore(LocalStore):
    """A zarr ``LocalStore`` whose every file write is atomic *and* fsynced.

    zarr's own ``LocalStore`` already writes through a temporary file and a rename, so a
    killed process never leaves a torn chunk. This subclass also fsyncs each file and records
    the folders it wrote into, so :func:`flush_dirs` can make the new entries durable before
    the store's commit pointer moves.
    """

    async def _set(self, key: str, value, exclusive: bool = False) -> None:
        if not self._is_open:
            await self._open()
        self._check_writable()
        path = self.root / key
        await asyncio.to_thread(_put_durable, path, value, exclusive, str(self.root))

    def set_sync(self, key: str, value) -> None:  # pragma: no cover - zarr uses the async path
        self._ensure_open_sync()
        self._check_writable()
        _put_durable(self.root / key, value, False, str(self.root))


def flush_dirs(root: Path) -> None:
    """fsync every folder written into under ``root`` since the last flush."""
    with _DIRTY_LOCK:
        dirs = _DIRTY.pop(str(root), set())
    for d in sorted(dirs, key=len, reverse=True):
        fsync_dir(Path(d))


def open_root(root: Path, *, read_only: bool) -> zarr.Group:
    """Open the store's root zarr group."""
    store = DurableLocalStore(root, read_only=read_only)
    return zarr.open_group(store=store, mode="r" if read_only else "r+", zarr_format=3)


def write_json_atomic(path: Path, obj, *, durable: bool = True) -> None:
    """Write plain JSON to ``path`` atomically: temp file, fsync, ``os.replace``, fsync folder."""
    data = json.dumps(obj, indent=1, allow_nan=False).encode()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


# ---------------------------------------------------------------------------- columns
def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="posetrack-store")
    return _POOL


def _each(fn, items) -> list:
    """``fn`` over ``items`` in threads (zarr's sync calls block; columns are independent)."""
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    return list(_pool().map(fn, items))


def write_columns(root_group: zarr.Group, path: str, columns: dict[str, np.ndarray], attrs: dict | None = None,
                  chunk_rows: int = CHUNK_ROWS) -> None:
    """Create group ``path`` holding one row-chunked array per column.

    Parameters
    ----------
    root_group : zarr.Group
        The store's root group (writable).
    path : str
        Group path relative to the root, e.g. ``"tables/labels-000003-1a2b3c4d"``.
    columns : dict of str to ndarray (N, ...)
        Columns sharing the row axis.
    attrs : dict, optional
        Plain-JSON attributes of the group.
    """
    g = root_group.create_group(path, overwrite=True, attributes=attrs or {})

    def one(item):
        name, arr = item
        arr = np.ascontiguousarray(arr)
        chunks = (chunk_rows,) + tuple(max(1, s) for s in arr.shape[1:])
        fill = np.nan if arr.dtype.kind == "f" else 0
        a = g.create_array(name, shape=arr.shape, dtype=arr.dtype, chunks=chunks, compressors=_compressors(),
                           fill_value=fill, chunk_key_encoding={"name": "default", "separator": "."})
        if arr.shape[0]:
            a[...] = arr

    _each(one, columns.items())


def read_columns(root_group: zarr.Group, path: str, n_rows: int, names=None) -> dict[str, np.ndarray]:
    """Read the first ``n_rows`` rows of the columns of group ``path``.

    Rows beyond ``n_rows`` (capacity, or an append that never committed) are ignored.
    """
    g = root_group[path]
    arrays = [(name, a) for name, a in g.arrays() if names is None or name in names]

    def one(item):
        name, arr = item
        if arr.shape[0] < n_rows:
            raise ValueError(f"array {path}/{name} has {arr.shape[0]} rows, the commit says {n_rows}")
        return name, (np.asarray(arr[:n_rows]) if n_rows else np.zeros((0,) + arr.shape[1:], arr.dtype))

    return dict(_each(one, arrays))


#: (N, C) float columns whose width C may change between appends (the stored array widens; NaN = unknown)
VARIABLE_WIDTH = ("identity_probs",)


def _fit_widths(g, arrays: dict, columns: dict) -> dict:
    """Columns of :data:`VARIABLE_WIDTH` made as wide as the stored array (which is widened, or created for a
    group written before the column existed, when the new rows are wider); ``arrays`` is updated."""
    out = dict(columns)
    for name in VARIABLE_WIDTH:
        if name not in out:
            continue
        value = np.asarray(out[name], np.float32)
        value = value.reshape(value.shape[0], -1) if value.ndim != 2 else value
        if name not in arrays:
            rows = next(iter(arrays.values())).shape[0] if arrays else 0
            arrays[name] = g.create_array(name, shape=(rows, value.shape[1]), dtype=np.float32,
                                          chunks=(CHUNK_ROWS, max(1, value.shape[1])), compressors=_compressors(),
                                          fill_value=np.nan, chunk_key_encoding={"name": "default", "separator": "."})
        a = arrays[name]
        if a.shape[1] < value.shape[1]:
            a.resize((a.shape[0], value.shape[1]))
        elif a.shape[1] > value.shape[1]:
            value = np.pad(value, ((0, 0), (0, a.shape[1] - value.shape[1])), constant_values=np.nan)
        out[name] = value
    return out


def append_columns(root_group: zarr.Group, path: str, n_committed: int, columns: dict[str, np.ndarray]) -> int:
    """Write ``columns`` as rows ``n_committed ...`` of group ``path``; return the new row count.

    Arrays keep a capacity beyond the committed rows (grown by doubling); rows past the
    committed count (capacity, or an interrupted append) are overwritten here and ignored by
    readers. Only the chunks that hold the new rows are written. Chunk files
    are replaced atomically, so committed rows sharing a chunk stay readable throughout.
    """
    g = root_group[path]
    arrays = dict(g.arrays())
    columns = _fit_widths(g, arrays, columns)
    m = None
    for name, value in columns.items():
        if name not in arrays:
            raise KeyError(f"group {path} has no column {name!r}")
        value = np.asarray(value, dtype=arrays[name].dtype)
        m = value.shape[0] if m is None else m
        if value.shape[0] != m or value.shape[1:] != arrays[name].shape[1:]:
            raise ValueError(f"column {name!r} has shape {value.shape}, expected ({m}, *{arrays[name].shape[1:]})")
    missing = set(arrays) - set(columns)
    if missing:
        raise KeyError(f"append to {path} lacks columns {sorted(missing)}")
    if not m:
        return n_committed
    new_n = n_committed + m

    def one(name):
        a = arrays[name]
        if a.shape[0] < new_n:  # grow capacity geometrically: few metadata rewrites
            a.resize((max(new_n, 2 * a.shape[0], CHUNK_ROWS),) + a.shape[1:])
        a[n_committed:new_n] = np.asarray(columns[name], dtype=a.dtype)

    _each(one, list(columns))
    return new_n
