"""LASCO level-0.5 FITS header quirks, in one documented place.

Level-0.5 headers are written by NRL's ``MAKE_FITS_HDR`` (IDL, SolarSoft
``lasco/idl/reduce/make_fits_hdr.pro``). Their quirks, all seen in real files:

- ``DATE-OBS`` holds the date only, as ``YYYY/MM/DD``, and ``TIME-OBS`` the time as
  ``HH:MM:SS.sss``; level-1 files (``reduce_level_1.pro``) instead hold an ISO ``DATE-OBS`` with
  the time and an empty ``TIME-OBS``.
- ``MID_DATE`` is the Modified Julian Day and ``MID_TIME`` the seconds of that day of the middle of
  the exposure; the exposure-factor tables are matched on them.
- ``BITPIX = 16`` without ``BZERO``: pixels are 14-bit CCD counts stored as signed 16-bit integers.
- ``HISTORY`` cards may contain TAB characters (``offset_bias.pro<TAB>1.24 ...``), which the FITS
  standard forbids and which astropy refuses to *write* but reads; the reader must not stop there.
- ``P1COL/P1ROW/P2COL/P2ROW`` and ``R1COL/R1ROW/R2COL/R2ROW`` give the readout window on the CCD in
  1-based CCD pixels including the 20 leading overscan columns (a full frame is 20..1043, 1..1024);
  ``SUMCOL/SUMROW`` are on-chip summing (0 or 1 means none) and ``LEBXSUM/LEBYSUM`` the summing in
  the LASCO electronics box.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = [
    "REQUIRED_KEYWORDS",
    "FRAME_COORDS",
    "HeaderError",
    "read_header_bytes",
    "parse_header",
    "observation_time",
    "check_header",
    "expected_file_size",
    "frame_coordinates",
]

FITS_BLOCK = 2880
CARD = 80

#: Keywords without which a level-0.5 frame cannot be calibrated.
REQUIRED_KEYWORDS = (
    "NAXIS1", "NAXIS2", "BITPIX", "DATE-OBS", "DETECTOR", "FILTER", "POLAR", "EXPTIME",
    "R1COL", "R1ROW", "R2COL", "R2ROW", "LEBXSUM", "LEBYSUM", "SUMCOL", "SUMROW",
)

#: Header keywords carried as per-frame coordinates of a cube: (keyword, coordinate name, dtype,
#: fill value used when a header lacks the keyword).
FRAME_COORDS: tuple[tuple[str, str, str, Any], ...] = (
    ("FILENAME", "filename", "U16", ""),
    ("FILEORIG", "fileorig", "U24", ""),
    ("DETECTOR", "detector", "U4", ""),
    ("FILTER", "filter", "U12", ""),
    ("POLAR", "polarizer", "U12", ""),
    ("LP_NUM", "lp_num", "U12", ""),
    ("EXPTIME", "exptime", "float64", np.nan),
    ("EXPCMD", "expcmd", "float64", np.nan),
    ("OFFSET", "offset", "float64", np.nan),
    ("MID_DATE", "mid_date", "int32", -1),
    ("MID_TIME", "mid_time", "float64", np.nan),
    ("READPORT", "readport", "U2", ""),
    ("R1COL", "r1col", "int16", -1),
    ("R1ROW", "r1row", "int16", -1),
    ("R2COL", "r2col", "int16", -1),
    ("R2ROW", "r2row", "int16", -1),
    ("SUMCOL", "sumcol", "int16", -1),
    ("SUMROW", "sumrow", "int16", -1),
    ("LEBXSUM", "lebxsum", "int16", -1),
    ("LEBYSUM", "lebysum", "int16", -1),
    ("CRPIX1", "crpix1", "float64", np.nan),
    ("CRPIX2", "crpix2", "float64", np.nan),
    ("CROTA1", "crota1", "float64", np.nan),
    ("CDELT1", "cdelt1", "float64", np.nan),
    ("OS_NUM", "os_num", "int32", -1),
)


class HeaderError(ValueError):
    """A FITS file whose header cannot be used; the message says why."""


def read_header_bytes(fileobj, max_blocks: int = 64) -> bytes:
    """Read the primary header of an open FITS file, block by block, up to its END card.

    Only the header is read (a few 2880-byte blocks), never the pixel data, so that an archive
    can be indexed over the network cheaply.

    Raises
    ------
    HeaderError
        If the file does not start like a FITS file, or no END card is found.
    """
    data = bytearray()
    for _ in range(max_blocks):
        block = fileobj.read(FITS_BLOCK)
        if not block:
            break
        if not data and not block.startswith(b"SIMPLE  ="):
            raise HeaderError("not a FITS file (no SIMPLE card at the start)")
        data += block
        if len(block) < FITS_BLOCK:
            break
        if _find_end(block) >= 0:
            return bytes(data)
    if _find_end(bytes(data)) < 0:
        raise HeaderError("truncated FITS header (no END card)")
    return bytes(data)


def _find_end(buf: bytes) -> int:
    for start in range(0, len(buf) - CARD + 1, CARD):
        if buf[start:start + CARD].rstrip() == b"END":
            return start
    return -1


def parse_header(raw: bytes) -> fits.Header:
    """Parse header bytes into an :class:`astropy.io.fits.Header`, tolerating LASCO quirks.

    TABs and other non-printable characters in commentary cards are kept as they are; astropy
    reads them, and the card text is never used for numbers.
    """
    end = _find_end(raw)
    if end < 0:
        raise HeaderError("truncated FITS header (no END card)")
    text = raw[: end + CARD].decode("latin-1")
    try:
        return fits.Header.fromstring(text)
    except Exception as err:  # astropy raises several types on malformed cards
        raise HeaderError(f"unreadable FITS header: {err}") from err


def header_size(raw: bytes) -> int:
    """Bytes the primary header occupies on disk (a multiple of 2880)."""
    end = _find_end(raw)
    n = end + CARD
    return -(-n // FITS_BLOCK) * FITS_BLOCK


def expected_file_size(header: fits.Header, raw: bytes) -> int:
    """Smallest size in bytes a FITS file with this header and its full data array can have."""
    nbytes = abs(int(header["BITPIX"])) // 8
    ndata = nbytes
    for axis in range(1, int(header["NAXIS"]) + 1):
        ndata *= int(header[f"NAXIS{axis}"])
    return header_size(raw) + ndata


def observation_time(header: fits.Header) -> np.datetime64:
    """Start of the exposure as ``datetime64[ms]`` (UTC), from ``DATE-OBS`` and ``TIME-OBS``.

    Level 0.5: ``DATE-OBS = 'YYYY/MM/DD'`` and ``TIME-OBS = 'HH:MM:SS.sss'``; level 1:
    ``DATE-OBS = 'YYYY-MM-DDTHH:MM:SS.sss'``. Source: NRL ``make_fits_hdr.pro`` and
    ``reduce_level_1.pro``.
    """
    date = str(header.get("DATE-OBS", "")).strip().replace("/", "-")
    if not date:
        raise HeaderError("no DATE-OBS")
    if "T" not in date:
        time = str(header.get("TIME-OBS", "")).strip()
        if not time:
            raise HeaderError("DATE-OBS holds no time and TIME-OBS is empty")
        date = f"{date}T{time}"
    try:
        return np.datetime64(date, "ms")
    except ValueError as err:
        raise HeaderError(f"unparsable DATE-OBS/TIME-OBS {date!r}") from err


def check_header(header: fits.Header) -> None:
    """Raise :class:`HeaderError` if a level-0.5 header misses what calibration needs."""
    missing = [k for k in REQUIRED_KEYWORDS if k not in header]
    if missing:
        raise HeaderError(f"header incomplete: missing {', '.join(missing)}")
    if int(header.get("NAXIS", 0)) != 2:
        raise HeaderError(f"NAXIS = {header.get('NAXIS')} (a LASCO frame has 2 axes)")
    if int(header["BITPIX"]) not in (16, -32, -64, 32):
        raise HeaderError(f"unsupported BITPIX {header['BITPIX']}")
    observation_time(header)


@dataclasses.dataclass(frozen=True)
class FrameGeometry:
    """Readout geometry of one frame, from its header (see the module docstring)."""

    naxis1: int
    naxis2: int
    r1col: int
    r1row: int
    r2col: int
    r2row: int
    sumcol: int
    sumrow: int
    lebxsum: int
    lebysum: int

    @property
    def binning(self) -> tuple[int, int]:
        """Total summing (x, y): on-chip times LEB; SUMCOL = 0 means 1."""
        return (max(self.sumcol, 1) * max(self.lebxsum, 1),
                max(self.sumrow, 1) * max(self.lebysum, 1))


def frame_coordinates(header: fits.Header) -> dict[str, Any]:
    """The per-frame values of :data:`FRAME_COORDS` for one header (fill value when absent)."""
    out = {}
    for key, name, dtype, fill in FRAME_COORDS:
        value = header.get(key, fill)
        if isinstance(value, str):
            value = value.strip()
        if dtype.startswith("U"):
            out[name] = str(value)
        else:
            try:
                out[name] = np.dtype(dtype).type(value)
            except (TypeError, ValueError):
                out[name] = np.dtype(dtype).type(fill)
    return out
