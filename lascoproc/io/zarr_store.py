"""Resumable, idempotent Zarr writes of time cubes (xarray "Distributed writes" pattern).

A write has two phases:

1. **Template**: ``to_zarr(compute=False)`` writes the metadata of every array and the values of
   every in-memory (non-dask) variable: coordinates and per-frame header values. No pixel data.
2. **Regions**: the time axis is cut into regions of ``region_frames`` frames; each region's dask
   variables are computed and written with ``to_zarr(region=...)``, then the region is marked done
   in the per-frame variable ``frame_written`` (written *after* the data, so a mark is never ahead
   of its data). A rerun rewrites the same regions and never appends; ``resume=True`` skips the
   regions already marked done, so a killed run continues where it stopped and ends with a store
   identical to an uninterrupted one.

The store is Zarr format 3 by default (format 2 on request) with consolidated metadata, so that a
plain ``xr.open_zarr(path)`` opens it without listing the store. zarr-python warns that
consolidated metadata is not yet part of the Zarr v3 specification; we keep it deliberately
(xarray and zarr-python read it; opening a million-chunk store on S3 without it is slow) and
silence that one warning here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time as _time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["write_zarr", "WriteReport", "StoreMismatchError", "store_exists", "default_encoding"]

DONE_VAR = "frame_written"
_FINGERPRINT_ATTR = "lascoproc_template_sha256"
_REGION_ATTR = "lascoproc_region_frames"


class StoreMismatchError(ValueError):
    """The existing store was written from a different template; resuming would mix runs."""


@dataclasses.dataclass
class WriteReport:
    """What :func:`write_zarr` did."""

    store: str
    frames: int
    regions: int
    regions_written: int
    regions_skipped: int
    seconds: float


def _zstd(level: int, zarr_format: int):
    if zarr_format == 3:
        from zarr.codecs import ZstdCodec

        return {"compressors": [ZstdCodec(level=level)]}
    from numcodecs import Blosc

    return {"compressors": (Blosc(cname="zstd", clevel=level, shuffle=Blosc.BITSHUFFLE),)}


def _blosc_lz4(itemsize: int, zarr_format: int):
    if zarr_format == 3:
        from zarr.codecs import BloscCodec

        return {"compressors": [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle",
                                           typesize=itemsize)]}
    from numcodecs import Blosc

    return {"compressors": (Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE),)}


def default_encoding(ds: xr.Dataset, *, zarr_format: int = 3, level: int = 1) -> dict:
    """Compression of every dask variable, chunks as the dask chunks.

    Floating-point images: Blosc LZ4 with byte shuffle, which on noisy float32 coronagraph
    frames was both faster (~2.5 against ~5.7 ms per 1024x1024 frame) and smaller (ratio
    ~1.6 against ~1.4) than Zstandard level 1 (docs/benchmarks.md). Integers (counts, flags):
    Zstandard ``level`` (1: ~11 ms per 4 MiB chunk against ~45 ms for zarr's default level,
    for nearly the same ratio). Both measured on this project's machine.
    """
    enc = {}
    for name, var in ds.data_vars.items():
        if var.chunks is None:
            continue
        if var.dtype.kind == "f":
            enc[name] = _blosc_lz4(var.dtype.itemsize, zarr_format)
        else:
            enc[name] = _zstd(level, zarr_format)
    return enc


def store_exists(store: str, storage_options: Mapping[str, Any] | None = None) -> bool:
    """Whether a Zarr hierarchy (v2 or v3) exists at ``store``."""
    from lascoproc.io.fs import get_fs

    fs, path = get_fs(store, storage_options)
    return fs.exists(f"{path}/zarr.json") or fs.exists(f"{path}/.zgroup")


def _template_fingerprint(ds: xr.Dataset, region_frames: int) -> str:
    """SHA-256 of what defines a store's layout: variables, dims, dtypes, shapes, time axis."""
    h = hashlib.sha256()
    layout = {
        name: [list(var.dims), str(var.dtype), list(var.shape)]
        for name, var in sorted(ds.variables.items())
    }
    h.update(json.dumps(layout, sort_keys=True).encode())
    h.update(np.asarray(ds["time"].values).astype("datetime64[ns]").tobytes())
    h.update(str(region_frames).encode())
    return h.hexdigest()


def _regions(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _open_existing(store, storage_options):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        return xr.open_zarr(store, storage_options=storage_options or None, chunks=None)


def write_zarr(
    ds: xr.Dataset,
    store: str,
    *,
    region_frames: int = 16,
    resume: bool = False,
    overwrite: bool = False,
    zarr_format: int = 3,
    encoding: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool | Any = False,
    compute_kwargs: Mapping[str, Any] | None = None,
    on_region: Callable[[int, slice], None] | None = None,
    client: Any = None,
    max_in_flight: int | None = None,
) -> WriteReport:
    """Write a (time, ...) cube to Zarr, template first, then region by region.

    Parameters
    ----------
    ds
        Dataset with a ``time`` dimension; dask variables are written per region, in-memory
        variables with the template. Its time chunks must divide ``region_frames``.
    store
        Path or fsspec URL of the Zarr store.
    region_frames
        Frames per region: the unit of work, of progress and of resumption.
    resume
        Continue an existing store: keep the regions marked done, write the others. The store
        must have been created from the same template (same variables, time axis and
        ``region_frames``), else :class:`StoreMismatchError`.
    overwrite
        Replace an existing store. Without ``resume`` or ``overwrite`` an existing store is an
        error, so a mission-long store is never clobbered by accident.
    zarr_format
        3 (default) or 2.
    encoding
        Per-variable encoding; defaults to :func:`default_encoding`.
    progress
        ``True``: a tqdm bar of frames; or a reporter with ``begin(total_frames, done_frames)``,
        ``on_region(i, region)`` and ``end()`` (:class:`lascoproc.pipeline.progress.RunProgress`).
    compute_kwargs
        Passed to ``compute`` of each region (e.g. ``scheduler="threads"``).
    on_region
        Called as ``on_region(i, slice)`` after region ``i`` is written and marked (tests use it).
    client
        A ``distributed.Client``: regions are then computed concurrently on it, at most
        ``max_in_flight`` at a time (default: twice the cluster's threads, at least 2), each
        marked done, in the order they finish, as soon as its data are written. Without a
        client, regions are computed one after the other with ``compute_kwargs``.
    max_in_flight
        Regions submitted and not yet finished, with a client: bounds the memory the cluster
        and this process hold, however long the archive.

    Returns
    -------
    WriteReport
    """
    if "time" not in ds.dims:
        raise ValueError("write_zarr needs a dataset with a 'time' dimension")
    if resume and overwrite:
        raise ValueError("choose resume or overwrite, not both")
    region_frames = int(region_frames)
    if region_frames < 1:
        raise ValueError("region_frames must be >= 1")
    storage_options = dict(storage_options or {})
    n = ds.sizes["time"]
    for name, var in ds.data_vars.items():
        if var.chunks is not None and "time" in var.dims:
            tchunks = var.chunks[var.dims.index("time")]
            if any(c > region_frames for c in tchunks[:-1]) or any(
                region_frames % c for c in set(tchunks[:-1])
            ):
                raise ValueError(
                    f"time chunks of {name!r} ({sorted(set(tchunks))}) must divide "
                    f"region_frames={region_frames}"
                )
    ds = ds.copy()
    # Per-frame scalars (flags, counts) are stored one chunk per region, not per frame: a
    # mission-long store then has no two tiny files per frame.
    for name, var in ds.data_vars.items():
        if var.dims == ("time",) and var.chunks is not None:
            ds[name] = var.chunk({"time": region_frames})
    ds[DONE_VAR] = xr.DataArray(
        np.zeros(n, np.uint8), dims="time",
        attrs={"long_name": "frame written and complete (1) or not yet (0)",
               "comment": "run manifest: set per region after its data are written"},
    ).chunk({"time": region_frames})
    fingerprint = _template_fingerprint(ds, region_frames)
    ds.attrs[_FINGERPRINT_ATTR] = fingerprint
    ds.attrs[_REGION_ATTR] = region_frames
    regions = _regions(n, region_frames)

    exists = store_exists(store, storage_options)
    done = np.zeros(len(regions), bool)
    if exists and resume:
        old = _open_existing(store, storage_options)
        if old.attrs.get(_FINGERPRINT_ATTR) != fingerprint:
            raise StoreMismatchError(
                f"{store} was written from a different template (other frames, variables or "
                "region size); write to a new store or pass overwrite=True"
            )
        written = np.asarray(old[DONE_VAR].values).astype(bool)
        done = np.array([written[r].all() for r in regions], bool)
    elif exists and not overwrite:
        raise FileExistsError(
            f"{store} exists: pass resume=True to continue it or overwrite=True to replace it"
        )
    enc = dict(default_encoding(ds, zarr_format=zarr_format) if encoding is None else encoding)
    enc.setdefault(DONE_VAR, {})
    # xarray writes object-dtype strings as Zarr v3 variable-length UTF-8 strings, which have a
    # spec; numpy fixed-width unicode would become an unstable Zarr extension type.
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    started = _time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        if not (exists and resume):
            ds.to_zarr(store, mode="w", compute=False, zarr_format=zarr_format,
                       consolidated=True, encoding=enc, storage_options=storage_options or None)
        region_vars = [name for name, var in ds.data_vars.items()
                       if "time" in var.dims and var.chunks is not None and name != DONE_VAR]
        bar = None
        reporter = progress if hasattr(progress, "on_region") else None
        if reporter is not None:  # e.g. lascoproc.pipeline.progress.RunProgress
            reporter.begin(n, int(sum(r.stop - r.start for r, d in zip(regions, done,
                                                                         strict=True) if d)))
        elif progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="writing", unit="frame",
                       initial=int(sum(r.stop - r.start for r, d in zip(regions, done,
                                                                        strict=True) if d)))
        written_count = 0
        todo = [(i, region) for i, region in enumerate(regions) if not done[i]]

        def pending_write(region):
            part = ds[region_vars].isel(time=region)
            part = part.drop_vars([c for c in part.coords])
            return part.to_zarr(store, region={"time": region}, mode="r+",
                                storage_options=storage_options or None,
                                zarr_format=zarr_format, compute=False)

        def mark_done(i, region):
            nonlocal written_count
            mark = xr.Dataset({DONE_VAR: ("time", np.ones(region.stop - region.start, np.uint8))})
            mark.to_zarr(store, region={"time": region}, mode="r+",
                         storage_options=storage_options or None, zarr_format=zarr_format)
            written_count += 1
            if bar is not None:
                bar.update(region.stop - region.start)
            if reporter is not None:
                reporter.on_region(i, region)
            if on_region is not None:
                on_region(i, region)

        if client is None:
            for i, region in todo:
                pending_write(region).compute(**dict(compute_kwargs or {}))
                mark_done(i, region)
        else:
            _write_concurrently(client, todo, pending_write, mark_done, max_in_flight)
        if bar is not None:
            bar.close()
        if reporter is not None:
            reporter.end()
    return WriteReport(
        store=str(store), frames=n, regions=len(regions), regions_written=written_count,
        regions_skipped=int(done.sum()), seconds=_time.perf_counter() - started,
    )


def _write_concurrently(client, todo, pending_write, mark_done, max_in_flight):
    """Keep up to ``max_in_flight`` region writes running on ``client``; mark each when done.

    A region is marked only after its future has finished without error, so a mark is never
    ahead of its data; a failed region raises here after the regions in flight are cancelled.
    Regions cover disjoint chunks (time chunks divide ``region_frames``), so concurrent writes
    never touch the same chunk.
    """
    from distributed import as_completed

    if max_in_flight is None:
        threads = sum(client.nthreads().values())
        max_in_flight = max(2, 2 * threads)
    queue = iter(todo)
    futures = as_completed()
    submitted = {}

    def submit_next():
        item = next(queue, None)
        if item is not None:
            future = client.compute(pending_write(item[1]))
            submitted[future.key] = item
            futures.add(future)

    for _ in range(max_in_flight):
        submit_next()
    try:
        for future in futures:
            future.result()  # raises the region's error
            i, region = submitted.pop(future.key)
            mark_done(i, region)
            submit_next()
    except BaseException:
        client.cancel(list(futures.futures))
        raise
