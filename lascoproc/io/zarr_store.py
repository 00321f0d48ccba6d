"""Zarr primitives of a resumable, idempotent time-cube store (xarray "Distributed writes").

A store is written in two phases, each a function here; the loop over regions, the concurrency
and the progress live in :mod:`lascoproc.pipeline.regions`:

1. :func:`write_template` writes the metadata of every array and the values of every in-memory
   variable (the per-frame coordinates), no pixel, and the run manifest (``frame_written`` all 0).
2. :func:`write_region` (lazy) writes the data variables of one region of ``region_frames``
   frames; :func:`mark_region` then sets ``frame_written`` for those frames and records the run
   that wrote them (``frame_run``), after the data, so a mark is never ahead of its data.
   :func:`read_marks` says which frames are done. A rerun rewrites the same regions and never
   appends.

Layout (:func:`store_encoding`). Zarr format 3 by default: each (time, y, x) variable has one
frame per inner chunk, grouped in shards of ``region_frames`` frames (one object per region
and variable), so a mission of 10^6 frames is ~10^6 / 64 objects per variable instead of
10^6, and reading one frame reads only its inner chunk (the shard index gives its byte range).
A region is exactly one shard, so concurrent region writes never touch the same object.
Per-frame variables are one chunk per region. Format 2 (no sharding) keeps one frame per chunk.
Floating-point images are compressed with Blosc LZ4 and byte shuffle, integers with Zstandard
level 1 (docs/benchmarks.md).

Consolidated metadata are written, so that ``xr.open_zarr(path)`` opens a store without listing
it (slow for a million-chunk store on an object store); zarr-python warns that they are not yet
part of the Zarr v3 specification, and that one warning is silenced here, deliberately.

A store being written holds a lease (:func:`acquire_lease`): a small JSON object beside it
(``<store>.lease.json``) naming the run, its host and a heartbeat time; a second writer is
refused while the lease is fresh and takes it over once it has gone stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time as _time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from lascoproc.io.fs import get_fs, protocol_of, redact_url
from lascoproc.io.zarr_pipeline import install as _install_pipeline

__all__ = [
    "DONE_VAR",
    "root_attrs",
    "foreign_entries",
    "RUN_VAR",
    "LEASE_SUFFIX",
    "StoreMismatchError",
    "StoreLockedError",
    "default_encoding",
    "store_encoding",
    "store_exists",
    "write_template",
    "write_region",
    "mark_region",
    "read_marks",
    "template_complete",
    "read_attrs",
    "open_store",
    "remove_store",
    "Lease",
    "acquire_lease",
]

#: Per-frame run manifest: 1 once the frame's region is written.
DONE_VAR = "frame_written"
#: Per-frame id of the run that wrote the frame ('' while not written).
RUN_VAR = "frame_run"
#: The writer's lease: an object beside the store, ``<store>.lease.json`` (outside it, so
#: that the store holds Zarr only and a new store's template is created into nothing).
LEASE_SUFFIX = ".lease.json"


class StoreMismatchError(ValueError):
    """The existing store was made by another run definition; resuming would mix results."""


class StoreLockedError(RuntimeError):
    """Another run holds the store's writer lease."""


@contextlib.contextmanager
def _quiet_consolidated() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        yield


def _zstd(level: int, zarr_format: int):
    if zarr_format == 3:
        from zarr.codecs import ZstdCodec

        return {"compressors": [ZstdCodec(level=level)]}
    from numcodecs import Blosc

    return {"compressors": (Blosc(cname="zstd", clevel=level, shuffle=Blosc.BITSHUFFLE),)}


#: Blosc's level for LZ4 (default_encoding): 1.
LZ4_LEVEL = 1


def _blosc_lz4(itemsize: int, zarr_format: int):
    if zarr_format == 3:
        from zarr.codecs import BloscCodec

        return {"compressors": [BloscCodec(cname="lz4", clevel=LZ4_LEVEL, shuffle="shuffle",
                                           typesize=itemsize)]}
    from numcodecs import Blosc

    return {"compressors": (Blosc(cname="lz4", clevel=LZ4_LEVEL, shuffle=Blosc.SHUFFLE),)}


def default_encoding(ds: xr.Dataset, *, zarr_format: int = 3, level: int = 1) -> dict:
    """Compression of every data variable that has a ``time`` dimension.

    Floating-point images: Blosc LZ4 with byte shuffle, which on noisy float32 coronagraph
    frames was both faster (~2.5 against ~5.7 ms per 1024x1024 frame) and smaller (ratio
    ~1.6 against ~1.4) than Zstandard level 1; at Blosc level 1 (:data:`LZ4_LEVEL`): on 16
    level-1 C3 frames 2.26 ms per frame and ratio 1.646, against 3.03 ms and 1.655 at level 5
    and 4.60 ms and 1.661 at level 9 (2026-12-01, docs/benchmarks.md). Integers (counts,
    flags): Zstandard ``level`` (1: ~11 ms per 4 MiB chunk against ~45 ms for zarr's default
    level, for nearly the same ratio). Both measured on this project's machine
    (docs/benchmarks.md).
    """
    enc = {}
    for name, var in ds.data_vars.items():
        if "time" not in var.dims:
            continue
        if var.dtype.kind == "f":
            enc[name] = _blosc_lz4(var.dtype.itemsize, zarr_format)
        else:
            enc[name] = _zstd(level, zarr_format)
    return enc


def store_encoding(ds: xr.Dataset, *, region_frames: int, zarr_format: int = 3,
                   encoding: Mapping[str, Any] | None = None) -> dict:
    """Chunks, shards and compression of every data variable with a ``time`` dimension.

    Images (``time`` and more dims): one frame per (inner) chunk; with Zarr format 3 grouped in
    shards of ``region_frames`` frames. Per-frame variables: one chunk per region. ``encoding``
    overrides per variable (compression only; the chunks must stay these for the region writes
    to be safe).
    """
    enc = default_encoding(ds, zarr_format=zarr_format)
    for name, extra in (encoding or {}).items():
        enc[name] = {**enc.get(name, {}), **dict(extra)}
    n = ds.sizes["time"]
    region = max(min(int(region_frames), n), 1)
    for name, var in ds.data_vars.items():
        if "time" not in var.dims:
            continue
        axis = var.dims.index("time")
        if var.ndim == 1:
            enc[name]["chunks"] = (region,)
            continue
        chunks = list(var.shape)
        chunks[axis] = 1
        enc[name]["chunks"] = tuple(chunks)
        if zarr_format == 3:
            shards = list(var.shape)
            shards[axis] = region
            enc[name]["shards"] = tuple(shards)
    return enc


def store_exists(store: str, storage_options: Mapping[str, Any] | None = None) -> bool:
    """Whether a Zarr hierarchy (v2 or v3) exists at ``store``."""
    fs, path = get_fs(store, storage_options)
    return fs.exists(f"{path}/zarr.json") or fs.exists(f"{path}/.zgroup")


def foreign_entries(store: str, storage_options: Mapping[str, Any] | None = None,
                    limit: int = 3) -> list[str]:
    """What is at ``store`` when it is not a Zarr hierarchy: a file's name, or the names of
    (up to ``limit``) entries of a directory or prefix that holds something. ``[]`` when
    nothing is there (a new output, or an empty directory) or when it is a Zarr store. A
    writer refuses such a path: neither writing into it nor replacing it would be safe."""
    fs, path = get_fs(store, storage_options)
    if not fs.exists(path) or store_exists(store, storage_options):
        return []
    if fs.isfile(path):
        return [path.rstrip("/").rsplit("/", 1)[-1]]
    names = sorted(str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path,
                                                                               detail=False))
    return names[:limit] + ([f"... {len(names) - limit} more"] if len(names) > limit else [])


def root_attrs(store: str, storage_options: Mapping[str, Any] | None = None) -> dict:
    """The attributes of the store's root group as its metadata object holds them (Zarr v3
    ``zarr.json``, v2 ``.zattrs``), read directly: also for a store whose template was never
    finished. ``{}`` when there are none."""
    fs, path = get_fs(store, storage_options)
    try:
        if fs.exists(f"{path}/zarr.json"):
            return dict(json.loads(fs.cat_file(f"{path}/zarr.json")).get("attributes") or {})
        if fs.exists(f"{path}/.zattrs"):
            return dict(json.loads(fs.cat_file(f"{path}/.zattrs")))
    except (OSError, ValueError):
        pass
    return {}


def remove_store(store: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Delete a store (what ``--overwrite`` does before a new template)."""
    fs, path = get_fs(store, storage_options)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _text_as_object(ds: xr.Dataset) -> xr.Dataset:
    """xarray writes object-dtype strings as Zarr v3 variable-length UTF-8 strings, which have a
    spec; numpy fixed-width unicode would become an unstable Zarr extension type."""
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    return ds


def write_template(template: xr.Dataset, store: str, *, region_frames: int,
                   zarr_format: int = 3, encoding: Mapping[str, Any] | None = None,
                   storage_options: Mapping[str, Any] | None = None) -> None:
    """Create the store: every array's metadata, the in-memory variables, the run manifest.

    Parameters
    ----------
    template
        The cube over every frame: coordinates and attributes in memory; each data variable
        with a ``time`` dimension a placeholder (any array of the right dims, dtype and shape;
        its data are never read or computed).
    store
        Path or fsspec URL; must not exist (the caller removes an old one on ``--overwrite``).
    region_frames
        Frames per region: the unit of writing and of resumption, and the shard size.
    zarr_format
        3 (default, sharded) or 2.
    encoding
        Extra per-variable compression settings (:func:`store_encoding`).
    storage_options
        fsspec options of the store.
    """
    if "time" not in template.dims:
        raise ValueError("a store template needs a 'time' dimension")
    lazy = sorted(str(name) for name, var in template.variables.items()
                  if var.chunks is not None
                  and not (name in template.data_vars and "time" in var.dims))
    if lazy:  # written only here, and to_zarr(compute=False) would leave them unwritten
        raise ValueError(f"store template: {', '.join(lazy)} must be in memory (coordinates "
                         "and variables without a time dimension are written with the "
                         "template, never by the regions); load them first")
    n = template.sizes["time"]
    ds = template.copy()
    ds[DONE_VAR] = ("time", np.zeros(n, np.uint8), {
        "long_name": "frame written and complete (1) or not yet (0)",
        "comment": "run manifest: set per region after its data are written"})
    ds[RUN_VAR] = ("time", np.full(n, "", dtype=object), {
        "long_name": "id of the run that wrote the frame"})
    enc = store_encoding(ds, region_frames=region_frames, zarr_format=zarr_format,
                         encoding=encoding)
    region = max(min(int(region_frames), n), 1)
    for name in (DONE_VAR, RUN_VAR):
        enc[name]["chunks"] = (region,)
    meta = ds.copy()
    for name, var in ds.data_vars.items():
        if "time" in var.dims and name not in (DONE_VAR, RUN_VAR):
            # metadata only: to_zarr(compute=False) builds a store task per dask chunk, so
            # one chunk, whatever the length of the run
            meta[name] = var.copy(data=da.zeros(var.shape, dtype=var.dtype, chunks=var.shape))
    meta = _text_as_object(meta)
    with _quiet_consolidated():
        meta.to_zarr(store, mode="w-", compute=False, zarr_format=zarr_format,
                     consolidated=True, encoding=enc, storage_options=storage_options or None)


def write_region(part: xr.Dataset, store: str, region: slice, *, zarr_format: int = 3,
                 storage_options: Mapping[str, Any] | None = None):
    """The lazy write (a ``dask.delayed`` object) of the data variables of ``part`` (exactly
    the frames of ``region``) into ``store``; computing it writes them.

    The images are rechunked to the region (one dask chunk = one shard) for Zarr format 3, so
    that each shard is written by one task; per-frame variables to one chunk.
    """
    names = [name for name, var in part.data_vars.items()
             if "time" in var.dims and name not in (DONE_VAR, RUN_VAR)]
    piece = part[names]
    piece = piece.drop_vars(list(piece.coords))
    n = region.stop - region.start
    if piece.sizes.get("time") != n:
        raise ValueError(f"region [{region.start}, {region.stop}) has {n} frames, the data "
                         f"given {piece.sizes.get('time')}")
    chunks = {}
    for name, var in piece.data_vars.items():
        if var.chunks is None:
            continue
        if var.ndim == 1 or zarr_format == 3:
            chunks[name] = var.chunk({"time": n})
    for name, var in chunks.items():
        piece[name] = var
    piece = _text_as_object(piece)
    # shards' frames encoded without a copy each (lascoproc.io.zarr_pipeline: the same bytes);
    # the threaded scheduler writes in this process, a cluster's workers get it from the
    # region scheduler
    _install_pipeline()
    with _quiet_consolidated():
        # write_empty_chunks: a frame is never the fill value; zarr's test for it (a full
        # comparison, NaN-aware) cost a third of a region's write (measured, docs/benchmarks.md)
        return piece.to_zarr(store, region={"time": region}, mode="r+",
                             storage_options=storage_options or None,
                             zarr_format=zarr_format, compute=False, write_empty_chunks=True)


def mark_region(store: str, region: slice, run_id: str, *, zarr_format: int = 3,
                storage_options: Mapping[str, Any] | None = None) -> None:
    """Set the run manifest of the frames of ``region``: written, by run ``run_id``."""
    n = region.stop - region.start
    mark = xr.Dataset({DONE_VAR: ("time", np.ones(n, np.uint8)),
                       RUN_VAR: ("time", np.full(n, str(run_id), dtype=object))})
    with _quiet_consolidated():
        mark.to_zarr(store, region={"time": region}, mode="r+",
                     storage_options=storage_options or None, zarr_format=zarr_format)


def open_store(store: str, storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """A store opened lazily without dask (``chunks=None``): nothing is read until a variable
    is indexed; ``xr.open_zarr(store)`` gives a dask cube."""
    with _quiet_consolidated():
        return xr.open_zarr(store, storage_options=storage_options or None, chunks=None)


def template_complete(store: str, storage_options: Mapping[str, Any] | None = None) -> bool:
    """Whether the store's template was written to the end: its consolidated metadata (written
    last) list the run manifest. A run killed while it wrote the template leaves a store without
    it, which holds no written region and is made again."""
    try:
        with _quiet_consolidated():
            ds = xr.open_zarr(store, storage_options=storage_options or None, chunks=None,
                              consolidated=True)
    except Exception:  # noqa: BLE001 - any unreadable template is an incomplete one
        return False
    return DONE_VAR in ds and RUN_VAR in ds


def read_marks(store: str, storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Per frame: True when its region was written and marked."""
    return np.asarray(open_store(store, storage_options)[DONE_VAR].values).astype(bool)


def read_attrs(store: str, storage_options: Mapping[str, Any] | None = None) -> dict:
    """The attributes of an existing store."""
    return dict(open_store(store, storage_options).attrs)


# -- writer lease ---------------------------------------------------------------------------


class Lease:
    """The writer lease of a store, held by one run (:func:`acquire_lease`).

    :meth:`renew` updates the heartbeat (call it well within ``ttl``); :meth:`check` raises
    :class:`StoreLockedError` when another run has taken the lease over (this run was thought
    dead); :meth:`release` removes it.
    """

    def __init__(self, store: str, run_id: str, ttl: float,
                 storage_options: Mapping[str, Any] | None):
        self.store = store
        self.run_id = run_id
        self.ttl = float(ttl)
        self._storage_options = dict(storage_options or {})
        self._fs, root = get_fs(store, storage_options)
        self.path = root.rstrip("/") + LEASE_SUFFIX
        self.started = _time.time()

    def _record(self) -> dict:
        return {"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                "started": self.started, "heartbeat": _time.time(), "ttl": self.ttl}

    def _write(self) -> None:
        parent = self.path.rsplit("/", 1)[0] if "/" in self.path else ""
        if parent:
            self._fs.makedirs(parent, exist_ok=True)
        with self._fs.open(self.path, "w") as handle:
            json.dump(self._record(), handle)

    def read(self) -> dict | None:
        """The lease as stored, or ``None`` (absent or unreadable)."""
        try:
            return json.loads(self._fs.cat_file(self.path))
        except (FileNotFoundError, ValueError, OSError):
            return None

    def renew(self) -> None:
        self.check()
        self._write()

    def check(self) -> None:
        held = self.read()
        if held is not None and held.get("run_id") != self.run_id:
            raise StoreLockedError(
                f"{redact_url(self.store)}: the writer lease was taken over by run "
                f"{held.get('run_id')} on {held.get('host')} (this run's heartbeat was older "
                f"than {self.ttl:.0f} s); stopping without marking more regions")

    def release(self) -> None:
        held = self.read()
        if held is not None and held.get("run_id") == self.run_id:
            with contextlib.suppress(FileNotFoundError):
                self._fs.rm(self.path)


def _dead_here(held: Mapping[str, Any]) -> bool:
    """A lease of a process of this host that no longer runs: stale at once."""
    if held.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(held.get("pid", -1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


def acquire_lease(store: str, run_id: str, *, ttl: float = 600.0,
                  storage_options: Mapping[str, Any] | None = None,
                  settle: float | None = None) -> Lease:
    """Take the writer lease of ``store`` for run ``run_id``.

    A lease whose heartbeat is older than its ``ttl`` is stale (its run died) and is taken
    over, as is at once a lease of a process of this host that no longer runs; a fresh lease
    of another run raises :class:`StoreLockedError` naming that run, its host and its last
    heartbeat. After writing its own lease the caller waits ``settle``
    seconds and reads it back, so that of two runs starting together on an object store
    without conditional writes, the one whose lease was overwritten backs off (default: 1 s on
    remote stores, none on a local disk, where the read after the write settles it).
    """
    if settle is None:
        settle = 0.0 if protocol_of(store) in ("file", "local") else 1.0
    lease = Lease(store, run_id, ttl, storage_options)
    held = lease.read()
    now = _time.time()
    if held is not None and held.get("run_id") != run_id and not _dead_here(held):
        age = now - float(held.get("heartbeat", 0.0))
        if age < float(held.get("ttl", ttl)):
            raise StoreLockedError(
                f"{redact_url(store)} is being written by run {held.get('run_id')} on "
                f"{held.get('host')} (pid {held.get('pid')}), last heartbeat {age:.0f} s ago; "
                f"two writers would mix their regions. Wait for it to finish, or, if that run "
                f"is dead, for its lease to go stale ({float(held.get('ttl', ttl)):.0f} s "
                f"after its last heartbeat), then --resume")
    lease._write()
    if settle > 0:
        _time.sleep(settle)
    lease.check()
    return lease
