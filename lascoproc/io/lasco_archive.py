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
from lascoproc.io.fs import get_fs, join
from lascoproc.io.img_hdr import parse_img_hdr

__all__ = ["LascoIndex", "Problem", "index_archive", "day_directory", "parse_day_directory"]

DETECTORS = ("c2", "c3")
_DAY = re.compile(r"^\d{6}$")
#: Columns of :attr:`LascoIndex.frames`.
INDEX_COLUMNS = ("path", "filename", "time", "detector", "filter", "polarizer", "exptime",
                 "naxis1", "naxis2", "source")


@dataclasses.dataclass(frozen=True)
class Problem:
    """A file or index line that could not be used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclasses.dataclass
class LascoIndex:
    """Frames of an archive (one row per frame, sorted by time) and the problems met."""

    root: str
    frames: pd.DataFrame
    problems: list[Problem]
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, *, detector: str | None = None, start=None, end=None) -> LascoIndex:
        """A new index restricted to a detector and a closed time range ``[start, end]``."""
        frames = _select(self.frames, detector, start, end)
        return LascoIndex(self.root, frames, list(self.problems), dict(self.storage_options))


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


def day_directory(day) -> str:
    """NRL's ``YYMMDD`` directory name of a date."""
    return pd.Timestamp(day).strftime("%y%m%d")


def _as_time(value) -> np.datetime64 | None:
    if value is None:
        return None
    return np.datetime64(pd.Timestamp(value).to_datetime64(), "ms")


def _select(frames: pd.DataFrame, detector, start, end) -> pd.DataFrame:
    keep = np.ones(len(frames), dtype=bool)
    if detector is not None:
        keep &= frames["detector"].str.lower().to_numpy() == detector.lower()
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


def _day_dirs(fs, level05: str, start, end) -> list[tuple[np.datetime64, str]]:
    try:
        entries = fs.ls(level05, detail=False)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"no LASCO archive at {level05!r}") from err
    start_day = None if start is None else np.datetime64(start, "D")
    end_day = None if end is None else np.datetime64(end, "D")
    days = []
    for entry in entries:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        day = parse_day_directory(name)
        if day is None:
            continue
        if start_day is not None and day < start_day:
            continue
        if end_day is not None and day > end_day:
            continue
        days.append((day, entry.rstrip("/")))
    return sorted(days)


def read_frame_header(fs, path: str):
    """Read and check the primary header of one level-0.5 file; returns ``(header, size_ok)``.

    Raises :class:`~lascoproc.io.lasco_header.HeaderError` with the reason when the file is not a
    usable level-0.5 frame: not FITS, truncated header, missing keywords, or a file shorter than
    its header's data array (a truncated or wrong-size file).
    """
    with fs.open(path, "rb") as handle:
        raw = lasco_header.read_header_bytes(handle)
    header = lasco_header.parse_header(raw)
    lasco_header.check_header(header)
    expected = lasco_header.expected_file_size(header, raw)
    size = fs.size(path)
    if size is not None and size < expected:
        raise lasco_header.HeaderError(
            f"file holds {size} bytes but its header needs {expected} "
            f"({header['NAXIS1']}x{header['NAXIS2']} BITPIX {header['BITPIX']}): truncated "
            "or wrong size"
        )
    return header


def _row_from_header(path: str, header) -> dict:
    return {
        "path": path,
        "filename": path.rsplit("/", 1)[-1],
        "time": lasco_header.observation_time(header),
        "detector": str(header["DETECTOR"]).strip().upper(),
        "filter": str(header["FILTER"]).strip(),
        "polarizer": str(header["POLAR"]).strip(),
        "exptime": float(header["EXPTIME"]),
        "naxis1": int(header["NAXIS1"]),
        "naxis2": int(header["NAXIS2"]),
        "source": "header",
    }


def _rows_from_img_hdr(fs, directory: str, files: set[str], problems: list[Problem]):
    path = join(fs, directory, "img_hdr.txt")
    if not fs.exists(path):
        return {}
    text = fs.cat_file(path).decode("latin-1")
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
        }
    return rows


def _header_rows(fs, paths: Iterable[str], problems: list[Problem], threads: int, progress):
    paths = list(paths)

    def one(path):
        try:
            return _row_from_header(path, read_frame_header(fs, path)), None
        except (lasco_header.HeaderError, OSError, KeyError, ValueError) as err:
            return None, Problem(path, str(err))

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
    for _, day_path in _day_dirs(fs, level05, start, end):
        for det in detectors:
            directory = join(fs, day_path, det)
            if not fs.isdir(directory):
                continue
            listing = [p.rstrip("/") for p in fs.ls(directory, detail=False)]
            files = {p.rsplit("/", 1)[-1] for p in listing if p.lower().endswith((".fts", ".fits"))}
            listed = {} if verify else _rows_from_img_hdr(fs, directory, files, problems)
            if verify:
                _rows_from_img_hdr(fs, directory, files, problems)  # report bad lines
            rows.extend(listed.values())
            to_read.extend(join(fs, directory, f) for f in sorted(files - set(listed)))
    rows.extend(_header_rows(fs, to_read, problems, threads, progress))
    frames = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    frames["time"] = pd.to_datetime(frames["time"]).astype("datetime64[ms]")
    frames = frames.sort_values(["time", "filename"], kind="stable").reset_index(drop=True)
    frames = _select(frames, detector, start, end)
    return LascoIndex(url, frames, problems, dict(storage_options or {}))
