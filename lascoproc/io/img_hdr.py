"""NRL's per-day ``img_hdr.txt`` index of LASCO level-0.5 frames.

Each day directory of NRL's archive (``level_05/YYMMDD/c2/``) holds an ``img_hdr.txt`` with one
fixed-width line per frame, written by SolarSoft ``reduce_img_hdr.pro`` with the IDL format

    (a12,2x,a12,2x,a8,2x,a3,f8.1,4i7,2x,a6,2x,a6,2x,a8,f11.4,i6)

holding: file name, date (``YYYY/MM/DD``), time (``HH:MM:SS``), detector, exposure time [s],
NAXIS1, NAXIS2, P1COL, P1ROW, filter, polarizer, LP_NUM, FP_WL, OS_NUM. IDL's ``Aw`` output
right-justifies a string shorter than ``w`` and truncates a longer one, as Fortran does.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["ImgHdrLine", "format_img_hdr_line", "parse_img_hdr", "parse_img_hdr_line"]

# (name, start, stop) 0-based character columns of each field in the fixed-width line.
_FIELDS = (
    ("filename", 0, 12),
    ("date", 14, 26),
    ("time", 28, 36),
    ("detector", 38, 41),
    ("exptime", 41, 49),
    ("naxis1", 49, 56),
    ("naxis2", 56, 63),
    ("p1col", 63, 70),
    ("p1row", 70, 77),
    ("filter", 79, 85),
    ("polar", 87, 93),
    ("lp_num", 95, 103),
    ("fp_wl", 103, 114),
    ("os_num", 114, 120),
)
LINE_LENGTH = 120


@dataclasses.dataclass(frozen=True)
class ImgHdrLine:
    """One frame as listed in ``img_hdr.txt``."""

    filename: str
    time: np.datetime64
    detector: str
    exptime: float
    naxis1: int
    naxis2: int
    p1col: int
    p1row: int
    filter: str
    polar: str
    lp_num: str
    fp_wl: float
    os_num: int


def _a(value: str, width: int) -> str:
    """IDL ``Aw`` output: right-justified, truncated to ``width``."""
    return str(value)[:width].rjust(width)


def _i(value: int, width: int) -> str:
    text = f"{int(value):{width}d}"
    return "*" * width if len(text) > width else text


def _f(value: float, width: int, decimals: int) -> str:
    text = f"{float(value):{width}.{decimals}f}"
    return "*" * width if len(text) > width else text


def format_img_hdr_line(
    *, filename: str, date_obs: str, time_obs: str, detector: str, exptime: float,
    naxis1: int, naxis2: int, p1col: int, p1row: int, filter: str, polar: str,
    lp_num: str, fp_wl: float = 0.0, os_num: int = 0,
) -> str:
    """Format one ``img_hdr.txt`` line exactly as ``reduce_img_hdr.pro`` writes it.

    ``date_obs`` is ``YYYY/MM/DD`` and ``time_obs`` ``HH:MM:SS[.sss]`` (truncated to ``a8``).
    """
    return (
        _a(filename, 12) + "  " + _a(date_obs, 12) + "  " + _a(time_obs, 8) + "  "
        + _a(detector, 3) + _f(exptime, 8, 1) + _i(naxis1, 7) + _i(naxis2, 7) + _i(p1col, 7)
        + _i(p1row, 7) + "  " + _a(filter, 6) + "  " + _a(polar, 6) + "  " + _a(lp_num, 8)
        + _f(fp_wl, 11, 4) + _i(os_num, 6)
    )


def parse_img_hdr_line(line: str) -> ImgHdrLine:
    """Parse one fixed-width line; raises :class:`ValueError` with the reason if malformed."""
    line = line.rstrip("\r\n")
    if len(line.rstrip()) < 63:
        raise ValueError(f"line too short for the img_hdr.txt format ({len(line)} characters)")
    line = line.ljust(LINE_LENGTH)
    raw = {name: line[a:b].strip() for name, a, b in _FIELDS}
    if not raw["filename"].lower().endswith((".fts", ".fits")):
        raise ValueError(f"no FITS file name in the first column ({raw['filename']!r})")
    date = raw["date"].replace("/", "-")
    try:
        time = np.datetime64(f"{date}T{raw['time']}", "ms")
    except ValueError as err:
        raise ValueError(f"bad date/time {raw['date']!r} {raw['time']!r}") from err

    def num(name, kind, default):
        text = raw[name]
        if not text:
            return default
        try:
            return kind(text)
        except ValueError as err:
            raise ValueError(f"bad {name} {text!r}") from err

    return ImgHdrLine(
        filename=raw["filename"],
        time=time,
        detector=raw["detector"].upper(),
        exptime=num("exptime", float, float("nan")),
        naxis1=num("naxis1", int, -1),
        naxis2=num("naxis2", int, -1),
        p1col=num("p1col", int, -1),
        p1row=num("p1row", int, -1),
        filter=raw["filter"],
        polar=raw["polar"],
        lp_num=raw["lp_num"],
        fp_wl=num("fp_wl", float, float("nan")),
        os_num=num("os_num", int, -1),
    )


def parse_img_hdr(text: str) -> tuple[list[ImgHdrLine], list[tuple[int, str]]]:
    """Parse a whole ``img_hdr.txt``: the good lines, and ``(line number, reason)`` for bad ones.

    Blank lines are skipped; a malformed line never stops the parse.
    """
    good, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            good.append(parse_img_hdr_line(line))
        except ValueError as err:
            bad.append((number, str(err)))
    return good, bad
