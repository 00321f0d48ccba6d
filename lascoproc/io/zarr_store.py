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

A whole-mission run is also cut into **time ranges** (``time_ranges``, whole numbers of regions):
the template is made once for the whole run (:func:`cube_template`: the per-frame coordinates of
every frame, placeholders for the pixel variables) and each range's lazy cube is built only when
its regions are written (``open_range``), so the task graph behind a region write has the size
of a range, not of the archive, and ranges already done are never built (pangeo-forge-recipes'
pattern: a schema of every input, a template, then one region write per input).

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
import math
import time as _time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

__all__ = ["write_zarr", "WriteReport", "StoreMismatchError", "store_exists", "default_encoding",
           "time_ranges", "cube_template", "open_store", "DEFAULT_RANGE_FRAMES"]

DONE_VAR = "frame_written"
#: Frames per time range of a cut run (:func:`time_ranges`): the graph behind a region write
#: holds one range; docs/scaling.md has the measurements behind the number.
DEFAULT_RANGE_FRAMES = 1024
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
    ranges: int = 1
    ranges_skipped: int = 0


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


def time_ranges(n: int, *, range_frames: int, region_frames: int) -> list[slice]:
    """Cut ``n`` frames into time ranges of ``range_frames`` frames, whole regions each.

    ``range_frames`` is rounded up to a whole number of ``region_frames`` regions, so that no
    region straddles two ranges; the last range may be shorter.

    >>> time_ranges(10, range_frames=4, region_frames=3)
    [slice(0, 6, None), slice(6, 10, None)]
    """
    region_frames, range_frames = int(region_frames), int(range_frames)
    if region_frames < 1 or range_frames < 1:
        raise ValueError("range_frames and region_frames must be >= 1")
    size = math.ceil(range_frames / region_frames) * region_frames
    return _regions(int(n), size)


def cube_template(part: xr.Dataset, coords: xr.Dataset | xr.Coordinates) -> xr.Dataset:
    """The template of a whole cube, from one time range of it and every frame's coordinates.

    Parameters
    ----------
    part
        A time range of the cube (lazy): the names, dims, dtypes, chunks and attributes of its
        variables and its attributes are those of the whole cube.
    coords
        The per-frame (``time``) coordinates of every frame of the cube, in memory.

    Returns
    -------
    xarray.Dataset
        ``part``'s variables over every frame, each dask variable a placeholder with the
        chunks of ``part`` (never computed: :func:`write_zarr` writes its metadata only), and
        ``coords``. :func:`write_zarr` makes the same store from it (with ``open_range``) as
        from the whole lazy cube.
    """
    coords = coords.coords if isinstance(coords, xr.Dataset) else coords
    if "time" not in coords:
        raise ValueError("cube_template needs the 'time' coordinate of every frame")
    n = coords["time"].size
    variables = {}
    for name, var in part.data_vars.items():
        if "time" not in var.dims:
            variables[name] = var
            continue
        if var.chunks is None:
            raise ValueError(f"variable {name!r} of the time range is not a dask array: a "
                             "template is made from the lazy variables of a range")
        axis = var.dims.index("time")
        step = var.chunks[axis][0]
        chunks = list(var.chunks)
        chunks[axis] = (step,) * (n // step) + ((n % step,) if n % step else ())
        shape = list(var.shape)
        shape[axis] = n
        placeholder = da.zeros(shape, dtype=var.dtype, chunks=tuple(chunks))
        variables[name] = xr.Variable(var.dims, placeholder, attrs=var.attrs)
    others = {name: c for name, c in part.coords.items() if "time" not in c.dims}
    return xr.Dataset(variables, coords={**others, **dict(coords.items())},
                      attrs=dict(part.attrs))


def open_store(store: str, storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """A store written by :func:`write_zarr`, opened lazily without dask (``chunks=None``).

    Nothing is read until a variable is indexed; ``xr.open_zarr(store)`` gives a dask cube.
    """
    return _open_existing(store, storage_options)


def _open_existing(store, storage_options):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        return xr.open_zarr(store, storage_options=storage_options or None, chunks=None)


def _check_time_chunks(ds: xr.Dataset, region_frames: int) -> None:
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


def _region_chunked(ds: xr.Dataset, region_frames: int) -> xr.Dataset:
    """Per-frame scalars (flags, counts) stored one chunk per region, not per frame: a
    mission-long store then has no two tiny files per frame."""
    ds = ds.copy()
    for name, var in ds.data_vars.items():
        if var.dims == ("time",) and var.chunks is not None:
            ds[name] = var.chunk({"time": region_frames})
    return ds


def _text_as_object(ds: xr.Dataset) -> xr.Dataset:
    """xarray writes object-dtype strings as Zarr v3 variable-length UTF-8 strings, which have a
    spec; numpy fixed-width unicode would become an unstable Zarr extension type."""
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    return ds


def _store_chunks(name: str, var: xr.Variable, region_frames: int) -> tuple[int, ...]:
    """The Zarr chunks xarray gives a dask variable: its first dask chunk along each dim (the
    chunks must be uniform but for a smaller last one); per-frame scalars one region a chunk."""
    if var.dims == ("time",):
        return (max(min(region_frames, var.shape[0]), 1),)
    out = []
    for dim, chunks in zip(var.dims, var.chunks, strict=True):
        if any(c != chunks[0] for c in chunks[:-1]) or chunks[-1] > chunks[0]:
            raise ValueError(f"chunks of {name!r} along {dim!r} must be uniform but for a "
                             f"smaller last one for Zarr, got {sorted(set(chunks))}")
        out.append(chunks[0])
    return tuple(out)


def _metadata_only(ds: xr.Dataset, encoding: dict, region_frames: int):
    """The template as written: every dask variable a one-chunk placeholder, its store chunks
    given in the encoding instead.

    ``to_zarr(compute=False)`` writes a dask variable's metadata only, but builds (and drops)
    a store task per dask chunk: for a mission of one frame per chunk, millions of tasks and
    GBs in this process. With one chunk each, the template costs the same however long the
    run; the store's chunks are those the dask chunks give (identical metadata).
    """
    meta = ds.copy()
    encoding = dict(encoding)
    for name, var in ds.data_vars.items():
        if var.chunks is None:
            continue
        encoding[name] = {"chunks": _store_chunks(name, var.variable, region_frames),
                          **encoding.get(name, {})}
        placeholder = da.zeros(var.shape, dtype=var.dtype, chunks=var.shape or ())
        meta[name] = var.copy(data=placeholder)
    return _text_as_object(meta), encoding


def _check_range(part: xr.Dataset, template: xr.Dataset, times: np.ndarray, names: list[str],
                 rng: slice) -> None:
    """A range's cube must have the template's variables and frames, else the store mixes runs."""
    where = f"time range [{rng.start}, {rng.stop})"
    if part.sizes.get("time") != rng.stop - rng.start or not np.array_equal(
            part["time"].values, times):
        raise ValueError(f"{where}: the cube opened for it does not hold the template's frames "
                         f"({part.sizes.get('time', 0)} frames)")
    for name in names:
        if name not in part.data_vars:
            raise ValueError(f"{where}: the cube opened for it has no variable {name!r}")
        a, b = part[name], template[name]
        b_dtype = np.dtype(object) if b.dtype.kind == "U" else b.dtype  # as written
        other = [s for d, s in zip(a.dims, a.shape, strict=True) if d != "time"]
        if (a.dims, a.dtype, other) != (b.dims, b_dtype,
                                       [s for d, s in zip(b.dims, b.shape, strict=True)
                                        if d != "time"]):
            raise ValueError(f"{where}: variable {name!r} is {a.dims} {a.dtype} "
                             f"{tuple(a.shape)} there, {b.dims} {b_dtype} in the template")


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
    time_ranges: Sequence[slice] | None = None,
    open_range: Callable[[slice], xr.Dataset] | None = None,
) -> WriteReport:
    """Write a (time, ...) cube to Zarr, template first, then region by region.

    Parameters
    ----------
    ds
        Dataset with a ``time`` dimension; dask variables are written per region, in-memory
        variables with the template. Its time chunks must divide ``region_frames``. With
        ``open_range``, the template of the cube (:func:`cube_template`): its dask variables
        are never computed.
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
        ``on_region(i, region)`` and ``end()`` (:class:`lascoproc.pipeline.progress.RunProgress`),
        and optionally ``on_range(k, frames, n_ranges)``, called as range ``k`` is opened.
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
    time_ranges
        The run cut into contiguous time ranges of whole regions (:func:`time_ranges`); one
        range by default. A range whose regions are all done is skipped without being opened.
    open_range
        ``open_range(frames)`` gives the lazy cube of the frames ``frames`` (a slice of the
        time axis): the same variables as ``ds``, for those frames only. Each range is opened
        just before its regions are written and dropped after, so the graph behind a region
        write has the size of a range, not of the archive. Default: ``ds.isel(time=frames)``.

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
    _check_time_chunks(ds, region_frames)
    ranges = [slice(0, n)] if time_ranges is None else [slice(int(r.start), int(r.stop))
                                                         for r in time_ranges]
    if (not ranges or ranges[0].start != 0 or ranges[-1].stop != n
            or any(a.stop != b.start for a, b in zip(ranges, ranges[1:], strict=False))
            or any(r.start % region_frames or r.stop <= r.start for r in ranges)):
        raise ValueError(f"time_ranges must cut the {n} frames into contiguous, non-empty "
                         f"ranges starting on region boundaries (multiples of region_frames="
                         f"{region_frames})")
    source = ds
    ds = ds.copy()
    ds[DONE_VAR] = xr.DataArray(
        da.zeros(n, dtype=np.uint8, chunks=min(region_frames, n) or 1), dims="time",
        attrs={"long_name": "frame written and complete (1) or not yet (0)",
               "comment": "run manifest: set per region after its data are written"},
    )
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
    times = ds["time"].values
    started = _time.perf_counter()
    region_vars = [name for name, var in ds.data_vars.items()
                   if "time" in var.dims and var.chunks is not None and name != DONE_VAR]
    counts = {"written": 0, "ranges_skipped": 0}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        if not (exists and resume):
            meta, enc = _metadata_only(ds, enc, region_frames)
            meta.to_zarr(store, mode="w", compute=False, zarr_format=zarr_format,
                         consolidated=True, encoding=enc, storage_options=storage_options or None)
            del meta
        bar = None
        reporter = progress if hasattr(progress, "on_region") else None
        already = int(sum(r.stop - r.start for r, d in zip(regions, done, strict=True) if d))
        if reporter is not None:  # e.g. lascoproc.pipeline.progress.RunProgress
            reporter.begin(n, already)
        elif progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="writing", unit="frame", initial=already)

        def pending_write(part, local, region):
            piece = part[region_vars].isel(time=local)
            piece = piece.drop_vars([c for c in piece.coords])
            return piece.to_zarr(store, region={"time": region}, mode="r+",
                                 storage_options=storage_options or None,
                                 zarr_format=zarr_format, compute=False)

        def region_writes() -> Iterator[tuple[int, slice, Any]]:
            """``(i, region, delayed write)`` of the regions to do, range by range; a range's
            cube is opened when its first region is due and dropped after its last."""
            whole = None
            for k, rng in enumerate(ranges):
                first = rng.start // region_frames
                last = -(-rng.stop // region_frames)
                todo = [i for i in range(first, last) if not done[i]]
                if not todo:
                    counts["ranges_skipped"] += 1
                    continue
                if open_range is None:
                    if whole is None:
                        whole = _text_as_object(_region_chunked(source, region_frames))
                    part = whole if len(ranges) == 1 else whole.isel(time=rng)
                else:
                    part = open_range(rng)
                    _check_time_chunks(part, region_frames)
                    part = _text_as_object(_region_chunked(part, region_frames))
                    _check_range(part, ds, times[rng], region_vars, rng)
                if reporter is not None and hasattr(reporter, "on_range"):
                    reporter.on_range(k, rng, len(ranges))
                for i in todo:
                    region = regions[i]
                    local = slice(region.start - rng.start, region.stop - rng.start)
                    yield i, region, pending_write(part, local, region)
                del part

        def mark_done(i, region):
            mark = xr.Dataset({DONE_VAR: ("time", np.ones(region.stop - region.start, np.uint8))})
            mark.to_zarr(store, region={"time": region}, mode="r+",
                         storage_options=storage_options or None, zarr_format=zarr_format)
            counts["written"] += 1
            if bar is not None:
                bar.update(region.stop - region.start)
            if reporter is not None:
                reporter.on_region(i, region)
            if on_region is not None:
                on_region(i, region)

        if client is None:
            for i, region, write in region_writes():
                write.compute(**dict(compute_kwargs or {}))
                mark_done(i, region)
        else:
            _write_concurrently(client, region_writes(), mark_done, max_in_flight)
        if bar is not None:
            bar.close()
        if reporter is not None:
            reporter.end()
    return WriteReport(
        store=str(store), frames=n, regions=len(regions), regions_written=counts["written"],
        regions_skipped=int(done.sum()), seconds=_time.perf_counter() - started,
        ranges=len(ranges), ranges_skipped=counts["ranges_skipped"],
    )


def _write_concurrently(client, writes, mark_done, max_in_flight):
    """Keep up to ``max_in_flight`` region writes running on ``client``; mark each when done.

    ``writes`` yields ``(i, region, delayed write)``, lazily (it opens the time ranges). A region
    is marked only after its future has finished without error, so a mark is never ahead of its
    data; a failed region raises here after the regions in flight are cancelled. Regions cover
    disjoint chunks (time chunks divide ``region_frames``), so concurrent writes never touch the
    same chunk.
    """
    from distributed import as_completed

    if max_in_flight is None:
        threads = sum(client.nthreads().values())
        max_in_flight = max(2, 2 * threads)
    futures = as_completed()
    submitted = {}

    def submit_next():
        item = next(writes, None)
        if item is not None:
            i, region, write = item
            future = client.compute(write)
            submitted[future.key] = (i, region)
            futures.add(future)

    try:
        for _ in range(max_in_flight):
            submit_next()
        for future in futures:
            future.result()  # raises the region's error
            i, region = submitted.pop(future.key)
            mark_done(i, region)
            submit_next()
    except BaseException:
        client.cancel(list(futures.futures))
        raise
