"""The run report: every input file accounted for (wiring only: it collects what the readers,
the planner and the writers found).

Each input file of a run is, in the report:

- ``rejected``: left out of every cube, with its reasons (not a FITS file, truncated, a
  header that cannot place it in time, a detector or size that disagrees with the archive
  layout or its read-out window, a byte-identical duplicate of a file kept...);
- ``flagged``: in a cube, but not calibrated cleanly or with a problem worth a look (a bad
  exposure time, an unparsable header card, a time shared with another frame, an unknown
  filter/polarizer, no data, unreadable pixels; calibrated without a file NRL's chain would
  have used: no TIME_DIFF.DAT, no exposure-factor table entry), with its reasons;
- ``not_written``: in a cube whose region failed with an I/O error (left for ``--resume``);
- ``used``: in a cube, calibrated cleanly.

Reasons are ``"code: message"`` strings with stable codes; :attr:`RunReport.counts` counts the
files per code. The report is written as JSON beside the store (``<store>.report.json``) and
summarised on the terminal (:meth:`RunReport.summary`); ``--strict`` makes a run that rejected or
flagged anything exit non-zero.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from lascoproc.io.fs import (
    get_fs,
    provenance_location,
    redact_text,
    redact_url,
    write_json_atomic,
)
from lascoproc.io.lasco_archive import Problem
from lascoproc.io.zarr_store import open_store, template_complete

__all__ = ["RunReport", "InputFile", "StoppedRun", "build_report", "report_path",
           "write_report"]

_STATUS_ORDER = ("rejected", "not_written", "flagged", "used")


@dataclasses.dataclass
class InputFile:
    """One input file and what became of it."""

    path: str
    status: str
    reasons: list[str] = dataclasses.field(default_factory=list)
    store: str = ""


@dataclasses.dataclass
class RunReport:
    """What a run did with every input file (module docstring)."""

    run_id: str
    product: str
    archive: str
    started: str
    finished: str
    stores: list[dict[str, Any]]
    inputs: list[InputFile]
    #: Why the run stopped before its end (the exception, one line); "" for a run that ran to
    #: its end. A stopped run's report says which files were written before it stopped.
    stopped: str = ""

    @property
    def counts(self) -> dict[str, int]:
        """Files per reason code (the text before the first ``:`` of each reason)."""
        codes: Counter = Counter()
        for item in self.inputs:
            for code in {r.split(":", 1)[0].strip() for r in item.reasons}:
                codes[code] += 1
        return dict(sorted(codes.items()))

    @property
    def by_status(self) -> dict[str, int]:
        found = Counter(item.status for item in self.inputs)
        return {s: found.get(s, 0) for s in _STATUS_ORDER}

    @property
    def clean(self) -> bool:
        """Nothing rejected, flagged or left unwritten, and the run ran to its end."""
        return not self.stopped and all(item.status == "used" for item in self.inputs)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["by_status"] = self.by_status
        out["counts"] = self.counts
        return out

    def summary(self, *, max_files: int = 20) -> str:
        """A few lines for the terminal: files by status, counts per reason, the first files
        that are not clean."""
        status = self.by_status
        lines = [f"run stopped before its end: {self.stopped}"] if self.stopped else []
        lines += [f"{len(self.inputs)} input files: " + ", ".join(
            f"{n} {s.replace('_', ' ')}" for s, n in status.items())]
        if self.counts:
            lines.append("reasons (files per code): " + ", ".join(
                f"{code} {n}" for code, n in self.counts.items()))
        shown = [i for i in self.inputs if i.status != "used"][:max_files]
        for item in shown:
            lines.append(f"  {item.status:<11} {item.path}: {'; '.join(item.reasons)}")
        rest = sum(i.status != "used" for i in self.inputs) - len(shown)
        if rest > 0:
            lines.append(f"  ... and {rest} more (see the report)")
        return "\n".join(lines)


#: Per-frame columns of a level-1 store that say how completely the calibration store covered
#: the frame (:mod:`lascoproc.calibrate.plan`); read by :func:`_calibration_reasons`.
_CALIBRATION_COLUMNS = ("date_obs_source", "bias_source", "expfactor_file")

#: ``date_obs_source`` of a frame after the last day of the store's roll/centre tables: data
#: newer than NRL's own tables, for which no frame is flagged.
_AFTER_TABLES = "uncorrected: after LAST_DAY"


def _calibration_reasons(values: Mapping[str, Any]) -> list[str]:
    """Calibrated, but not as NRL would: the calibration store lacked a file the frame needed.

    - ``time_uncorrected``: the store has no TIME_DIFF.DAT (or no C2 time-offset table) for the
      frame, so DATE-OBS is the level-0.5 time (``date_obs_source`` "uncorrected: no ...");
    - ``no_exposure_factor``: the store has no exposure-factor table for the frame's detector
      and day (``expfactor_file`` empty; ``get_exp_factor.pro`` then gives a factor of 1 and
      the bias comes from the level-0.5 HISTORY or the ``offset_bias`` port). A frame that the
      day's table exists for but does not list is not flagged: NRL's level 1 of that frame
      has the same factor 1.

    Frames after the store's LAST_DAY (``date_obs_source`` "uncorrected: after LAST_DAY") get
    neither: newer than NRL's own tables, they are calibrated as NRL's quicklook would be.
    """
    time_source = str(values.get("date_obs_source", "") or "")
    if time_source.startswith(_AFTER_TABLES):
        return []
    reasons = []
    if time_source.startswith("uncorrected: no "):
        reasons.append(f"time_uncorrected: {time_source[len('uncorrected: '):]}")
    bias_source = str(values.get("bias_source", "") or "")
    if "expfactor_file" in values and not str(values.get("expfactor_file") or ""):
        reasons.append("no_exposure_factor: no exposure-factor table for the frame's day in "
                       f"the calibration store (factor 1, bias from {bias_source or 'unknown'})")
    return reasons


def _flag_reasons(values: Mapping[str, Any], meanings: Mapping[int, str]) -> list[str]:
    reasons = [r.strip() for r in str(values.get("input_flags", "") or "").split("; ")
               if r.strip()]
    status = int(values.get("frame_status", 0) or 0)
    if status:
        why = str(values.get("frame_status_reason", "") or "")
        code = meanings.get(status, f"frame_status_{status}")
        reasons.append(f"{code}: {why}" if why else code)
    else:
        reasons.extend(_calibration_reasons(values))
    return reasons


def _meanings(var: xr.DataArray) -> dict[int, str]:
    values = np.atleast_1d(var.attrs.get("flag_values", []))
    names = str(var.attrs.get("flag_meanings", "")).split()
    return {int(v): n for v, n in zip(values, names, strict=False)}


def build_report(*, run_id: str, product: str, archive: str, started: dt.datetime,
                 problems: Iterable[Problem], written: Sequence[tuple[str, Any, xr.Dataset]],
                 ) -> RunReport:
    """The report of a run.

    Parameters
    ----------
    run_id, product, archive, started
        What ran. The archive and the stores are recorded as
        :func:`lascoproc.io.fs.provenance_location` gives them: a local path absolute (the
        report names the same places read from any directory), a URL without credentials.
    problems
        The files left out of every cube, with their reasons.
    written
        ``(store, write report, store opened)`` for each store the run wrote: the store's
        per-frame ``path``, ``input_flags``, ``frame_status`` (+ ``frame_status_reason``) and
        ``frame_written`` are read (small per-frame variables, no pixels).
    """
    inputs: list[InputFile] = [InputFile(redact_url(p.path), "rejected",
                                         [r.strip() for r in str(p.reason).split("; ")])
                               for p in problems]
    stores = []
    for store, report, ds in written:
        paths = [str(p) for p in np.asarray(ds["path"].values)]
        done = np.asarray(ds["frame_written"].values).astype(bool)
        columns = {name: np.asarray(ds[name].values) for name in
                   ("input_flags", "frame_status", "frame_status_reason",
                    *_CALIBRATION_COLUMNS) if name in ds}
        meanings = _meanings(ds["frame_status"]) if "frame_status" in ds else {}
        failed = {}
        for failure in getattr(report, "failed", []):
            for i in range(failure.region.start, failure.region.stop):
                failed[i] = f"region_failed: {failure.error}"
        for i, path in enumerate(paths):
            row = {name: values[i] for name, values in columns.items()}
            if not done[i]:
                if "frame_status" in row:
                    row["frame_status"] = 0  # not computed: says nothing yet
                reasons = _flag_reasons(row, meanings)
                reasons.insert(0, failed.get(i, "not_written: region not written yet"))
                inputs.append(InputFile(redact_url(path), "not_written", reasons,
                                        provenance_location(store)))
                continue
            reasons = _flag_reasons(row, meanings)
            inputs.append(InputFile(redact_url(path), "flagged" if reasons else "used",
                                    reasons, provenance_location(store)))
        stores.append({
            "store": provenance_location(store),
            "frame_shape": str(ds.attrs.get("frame_shape", "")) or
            "x".join(str(ds.sizes[d]) for d in ("y", "x") if d in ds.sizes),
            "frames": int(ds.sizes.get("time", 0)),
            "regions_written": int(getattr(report, "regions_written", 0)),
            "regions_skipped": int(getattr(report, "regions_skipped", 0)),
            "regions_failed": [str(f) for f in getattr(report, "failed", [])],
            "complete": bool(getattr(report, "complete", True)),
        })
    inputs.sort(key=lambda i: (_STATUS_ORDER.index(i.status), i.path))
    return RunReport(run_id=run_id, product=product, archive=provenance_location(archive),
                     started=started.isoformat(timespec="seconds"),
                     finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     stores=stores, inputs=inputs)


class StoppedRun:
    """The report of a run that may stop partway (an exception, Ctrl-C, a lost lease).

    The pipeline calls :meth:`plan` with the stores it will write and their input files,
    writes them inside ``with stopped:`` and gives :meth:`begin` to ``write_cube`` as
    ``on_start`` (called once the output is accepted,
    before anything in it changes). If the run then stops with an exception, :meth:`write`
    writes the run report as far as it got (each store's per-frame marks say which files were
    written; the others, and the files of stores not begun, are ``not_written``) with
    ``stopped`` set, and the exception goes on. A run refused before it changed anything (an
    existing store without resume/overwrite, another run's definition, a locked store, a
    resume with nothing left to do) writes nothing: the report beside the store is left as it
    was. Once a run begins changing its stores the earlier report is removed, so that no
    report ever describes stores that are no longer as it says.
    """

    def __init__(self, *, run_id: str, product: str, archive: str, started: dt.datetime,
                 problems: Iterable[Problem], report_at: str,
                 storage_options: Mapping[str, Any] | None = None):
        self.run_id, self.product, self.archive, self.started = run_id, product, archive, started
        self.problems, self.report_at = list(problems), report_at
        self.storage_options = storage_options
        self.stores: dict[str, list[str]] = {}
        self.begun: set[str] = set()
        self.finished: dict[str, Any] = {}
        self.failures: dict[str, list] = {}

    def plan(self, store: str, paths: Iterable[str]) -> None:
        """``store`` is to be written with the frames of ``paths``."""
        self.stores[store] = [str(p) for p in paths]

    def begin(self, store: str) -> None:
        """The run starts changing ``store`` (a store not begun is reported from the plan,
        not from what an earlier run may have left there). The first call removes the report
        of the run that last changed these stores: from now on it would describe stores that
        are no longer as it says (the run's own report, finished or stopped, replaces it)."""
        if not self.begun:
            try:
                fs, path = get_fs(self.report_at, self.storage_options)
                if fs.exists(path):
                    fs.rm(path)
            except OSError:
                pass  # the stopped or finished run's report overwrites it anyway
        self.begun.add(store)

    def __enter__(self) -> StoppedRun:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        """Leaving the run's ``with`` block by an exception writes the report (:meth:`write`);
        the exception goes on."""
        if error is not None:
            self.write(error)
        return False

    def region_failed(self, store: str, failure: Any) -> None:
        """A region of ``store`` was left for ``resume`` after an I/O error (``write_cube``'s
        ``on_failure``): a report of the run stopped later names it ``region_failed``."""
        self.failures.setdefault(store, []).append(failure)

    def finish(self, store: str, report: Any) -> None:
        """``store`` was written to its end, with ``report`` (its ``WriteReport``)."""
        self.finished[store] = report

    def write(self, error: BaseException) -> str | None:
        """Write the report of the stopped run (best effort: a report that cannot be written
        is skipped, never raised over ``error``); its path, or ``None``."""
        if not self.begun:
            return None
        try:
            written, pending = [], []
            for store, paths in self.stores.items():
                try:
                    if store not in self.begun or not template_complete(store,
                                                                        self.storage_options):
                        raise KeyError(store)
                    ds = open_store(store, self.storage_options)
                    if "path" not in ds or "frame_written" not in ds:
                        raise KeyError(store)
                except (OSError, ValueError, KeyError):  # not begun, or no finished template
                    pending += [InputFile(redact_url(p), "not_written",
                                          ["not_written: the run stopped before this store "
                                           "held any region"],
                                          provenance_location(store))
                                for p in paths]
                    continue
                report = self.finished.get(store) or _Unfinished(self.failures.get(store, []))
                written.append((store, report, ds))
            report = build_report(run_id=self.run_id, product=self.product,
                                  archive=self.archive, started=self.started,
                                  problems=self.problems, written=written)
            report.inputs += pending
            report.inputs.sort(key=lambda i: (_STATUS_ORDER.index(i.status), i.path))
            text = str(error).splitlines()[0] if str(error) else ""
            report.stopped = redact_text(f"{type(error).__name__}: {text}" if text
                                         else type(error).__name__)
            return write_report(report, self.report_at, self.storage_options)
        except Exception:  # noqa: BLE001 - the run's own error is the one to see
            return None


class _Unfinished:
    """A store's write report when the run stopped while or before writing it: the regions
    that had failed by then."""

    regions_written = 0
    regions_skipped = 0
    complete = False

    def __init__(self, failed: list):
        self.failed = list(failed)


def report_path(store: str) -> str:
    """Where the report of the run that wrote ``store`` goes: ``<store>.report.json``."""
    return str(store).rstrip("/") + ".report.json"


def write_report(report: RunReport, path: str,
                 storage_options: Mapping[str, Any] | None = None) -> str:
    """Write the report as JSON to ``path`` (written to a temporary name, then renamed)."""
    write_json_atomic(path, report.as_dict(), storage_options=storage_options)
    return path
