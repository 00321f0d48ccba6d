"""Progress a person can follow during a long run, and the summary at its end.

:class:`RunProgress` is driven by the region writer: ``begin(total, done)`` once the run
manifest says how many frames are already written, ``on_range(k, frames, n_ranges)`` as each time
range of a cut run is opened, ``on_region(i, region)`` after each region is written and marked
(the signature of :func:`lascoproc.pipeline.regions.write_cube`'s ``on_region``), ``end()`` at the
end. It shows one tqdm bar of frames over the whole run, with the rate in frames/s, the ETA (the
rate counts only frames written by this run, so a resumed run's ETA is not flattered by the
frames it skipped) and the time range being opened, and prints the dashboard link first when
the run is distributed.

:func:`summarize_run` makes the final :class:`RunSummary`: frames processed, frames flagged per
reason (from the CF ``flag_values``/``flag_meanings`` or ``flag_masks`` of the per-frame flag
variables), files not used with their reasons, wall time and throughput.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import numpy as np
import xarray as xr

from lascoproc.cluster.factory import dashboard_link

__all__ = ["RunProgress", "RunSummary", "summarize_run", "flag_counts"]


class RunProgress:
    """A frames progress bar (frames done, frames/s, ETA) for a region-by-region write.

    Parameters
    ----------
    client
        The run's ``distributed.Client``, or ``None`` (threaded scheduler); with a client,
        :meth:`begin` prints the dashboard link.
    desc
        Label of the bar.
    file
        Where to write (``sys.stderr`` by default).
    disable
        No bar (the counts and the timing are still kept); ``None``: no bar unless ``file`` is
        a terminal (tqdm's rule).

    Examples
    --------
    >>> progress = RunProgress(disable=True)
    >>> progress.begin(total_frames=10, done_frames=4)
    >>> progress.on_range(1, slice(4, 10), 2)
    >>> progress.on_region(2, slice(4, 8))
    >>> progress.end()
    >>> progress.frames_written, progress.frames_done, progress.ranges_opened
    (4, 8, 1)
    """

    def __init__(self, *, client=None, desc: str = "frames", file: IO[str] | None = None,
                 disable: bool | None = False):
        self.client = client
        self.desc = desc
        self.file = file
        self.disable = disable
        self.total_frames = 0
        self.skipped_frames = 0
        self.frames_written = 0
        self.regions_written = 0
        self.ranges_total = 0
        self.ranges_opened = 0
        self._bar = None
        self._started: float | None = None
        self._ended: float | None = None

    # ---------------------------------------------------------------- driven by the writer

    def begin(self, total_frames: int, done_frames: int = 0) -> None:
        """Start the clock and the bar; ``done_frames`` were written by an earlier run."""
        from tqdm.auto import tqdm

        self.total_frames = int(total_frames)
        self.skipped_frames = int(done_frames)
        self.frames_written = self.regions_written = 0  # a new store: a new count
        self.ranges_total = self.ranges_opened = 0
        out = self.file or sys.stderr
        link = dashboard_link(self.client)
        if link:
            print(f"dashboard: {link}", file=out, flush=True)
        self._started = time.perf_counter()
        self._bar = tqdm(total=self.total_frames, initial=self.skipped_frames, desc=self.desc,
                         unit="frame", file=out, disable=self.disable, dynamic_ncols=True,
                         smoothing=0.1)

    def on_region(self, index: int, region: slice) -> None:
        """Region ``index`` (frames ``region``) is written and marked done."""
        if self._started is None:
            self.begin(0)
        frames = int(region.stop) - int(region.start)
        self.frames_written += frames
        self.regions_written += 1
        if self._bar is not None:
            if self.frames_done > self._bar.total:  # begun without a total
                self._bar.total = self.frames_done
            self._bar.update(frames)

    __call__ = on_region

    def on_range(self, index: int, frames: slice, total: int) -> None:
        """Time range ``index`` of ``total`` (frames ``frames``) is opened for writing."""
        self.ranges_total = int(total)
        self.ranges_opened += 1
        if self._bar is not None and total > 1:
            self._bar.set_postfix_str(f"range {index + 1}/{total} "
                                      f"(frames {frames.start}-{frames.stop - 1})",
                                      refresh=False)

    def end(self) -> None:
        """Stop the clock and close the bar."""
        if self._ended is None:
            self._ended = time.perf_counter()
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.end()

    # ---------------------------------------------------------------- readings

    @property
    def frames_done(self) -> int:
        """Frames written by this run and by earlier ones."""
        return self.skipped_frames + self.frames_written

    @property
    def seconds(self) -> float:
        """Wall time since :meth:`begin` (until :meth:`end`)."""
        if self._started is None:
            return 0.0
        stop = self._ended if self._ended is not None else time.perf_counter()
        return stop - self._started

    @property
    def frames_per_second(self) -> float:
        seconds = self.seconds
        return self.frames_written / seconds if seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the mean rate so far; ``None`` before the first region."""
        rate = self.frames_per_second
        if not rate:
            return None
        return max(self.total_frames - self.frames_done, 0) / rate


def flag_counts(ds: xr.Dataset) -> dict[str, int]:
    """Frames per flag meaning, over every per-frame CF flag variable of ``ds``.

    A variable counts when it has the single dimension ``time`` and ``flag_meanings`` with
    ``flag_values`` (exclusive values) or ``flag_masks`` (bits); frames with the value (or bit)
    of a meaning are counted under ``"<variable>: <meaning>"``; value 0 (``ok``) is not a flag.
    The variables must be in memory or lazily indexed from a store (``xr.open_zarr(store,
    chunks=None)``): dask-backed flags are refused, this function computes nothing.
    """
    counts: dict[str, int] = {}
    for name, var in ds.data_vars.items():
        if var.dims != ("time",) or "flag_meanings" not in var.attrs:
            continue
        if var.chunks is not None:
            raise ValueError(f"flag variable {name!r} is a dask array: load it first "
                             "(or open the store with chunks=None)")
        meanings = str(var.attrs["flag_meanings"]).split()
        values = np.asarray(var.values)
        if "flag_masks" in var.attrs:
            masks = np.atleast_1d(var.attrs["flag_masks"])
            tests = [(values & int(m)) != 0 for m in masks]
        else:
            flags = np.atleast_1d(var.attrs.get("flag_values", np.arange(len(meanings))))
            tests = [values == v if v != 0 else None for v in flags]
        for meaning, hit in zip(meanings, tests, strict=False):
            if hit is None:
                continue
            n = int(np.count_nonzero(hit))
            if n:
                counts[f"{name}: {meaning}"] = n
    return counts


@dataclasses.dataclass
class RunSummary:
    """What a run did, for a person: printed at its end by the command line."""

    store: str
    frames: int
    frames_processed: int
    frames_skipped: int
    regions_written: int
    regions_skipped: int
    seconds: float
    flagged: dict[str, int]
    rejected: list[str]
    engine: str | None = None
    ranges: int = 1
    ranges_skipped: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["frames_per_second"] = self.frames_per_second
        return out

    def format(self, *, max_rejected: int = 20) -> str:
        """Several lines: counts, time and throughput, flags by reason, files not used."""
        lines = [
            f"{self.frames} frames in {self.store}: {self.frames_processed} processed now, "
            f"{self.frames_skipped} already done "
            f"({self.regions_written} regions written, {self.regions_skipped} skipped"
            + (f"; {self.ranges} time ranges, {self.ranges_skipped} already complete"
               if self.ranges > 1 else "") + ")",
            f"wall time {self.seconds:.1f} s, {self.frames_per_second:.2f} frames/s"
            + (f" on {self.engine}" if self.engine else ""),
        ]
        if self.flagged:
            lines.append("frames flagged, by reason (a frame may have several):")
            lines += [f"  {n:>8}  {reason}" for reason, n in sorted(self.flagged.items())]
        else:
            lines.append("no frames flagged")
        if self.rejected:
            lines.append(f"{len(self.rejected)} files not used:")
            lines += [f"  {line}" for line in self.rejected[:max_rejected]]
            if len(self.rejected) > max_rejected:
                lines.append(f"  ... and {len(self.rejected) - max_rejected} more")
        return "\n".join(lines)


def summarize_run(
    report: Any,
    *,
    flags: xr.Dataset | None = None,
    rejected: Iterable[str] = (),
    progress: RunProgress | None = None,
    engine: str | None = None,
) -> RunSummary:
    """The :class:`RunSummary` of a write.

    Parameters
    ----------
    report
        The writer's :class:`~lascoproc.pipeline.regions.WriteReport` (``store``, ``frames``,
        ``regions``, ``regions_written``, ``regions_skipped``, ``seconds``; ``ranges`` and
        ``ranges_skipped`` when the run was cut into time ranges).
    flags
        Per-frame flag variables of the written store (see :func:`flag_counts`).
    rejected
        ``"path: reason"`` of the files left out of the cube.
    progress
        The run's :class:`RunProgress`: exact frame counts; without it they are estimated from
        the region counts.
    engine
        What ran it (:func:`lascoproc.cluster.describe`).
    """
    frames = int(report.frames)
    if getattr(report, "frames_written", None) is not None:
        processed, skipped = report.frames_written, report.frames_skipped
    elif progress is not None and progress.total_frames:
        processed, skipped = progress.frames_written, progress.skipped_frames
    else:
        per_region = frames / report.regions if report.regions else 0
        processed = min(frames, round(report.regions_written * per_region))
        skipped = frames - processed if report.regions_skipped else 0
    return RunSummary(
        store=str(report.store), frames=frames, frames_processed=int(processed),
        frames_skipped=int(skipped), regions_written=int(report.regions_written),
        regions_skipped=int(report.regions_skipped), seconds=float(report.seconds),
        flagged=flag_counts(flags) if flags is not None else {},
        rejected=[str(r) for r in rejected], engine=engine,
        ranges=int(getattr(report, "ranges", 1)),
        ranges_skipped=int(getattr(report, "ranges_skipped", 0)),
    )
