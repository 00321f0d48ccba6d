"""Index of a LASCO level-0.5 archive laid out as NRL's ``level_05/YYMMDD/c2|c3/NNNNNNNN.fts``.

The index lists frames for a detector and time range without reading pixel data: from each day's
``img_hdr.txt`` (see :mod:`lascoproc.io.img_hdr`) when present, and from the FITS headers
otherwise (a day without ``img_hdr.txt``, or files that it does not list). Reading a header reads
only its first few 2880-byte blocks. Every path goes through fsspec, so a local directory,
``file://``, ``s3://``, ``gs://`` and ``https://`` archives are indexed the same way.

Problems never stop the index: a malformed ``img_hdr.txt`` line, a listed file that is absent or a
file whose header cannot be read is recorded in :attr:`LascoIndex.problems` with its path and
reason, and the rest proceeds.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from lascoproc.io import lasco_header
from lascoproc.io.fs import get_fs, join, redact_text, redact_url
from lascoproc.io.img_hdr import parse_img_hdr
from lascoproc.io.retry import ReadPolicy, with_retries

__all__ = ["LascoIndex", "Problem", "index_archive", "parse_day_directory", "read_frame_header"]

DETECTORS = ("c2", "c3")
_DAY = re.compile(r"^\d{6}$")
#: Columns of :attr:`LascoIndex.frames`.
INDEX_COLUMNS = ("path", "filename", "time", "detector", "filter", "polarizer", "exptime",
                 "naxis1", "naxis2", "source", "directory")


@dataclasses.dataclass(frozen=True)
class Problem:
    """A file or index line that could not be used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclasses.dataclass
class LascoIndex:
    """Frames of an archive (one row per frame, sorted by time) and the problems met.

    ``headers``: the FITS headers the index had to read (files ``img_hdr.txt`` does not list),
    ``path -> (header, data offset)``, so that they are not read again. ``span``: the first
    and last day directory of the whole archive (``None`` if it has none), for messages.
    """

    root: str
    frames: pd.DataFrame
    problems: list[Problem]
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    headers: dict[str, tuple[Any, int]] = dataclasses.field(default_factory=dict)
    span: tuple[np.datetime64 | None, np.datetime64 | None] = (None, None)

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, *, detector: str | None = None, start=None, end=None) -> LascoIndex:
        """A new index restricted to a detector and a closed time range ``[start, end]``."""
        frames = _select(self.frames, detector, start, end)
        keep = set(frames["path"])
        return LascoIndex(self.root, frames, list(self.problems), dict(self.storage_options),
                          {p: h for p, h in self.headers.items() if p in keep}, self.span)


def parse_day_directory(name: str) -> np.datetime64 | None:
    """Date of an NRL day directory ``YYMMDD`` (``96..99`` are 1996-1999, else 20xx)."""
    if not _DAY.match(name):
        return None
    yy, mm, dd = int(name[:2]), int(name[2:4]), int(name[4:])
    year = 1900 + yy if yy >= 95 else 2000 + yy
    try:
        return np.datetime64(f"{year:04d}-{mm:02d}-{dd:02d}", "D")
    except ValueError:
        return None


def _as_time(value) -> np.datetime64 | None:
    if value is None:
        return None
    return np.datetime64(pd.Timestamp(value).to_datetime64(), "ms")


def _select(frames: pd.DataFrame, detector, start, end) -> pd.DataFrame:
    keep = np.ones(len(frames), dtype=bool)
    if detector is not None:  # the directory says which detector a file is filed under
        keep &= frames["directory"].str.lower().to_numpy() == detector.lower()
    start, end = _as_time(start), _as_time(end)
    times = frames["time"].to_numpy()
    if start is not None:
        keep &= times >= start
    if end is not None:
        keep &= times <= end
    return frames[keep].reset_index(drop=True)


def _level05_root(fs, root: str) -> str:
    """Accept the archive root either as the ``level_05`` directory or its parent."""
    candidate = join(fs, root, "level_05")
    if fs.isdir(candidate):
        return candidate
    return root


def _day_dirs(fs, level05: str, start, end, policy):
    """``([(day, path)] in [start, end], (first day, last day) of the whole archive)``."""
    try:
        entries = with_retries(lambda: fs.ls(level05, detail=False), policy)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"no LASCO archive at {redact_url(level05)!r}") from err
    except OSError as err:
        raise OSError(f"cannot list the LASCO archive at {redact_url(level05)!r} ({err}); "
                      "check the URL and the network, then run again") from err
    start_day = None if start is None else np.datetime64(pd.Timestamp(start).date(), "D")
    end_day = None if end is None else np.datetime64(pd.Timestamp(end).date(), "D")
    days, every = [], []
    for entry in entries:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        day = parse_day_directory(name)
        if day is None:
            continue
        every.append(day)
        if start_day is not None and day < start_day:
            continue
        if end_day is not None and day > end_day:
            continue
        days.append((day, entry.rstrip("/")))
    span = (min(every), max(every)) if every else (None, None)
    return sorted(days), span


def read_frame_header(fs, path: str, policy: ReadPolicy = ReadPolicy()):
    """Read the primary header of one level-0.5 file: ``(header, data offset in bytes)``.

    Raises :class:`~lascoproc.io.lasco_header.HeaderError` with the reason when the file cannot
    hold a frame: not FITS, truncated header, no ``NAXIS1``/``NAXIS2``/``BITPIX``, or a file
    shorter than its header's data array (a truncated or wrong-size file). What the header's
    values say of the frame is :func:`lascoproc.io.lasco_header.header_problems`'s. I/O errors
    are retried under ``policy`` before they are raised.
    """
    def read():
        with fs.open(path, "rb") as handle:
            return lasco_header.read_header_bytes(handle)

    raw = with_retries(read, policy, listed=True)
    header = lasco_header.parse_header(raw)
    for key in ("NAXIS1", "NAXIS2", "BITPIX"):
        if key not in header:
            raise lasco_header.HeaderError(f"header_unreadable: no {key} in the header")
    expected = lasco_header.expected_file_size(header, raw)
    size = with_retries(lambda: fs.size(path), policy, listed=True)
    if size is not None and size < expected:
        raise lasco_header.HeaderError(
            f"file_truncated: file holds {size} bytes but its header needs {expected} "
            f"({header['NAXIS1']}x{header['NAXIS2']} BITPIX {header['BITPIX']}): truncated "
            "or wrong size"
        )
    return header, lasco_header.header_size(raw)


def _row_from_header(path: str, header, directory: str) -> dict:
    try:
        time = lasco_header.observation_time(header)
    except lasco_header.HeaderError as err:  # a frame that cannot be placed in time
        codes = [f"{c}: {m}" for c, m in lasco_header.header_problems(header)
                 if c.startswith("date_")]
        raise lasco_header.HeaderError("; ".join(codes) or f"date_unparsable: {err}") from err
    exptime = header.get("EXPTIME", np.nan)
    return {
        "path": path,
        "filename": path.rsplit("/", 1)[-1],
        "time": time,
        "detector": str(header.get("DETECTOR", "")).strip().upper(),
        "filter": str(header.get("FILTER", "")).strip(),
        "polarizer": str(header.get("POLAR", "")).strip(),
        "exptime": float(exptime) if isinstance(exptime, (int, float)) else np.nan,
        "naxis1": int(header["NAXIS1"]),
        "naxis2": int(header["NAXIS2"]),
        "source": "header",
        "directory": directory,
    }


def _rows_from_img_hdr(fs, directory: str, files: set[str], problems: list[Problem],
                       policy: ReadPolicy):
    path = join(fs, directory, "img_hdr.txt")
    try:
        if not fs.exists(path):
            return {}
        text = with_retries(lambda: fs.cat_file(path), policy).decode("latin-1")
    except OSError as err:  # the day's FITS headers are read instead
        problems.append(Problem(redact_url(path), f"index_unreadable: {err}; the day's FITS "
                                                  "headers were read instead"))
        return {}
    lines, bad = parse_img_hdr(text)
    for number, reason in bad:
        problems.append(Problem(f"{path}:{number}", f"malformed img_hdr.txt line: {reason}"))
    rows = {}
    for line in lines:
        file_path = join(fs, directory, line.filename)
        if line.filename not in files:
            problems.append(Problem(file_path, "listed in img_hdr.txt but not in the archive"))
            continue
        rows[line.filename] = {
            "path": file_path,
            "filename": line.filename,
            "time": line.time,
            "detector": line.detector,
            "filter": line.filter,
            "polarizer": line.polar,
            "exptime": line.exptime,
            "naxis1": line.naxis1,
            "naxis2": line.naxis2,
            "source": "img_hdr",
            "directory": directory.rstrip("/").rsplit("/", 1)[-1],
        }
    return rows


def _header_rows(fs, paths: Iterable[str], problems: list[Problem], threads: int, progress,
                 headers: dict, policy: ReadPolicy):
    paths = list(paths)

    def one(path):
        try:
            header, offset = read_frame_header(fs, path, policy)
            headers[path] = (header, offset)
            directory = path.rstrip("/").rsplit("/", 2)[-2]
            return _row_from_header(path, header, directory), None
        except (lasco_header.HeaderError, OSError, KeyError, ValueError) as err:
            reason = str(err) if ": " in str(err)[:40] else f"header_unreadable: {err}"
            return None, Problem(redact_url(path), redact_text(reason))

    rows = []
    if not paths:
        return rows
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = pool.map(one, paths)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(paths), desc="reading headers", unit="file")
        for row, problem in results:
            if problem is not None:
                problems.append(problem)
            else:
                rows.append(row)
    return rows


def index_archive(
    url: str,
    *,
    detector: str | None = None,
    start=None,
    end=None,
    storage_options: Mapping[str, Any] | None = None,
    threads: int = 16,
    verify: bool = False,
    progress: bool = False,
    policy: ReadPolicy = ReadPolicy(),
) -> LascoIndex:
    """Index the level-0.5 frames of an archive without reading pixel data.

    Parameters
    ----------
    url
        Archive root: the ``level_05`` directory or its parent, as a path or fsspec URL.
    detector
        ``"c2"`` or ``"c3"``; both when ``None``.
    start, end
        Closed time range (anything :class:`pandas.Timestamp` parses); the whole archive when
        ``None``. Day directories outside the range are not listed at all.
    storage_options
        Passed to fsspec; object stores are anonymous by default.
    threads
        Concurrent header reads (I/O bound, useful on object stores).
    verify
        Also read and check the header of every file listed in ``img_hdr.txt`` (not only of the
        unlisted ones): unusable files then appear in ``problems`` instead of the frames.
    progress
        Show a progress bar while reading headers.
    policy
        How listings and header reads are retried on I/O errors; a directory or file still
        unreadable is named in ``problems`` and the rest goes on.

    Returns
    -------
    LascoIndex
        One row per frame, sorted by time, with columns :data:`INDEX_COLUMNS`; ``source`` says
        whether a row came from ``img_hdr.txt`` or from the FITS header.
    """
    if detector is not None and detector.lower() not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, not {detector!r}")
    fs, root = get_fs(url, storage_options)
    level05 = _level05_root(fs, root)
    detectors = DETECTORS if detector is None else (detector.lower(),)
    problems: list[Problem] = []
    rows: list[dict] = []
    to_read: list[str] = []
    headers: dict[str, tuple[Any, int]] = {}
    days, span = _day_dirs(fs, level05, start, end, policy)
    for _, day_path in days:
        for det in detectors:
            directory = join(fs, day_path, det)
            try:
                if not fs.isdir(directory):
                    continue
                listing = [p.rstrip("/") for p in
                           with_retries(lambda d=directory: fs.ls(d, detail=False), policy)]
            except OSError as err:  # one day that cannot be listed is named, the rest goes on
                problems.append(Problem(redact_url(directory),
                                        f"directory_unreadable: {redact_text(str(err))}"))
                continue
            files = {p.rsplit("/", 1)[-1] for p in listing if p.lower().endswith((".fts", ".fits"))}
            listed = {} if verify else _rows_from_img_hdr(fs, directory, files, problems,
                                                          policy)
            if verify:
                _rows_from_img_hdr(fs, directory, files, problems, policy)  # bad lines
            rows.extend(listed.values())
            to_read.extend(join(fs, directory, f) for f in sorted(files - set(listed)))
    rows.extend(_header_rows(fs, to_read, problems, threads, progress, headers, policy))
    frames = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    frames["time"] = pd.to_datetime(frames["time"]).astype("datetime64[ms]")
    frames = frames.sort_values(["time", "filename"], kind="stable").reset_index(drop=True)
    frames = _select(frames, detector, start, end)
    keep = set(frames["path"])
    return LascoIndex(url, frames, problems, dict(storage_options or {}),
                      {p: h for p, h in headers.items() if p in keep}, span)
