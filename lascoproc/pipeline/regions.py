"""The region scheduler: every resumable store of the package is written here (wiring only).

A run writes a time cube into a Zarr store, region by region (:mod:`lascoproc.io.zarr_store`
has the primitives: template, region write, mark, manifest, lease). :func:`write_cube`:

1. checks the store: a new one is created from the template; an existing one is refused unless
   ``resume`` (continue it) or ``overwrite`` (replace it) is given; ``resume`` is refused, with
   the differing items named, when the store was made by another run definition (the frames,
   the layout, or any run-defining option: calibration store digest, level-1 options,
   inpainting, lascoproc version...);
2. takes the store's writer lease (a second writer is refused; a stale lease, whose run died,
   is taken over) and renews it from a heartbeat thread while the run lasts;
3. cuts the run into time ranges of whole regions (``range_frames``) and opens each range's lazy
   cube only when one of its regions is due (``open_range``), so the graph behind a region has
   the size of a range, not of the archive, and ranges already written are never built;
4. writes the regions, one after the other on the threaded scheduler or up to ``max_in_flight``
   at a time on a ``distributed.Client``, and marks each after its data are written, with this
   run's id.

A region that fails with an I/O error (a read still failing after its retries, a full disk, a
store that stops answering) is left unmarked and named in the report, and the run goes on with
the others: ``resume`` retries exactly those. Any other error stops the run after the regions in
flight are cancelled; what was marked stays marked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import time as _time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from lascoproc.io.fs import redact_text, redact_url
from lascoproc.io.zarr_store import (
    StoreMismatchError,
    acquire_lease,
    foreign_entries,
    mark_region,
    read_attrs,
    read_marks,
    remove_store,
    root_attrs,
    store_exists,
    template_complete,
    write_region,
    write_template,
)

__all__ = [
    "DEFAULT_REGION_FRAMES",
    "DEFAULT_RANGE_FRAMES",
    "FINGERPRINT_ATTR",
    "DEFINITION_ATTR",
    "WriteReport",
    "RegionFailure",
    "region_slices",
    "time_ranges",
    "run_fingerprint",
    "refuse_foreign_output",
    "check_output",
    "new_run_id",
    "write_cube",
    "write_dataset",
]

#: Frames per region: the unit of writing, of resumption and the shard of the images. 32,
#: chosen by measurement (bench/bench_shards.py, docs/scaling.md): ~2e5 objects per 10^6
#: frames (one per shard and variable), the cheapest writes measured, and ~0.3 GB more memory
#: while a region of 1024x1024 frames is written (64: 1.3e5 objects, twice the memory).
DEFAULT_REGION_FRAMES = 32
#: Frames per time range: what one lazy cube (one graph) holds at a time.
DEFAULT_RANGE_FRAMES = 1024
FINGERPRINT_ATTR = "lascoproc_store_fingerprint"
DEFINITION_ATTR = "lascoproc_run_definition"
_REGION_ATTR = "lascoproc_region_frames"

#: Errors after which a region is left for ``resume`` and the run goes on (I/O that failed
#: after its retries); anything else stops the run.
RETRYABLE = (OSError, TimeoutError)


@dataclasses.dataclass(frozen=True)
class RegionFailure:
    """A region that was not written, and why."""

    region: slice
    error: str

    def __str__(self) -> str:
        return f"frames [{self.region.start}, {self.region.stop}): {self.error}"


@dataclasses.dataclass
class WriteReport:
    """What :func:`write_cube` did."""

    store: str
    frames: int
    regions: int
    regions_written: int
    regions_skipped: int
    seconds: float
    ranges: int = 1
    ranges_skipped: int = 0
    run_id: str = ""
    failed: list[RegionFailure] = dataclasses.field(default_factory=list)
    frames_written: int | None = None
    frames_skipped: int | None = None

    @property
    def complete(self) -> bool:
        """Every region of the store is written (by this run or an earlier one)."""
        return not self.failed and self.regions_written + self.regions_skipped == self.regions


def region_slices(n: int, size: int) -> list[slice]:
    """``n`` frames cut into regions of ``size`` (the last may be shorter)."""
    return [slice(i, min(i + size, n)) for i in range(0, int(n), int(size))]


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
    return region_slices(int(n), size)


def new_run_id() -> str:
    """A run id: UTC start time and a random suffix, e.g. ``20261201T153000Z-3f2a9c1b``."""
    return f"{_time.strftime('%Y%m%dT%H%M%SZ', _time.gmtime())}-{uuid.uuid4().hex[:8]}"


def _layout(template: xr.Dataset, region_frames: int, zarr_format: int) -> dict[str, Any]:
    variables = {name: [list(var.dims), str(var.dtype), list(var.shape)]
                 for name, var in sorted(template.variables.items())}
    times = np.asarray(template["time"].values).astype("datetime64[ns]")
    return {"variables": variables, "region_frames": int(region_frames),
            "zarr_format": int(zarr_format), "frames": int(times.size),
            "time_axis_sha256": hashlib.sha256(times.tobytes()).hexdigest()}


def run_fingerprint(template: xr.Dataset, definition: Mapping[str, Any], *, region_frames: int,
                    zarr_format: int) -> tuple[str, str]:
    """``(SHA-256, JSON)`` of what defines a store: its layout (variables, frames, time axis,
    region size, format) and the run definition (every option that changes a value written)."""
    whole = {"layout": _layout(template, region_frames, zarr_format),
             "definition": {k: definition[k] for k in sorted(definition)}}
    text = json.dumps(whole, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), text


def _differences(old_text: str | None, new_text: str) -> list[str]:
    """The items of two run definitions (JSON of :func:`run_fingerprint`) that differ."""
    if not old_text:
        return ["the store records no run definition (written by an older lascoproc)"]
    old, new = json.loads(old_text), json.loads(new_text)
    out = []
    for part in ("layout", "definition"):
        a, b = old.get(part, {}), new.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                if key == "variables":
                    out.append("the variables or their shapes")
                elif key == "time_axis_sha256":
                    out.append("the frames (time axis)")
                else:
                    out.append(f"{key}: store {a.get(key, '(none)')!r}, now "
                               f"{b.get(key, '(none)')!r}")
    return out


class _Heartbeat:
    """Renews a lease every ``every`` seconds in a daemon thread; remembers a lost lease."""

    def __init__(self, lease, every: float):
        self.lease = lease
        self.every = every
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="lascoproc-lease-heartbeat")

    def _run(self):
        while not self._stop.wait(self.every):
            try:
                self.lease.renew()
            except Exception as err:  # noqa: BLE001 - reported by the writer loop
                self.error = err
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def refuse_foreign_output(store: str, storage_options: Mapping[str, Any] | None = None
                          ) -> None:
    """``FileExistsError`` when something that is not a Zarr store is at ``store`` (a file, a
    directory with other files): it is neither written into nor replaced. Pipelines that write
    several stores check them all before writing the first."""
    foreign = foreign_entries(store, storage_options)
    if foreign:
        raise FileExistsError(
            f"{redact_url(store)} exists and is not a Zarr store (it holds "
            f"{', '.join(foreign)}): it is neither written into nor replaced, with or without "
            "--overwrite/--resume; choose a new output path (what is left of a Zarr store "
            "whose zarr.json was removed, e.g. by an interrupted --overwrite, is to be removed "
            "by hand)")


def check_output(store: str, *, resume: bool = False, overwrite: bool = False,
                 storage_options: Mapping[str, Any] | None = None,
                 template: xr.Dataset | None = None,
                 definition: Mapping[str, Any] | None = None,
                 region_frames: int = DEFAULT_REGION_FRAMES, zarr_format: int = 3) -> None:
    """Refuse, changing nothing, an output this run may not write: something that is not a
    Zarr store, a Zarr store lascoproc did not write, an existing store without ``resume`` or
    ``overwrite`` (``FileExistsError``, one line), and, given the ``template`` and
    ``definition`` that :func:`write_cube` will get, a store to resume that another run
    definition wrote (:class:`~lascoproc.io.zarr_store.StoreMismatchError`, the differing
    items named). Pipelines that write several stores check them all before writing the
    first; :func:`write_cube` checks its own again."""
    refuse_foreign_output(store, storage_options)
    _refuse_existing(store, resume, overwrite, storage_options)
    if (resume and template is not None and store_exists(store, storage_options)
            and template_complete(store, storage_options)):
        _refuse_other_definition(store, *run_fingerprint(
            template, dict(definition or {}), region_frames=int(region_frames),
            zarr_format=zarr_format), storage_options)


def _refuse_other_definition(store: str, fingerprint: str, text: str,
                             storage_options: Mapping[str, Any] | None) -> None:
    """``StoreMismatchError`` if the existing store ``store`` records another fingerprint than
    ``fingerprint`` (whose definition is ``text``): resuming it would mix two runs."""
    attrs = read_attrs(store, storage_options)
    if attrs.get(FINGERPRINT_ATTR) != fingerprint:
        differ = _differences(attrs.get(DEFINITION_ATTR), text)
        raise StoreMismatchError(
            f"{redact_url(store)} was written by another run definition "
            f"({'; '.join(differ)}): resuming would mix results; write to a new store or "
            "pass --overwrite")


def _refuse_existing(store: str, resume: bool, overwrite: bool,
                     storage_options: Mapping[str, Any] | None) -> None:
    """The Zarr-store part of :func:`check_output` (the foreign-output part done)."""
    where = redact_url(store)
    exists = store_exists(store, storage_options)
    if exists and FINGERPRINT_ATTR not in root_attrs(store, storage_options):
        raise FileExistsError(
            f"{where} is a Zarr store that lascoproc did not write (no run fingerprint: "
            "another program's store, or a run cut off before its template's first "
            "attributes): it is neither resumed nor overwritten; choose another output, "
            "or remove it yourself if it is to go")
    if exists and not (resume or overwrite):
        raise FileExistsError(f"{where} exists: pass resume=True (--resume) to continue it "
                              "or overwrite=True (--overwrite) to replace it")


def _existing_store(store: str, resume: bool, overwrite: bool,
                    storage_options: Mapping[str, Any] | None, start: Callable[[], None]
                    ) -> bool:
    """Whether a store of lascoproc's is at ``store`` that this run may resume or replace
    (:func:`check_output` refuses the others; :func:`write_cube` has refused a foreign output
    already). A store whose template was cut off is removed for ``resume`` (it holds no
    region) and counts as absent; ``start()`` is called first."""
    _refuse_existing(store, resume, overwrite, storage_options)
    exists = store_exists(store, storage_options)
    if exists and resume and not template_complete(store, storage_options):
        # killed while it wrote its template: no region was written, make it again
        start()
        remove_store(store, storage_options)
        exists = False
    return exists


def write_cube(
    store: str,
    template: xr.Dataset,
    open_range: Callable[[slice], xr.Dataset],
    *,
    definition: Mapping[str, Any] | None = None,
    region_frames: int = DEFAULT_REGION_FRAMES,
    range_frames: int = DEFAULT_RANGE_FRAMES,
    resume: bool = False,
    overwrite: bool = False,
    zarr_format: int = 3,
    encoding: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: Any = None,
    client: Any = None,
    max_in_flight: int | None = None,
    compute_kwargs: Mapping[str, Any] | None = None,
    on_region: Callable[[int, slice], None] | None = None,
    on_failure: Callable[[RegionFailure], None] | None = None,
    on_start: Callable[[], None] | None = None,
    lease_ttl: float = 600.0,
    run_id: str | None = None,
    direct_writer: Callable[[], Callable[[slice], Callable[[slice], Any]] | None] | None = None,
) -> WriteReport:
    """Write a time cube into ``store``, resumably (module docstring).

    Parameters
    ----------
    store
        Path or fsspec URL of the Zarr store.
    template
        The whole cube without data (coordinates and attributes in memory, data variables as
        placeholders of their dims/dtype/shape; e.g.
        :func:`lascoproc.calibrate.level1.level1_template`).
    open_range
        ``open_range(frames)``: the lazy cube of the frames ``frames`` (a slice of the time
        axis) with the template's data variables; called once per time range that has regions
        to write, just before they are written.
    definition
        What defines the run besides the layout (options, calibration digest, versions): part
        of the store's fingerprint; a resume with another definition is refused.
    region_frames, range_frames
        Frames per region (unit of writing and resumption; the shard size) and per time range
        (one graph).
    resume, overwrite
        Continue an existing store (its regions marked done are kept), or replace it. Without
        either, an existing store is an error: a mission-long store is never clobbered by
        accident.
    zarr_format, encoding, storage_options
        Store format (3, sharded; or 2), extra compression settings, fsspec options.
    progress
        ``True`` for a tqdm bar, or a reporter with ``begin(total, done)``,
        ``on_region(i, region)``, ``end()`` and optionally ``on_range(k, frames, n)``
        (:class:`lascoproc.pipeline.progress.RunProgress`).
    client, max_in_flight
        A ``distributed.Client``: regions are computed concurrently on it, at most
        ``max_in_flight`` at a time (default twice its threads, at least 2), each marked as soon
        as it is written. Without a client: one region at a time with ``compute_kwargs``.
    on_region
        Called as ``on_region(i, region)`` after region ``i`` is written and marked (before
        ``progress`` hears of it).
    on_failure
        Called with each :class:`RegionFailure` (a region left for ``resume`` after an I/O
        error) as it happens, so that a report written if the run stops later still knows it.
    on_start
        Called once, when the output is accepted, just before anything in it is changed (an
        existing store removed for ``overwrite``, a cut-off template removed, a template
        written, a resume with regions left to write); never for a run refused before that or
        a resume with nothing to do (:class:`lascoproc.pipeline.report.StoppedRun` writes the
        report of a stopped run only after it).
    lease_ttl
        Seconds after its last heartbeat at which the lease is stale (renewed every third).
    run_id
        This run's id (:func:`new_run_id` by default), recorded with every region it marks.
    direct_writer
        Called once the store's template exists: ``None``, or a function that, for a time
        range, returns the lazy write of one of its regions (``write(region)``, global frame
        numbers), used instead of writing ``open_range``'s cube with zarr-python (e.g.
        :func:`lascoproc.pipeline.level1_shards.region_writer`: the same bytes).

    Returns
    -------
    WriteReport
        Including the regions that failed with I/O errors (left for ``resume``).
    """
    if "time" not in template.dims:
        raise ValueError("write_cube needs a template with a 'time' dimension")
    if resume and overwrite:
        raise ValueError("choose resume or overwrite, not both")
    region_frames, range_frames = int(region_frames), int(range_frames)
    if region_frames < 1:
        raise ValueError("region_frames must be >= 1")
    run_id = run_id or new_run_id()
    n = template.sizes["time"]
    regions = region_slices(n, region_frames)
    ranges = time_ranges(n, range_frames=range_frames, region_frames=region_frames)
    fingerprint, text = run_fingerprint(template, dict(definition or {}),
                                        region_frames=region_frames, zarr_format=zarr_format)
    refuse_foreign_output(store, storage_options)
    started = []

    def start() -> None:  # on_start, once, before the output is first changed
        if not started and on_start is not None:
            on_start()
        started.append(True)

    lease = acquire_lease(store, run_id, ttl=lease_ttl, storage_options=storage_options)
    try:
        exists = _existing_store(store, resume, overwrite, storage_options, start)
        done = np.zeros(len(regions), bool)
        if exists and resume:
            _refuse_other_definition(store, fingerprint, text, storage_options)
            marks = read_marks(store, storage_options)
            done = np.array([marks[r].all() for r in regions], bool)
            if not done.all():
                start()
        else:
            start()
            if exists:
                remove_store(store, storage_options)
            meta = template.copy()
            meta.attrs.update({FINGERPRINT_ATTR: fingerprint, DEFINITION_ATTR: text,
                               _REGION_ATTR: region_frames})
            write_template(meta, store, region_frames=region_frames, zarr_format=zarr_format,
                           encoding=encoding, storage_options=storage_options)
        direct = direct_writer() if direct_writer is not None else None
        with _Heartbeat(lease, lease_ttl / 3.0) as heartbeat:
            report = _RegionRun(
                store, template, open_range, regions, ranges, done, run_id=run_id, direct=direct,
                region_frames=region_frames, zarr_format=zarr_format,
                storage_options=storage_options, lease=lease, heartbeat=heartbeat,
                on_region=on_region, on_failure=on_failure,
            ).run(progress, client, max_in_flight, compute_kwargs)
    finally:
        lease.release()
    report.store = str(store)
    return report


def write_dataset(ds: xr.Dataset, store: str, *, region_frames: int = DEFAULT_REGION_FRAMES,
                  definition: Mapping[str, Any] | None = None, **kwargs: Any) -> WriteReport:
    """Write a whole (lazy or in-memory) time cube with :func:`write_cube`: the cube is its
    own template and each time range is a selection of it. For a cube whose graph grows with
    its length, give :func:`write_cube` an ``open_range`` that builds each range instead."""
    return write_cube(store, ds, lambda rng: ds.isel(time=rng), definition=definition,
                      region_frames=region_frames, **kwargs)


def _check_range(part: xr.Dataset, template: xr.Dataset, names: Sequence[str],
                 rng: slice) -> None:
    """A range's cube must hold the template's frames and variables, else the store mixes
    runs."""
    where = f"time range [{rng.start}, {rng.stop})"
    times = template["time"].values[rng]
    if part.sizes.get("time") != rng.stop - rng.start or not np.array_equal(
            part["time"].values, times):
        raise ValueError(f"{where}: the cube opened for it does not hold the template's frames "
                         f"({part.sizes.get('time', 0)} frames)")
    for name in names:
        if name not in part.data_vars:
            raise ValueError(f"{where}: the cube opened for it has no variable {name!r}")
        a, b = part[name], template[name]
        shape_a = [s for d, s in zip(a.dims, a.shape, strict=True) if d != "time"]
        shape_b = [s for d, s in zip(b.dims, b.shape, strict=True) if d != "time"]
        if (a.dims, a.dtype, shape_a) != (b.dims, b.dtype, shape_b):
            raise ValueError(f"{where}: variable {name!r} is {a.dims} {a.dtype} "
                             f"{tuple(a.shape)} there, {b.dims} {b.dtype} in the template")


class _Progress:
    """The progress of a run: a reporter (``begin``/``on_range``/``on_region``/``end``), a
    tqdm bar (``progress=True``) or nothing."""

    def __init__(self, progress, total: int, already: int):
        self.reporter = progress if hasattr(progress, "on_region") else None
        self.bar = None
        if self.reporter is not None:
            self.reporter.begin(total, already)
        elif progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="writing", unit="frame", initial=already)

    def range_opened(self, k: int, rng: slice, n: int) -> None:
        if self.reporter is not None and hasattr(self.reporter, "on_range"):
            self.reporter.on_range(k, rng, n)

    def region_done(self, i: int, region: slice) -> None:
        if self.bar is not None:
            self.bar.update(region.stop - region.start)
        if self.reporter is not None:
            self.reporter.on_region(i, region)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.reporter is not None:
            self.reporter.end()


@dataclasses.dataclass
class _RegionRun:
    """The regions of one store being written (:func:`write_cube`, steps 3 and 4)."""

    store: str
    template: xr.Dataset
    open_range: Callable[[slice], xr.Dataset]
    regions: list[slice]
    ranges: list[slice]
    done: np.ndarray
    run_id: str
    region_frames: int
    zarr_format: int
    storage_options: Mapping[str, Any] | None
    lease: Any
    heartbeat: _Heartbeat
    on_region: Callable[[int, slice], None] | None = None
    on_failure: Callable[[RegionFailure], None] | None = None
    direct: Callable[[slice], Callable[[slice], Any]] | None = None
    written: int = 0
    frames: int = 0
    ranges_skipped: int = 0
    failed: list[RegionFailure] = dataclasses.field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [n for n, v in self.template.data_vars.items() if "time" in v.dims]

    def writes(self) -> Iterator[tuple[int, slice, Any]]:
        """``(i, region, lazy write)`` of the regions to do, range by range; a range's cube
        is opened when its first region is due and dropped after its last."""
        names = self.names
        for k, rng in enumerate(self.ranges):
            first, last = rng.start // self.region_frames, -(-rng.stop // self.region_frames)
            todo = [i for i in range(first, last) if not self.done[i]]
            if not todo:
                self.ranges_skipped += 1
                continue
            if self.direct is not None:
                write = self.direct(rng)
                self.progress.range_opened(k, rng, len(self.ranges))
                for i in todo:
                    yield i, self.regions[i], write(self.regions[i])
                continue
            part = self.open_range(rng)
            _check_range(part, self.template, names, rng)
            self.progress.range_opened(k, rng, len(self.ranges))
            for i in todo:
                region = self.regions[i]
                local = slice(region.start - rng.start, region.stop - rng.start)
                yield i, region, write_region(part[names].isel(time=local), self.store, region,
                                              zarr_format=self.zarr_format,
                                              storage_options=self.storage_options)
            del part

    def finished(self, i: int, region: slice, error: BaseException | None) -> None:
        """Mark a region written, or record its I/O failure; any other error stops the run."""
        if self.heartbeat.error is not None:
            raise self.heartbeat.error
        if error is not None:
            if not isinstance(error, RETRYABLE):
                raise error
            failure = RegionFailure(region, f"{type(error).__name__}: "
                                            f"{redact_text(str(error))}")
            self.failed.append(failure)
            if self.on_failure is not None:
                self.on_failure(failure)
            return
        self.lease.check()
        mark_region(self.store, region, self.run_id, zarr_format=self.zarr_format,
                    storage_options=self.storage_options)
        self.written += 1
        self.frames += region.stop - region.start
        if self.on_region is not None:
            self.on_region(i, region)
        self.progress.region_done(i, region)

    def run(self, progress, client, max_in_flight, compute_kwargs) -> WriteReport:
        started = _time.perf_counter()
        n = self.template.sizes["time"]
        already = int(sum(r.stop - r.start
                          for r, d in zip(self.regions, self.done, strict=True) if d))
        self.progress = _Progress(progress, n, already)
        try:
            if client is None:
                for i, region, write in self.writes():
                    try:
                        write.compute(**dict(compute_kwargs or {}))
                    except RETRYABLE as err:
                        self.finished(i, region, err)
                        continue
                    self.finished(i, region, None)
            else:
                _write_concurrently(client, self.writes(), self.finished, max_in_flight)
        finally:
            self.progress.close()
        return WriteReport(
            store=str(self.store), frames=n, regions=len(self.regions),
            regions_written=self.written, regions_skipped=int(self.done.sum()),
            seconds=_time.perf_counter() - started, ranges=len(self.ranges),
            ranges_skipped=self.ranges_skipped, run_id=self.run_id, failed=self.failed,
            frames_written=self.frames, frames_skipped=already)


def _write_concurrently(client, writes, finished, max_in_flight) -> None:
    """Keep up to ``max_in_flight`` region writes running on ``client``; ``finished`` each as
    it completes (in completion order). A region is marked only after its future has finished
    without error, so a mark is never ahead of its data; on an error that stops the run, the
    regions in flight are cancelled first. Regions own whole shards (or chunks), so
    concurrent writes never touch the same object."""
    from distributed import as_completed

    from lascoproc.io.zarr_pipeline import install

    client.run(install)  # the workers encode shards without a copy per frame (same bytes)
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
            i, region = submitted.pop(future.key)
            try:
                future.result()
            except RETRYABLE as err:
                finished(i, region, err)
            else:
                finished(i, region, None)
            submit_next()
    except BaseException:
        client.cancel(list(futures.futures))
        raise
