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
  The ``offset_bias.pro`` line records the bias NRL computed for the frame (version, date,
  value: :func:`lascoproc.kernels.lasco_factors.parse_offset_bias_history`); it is carried as
  the coordinates ``bias_history`` and ``bias_history_version``.
- IDL writes a non-finite float unquoted (``DATAP50 =                  NaN``), which is not FITS
  and which astropy cannot parse (it raises when the value is read). :func:`parse_header` leaves
  such cards out, keeps the rest of the header, and lists them in ``header.unparsable``;
  :func:`header_problems` reports them (``unparsable_card``) with the other problems a header
  alone can show.
- ``P1COL/P1ROW/P2COL/P2ROW`` and ``R1COL/R1ROW/R2COL/R2ROW`` give the readout window on the CCD in
  1-based CCD pixels including the 20 leading overscan columns (a full frame is 20..1043, 1..1024);
  ``SUMCOL/SUMROW`` are on-chip summing (0 or 1 means none) and ``LEBXSUM/LEBYSUM`` the summing in
  the LASCO electronics box.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError, VerifyWarning

from lascoproc.kernels import lasco_checks
from lascoproc.kernels.lasco_factors import parse_offset_bias_history

__all__ = [
    "REQUIRED_KEYWORDS",
    "FRAME_COORDS",
    "FRAME_COORD_ATTRS",
    "HeaderError",
    "LascoHeader",
    "read_header_bytes",
    "parse_header",
    "header_problems",
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
    ("COMPRSSN", "comprssn", "U8", ""),
    # from the HISTORY card of offset_bias.pro (NRL's bias of this frame; NaN/"" when absent)
    ("HISTORY", "bias_history", "float64", np.nan),
    ("HISTORY", "bias_history_version", "U8", ""),
)


#: ``(long_name, units)`` of the :data:`FRAME_COORDS` coordinates (LASCO level-0.5 FITS
#: keywords, as NRL's ``make_fits_hdr.pro`` writes them; ``None``: no unit).
FRAME_COORD_ATTRS: dict[str, tuple[str, str | None]] = {
    "filename": ("FILENAME: the level-0.5 file", None),
    "fileorig": ("FILEORIG: the telemetry file it came from", None),
    "detector": ("DETECTOR", None),
    "filter": ("FILTER: filter wheel position", None),
    "polarizer": ("POLAR: polarizer wheel position", None),
    "lp_num": ("LP_NUM: LASCO program that took the frame", None),
    "exptime": ("EXPTIME: exposure time of the level-0.5 header", "s"),
    "expcmd": ("EXPCMD: commanded exposure time", "s"),
    "offset": ("OFFSET: camera electronics offset", "count"),
    "mid_date": ("MID_DATE: MJD of the middle of the exposure (uncorrected)", "d"),
    "mid_time": ("MID_TIME: time of day of the middle of the exposure (uncorrected)", "s"),
    "readport": ("READPORT: CCD read-out port", None),
    "r1col": ("R1COL: first CCD column read (1-based, 20 for a full frame)", "pixel"),
    "r1row": ("R1ROW: first CCD row read (1-based)", "pixel"),
    "r2col": ("R2COL: last CCD column read (1-based)", "pixel"),
    "r2row": ("R2ROW: last CCD row read (1-based)", "pixel"),
    "sumcol": ("SUMCOL: on-chip summing along columns (0: none)", None),
    "sumrow": ("SUMROW: on-chip summing along rows (0: none)", None),
    "lebxsum": ("LEBXSUM: summing along x in the electronics box", None),
    "lebysum": ("LEBYSUM: summing along y in the electronics box", None),
    "crpix1": ("CRPIX1 of the level-0.5 header: Sun centre, x (1-based)", "pixel"),
    "crpix2": ("CRPIX2 of the level-0.5 header: Sun centre, y (1-based)", "pixel"),
    "crota1": ("CROTA1 of the level-0.5 header: roll", "deg"),
    "cdelt1": ("CDELT1 of the level-0.5 header: plate scale", "arcsec / pixel"),
    "os_num": ("OS_NUM: observing sequence number", None),
    "comprssn": ("COMPRSSN: on-board compression (NRL copies it to level 1)", None),
    "bias_history": ("bias NRL's offset_bias.pro recorded in the HISTORY (one pixel)",
                     "count"),
    "bias_history_version": ("offset_bias.pro version of that HISTORY line", None),
}


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


class LascoHeader(fits.Header):
    """An :class:`astropy.io.fits.Header` of a LASCO file, with the cards it could not parse.

    Attributes
    ----------
    unparsable : tuple of (keyword, card, reason)
        Cards left out of the header because their value cannot be parsed (the 80-character
        card text as found).
    nonfinite : dict
        Keywords among them whose value is an unquoted ``NaN``/``Inf`` as IDL writes it, with
        that value as a float (so that e.g. a ``NaN`` exposure time is reported as such).
    """

    unparsable: tuple[tuple[str, str, str], ...] = ()
    nonfinite: dict[str, float] = {}


# The value field of a FITS value card (columns 11-80) that astropy can parse: a terminated
# string, a logical, an integer or a real (E or D exponent), a complex pair, or nothing; then an
# optional comment. Anything else is checked by astropy itself (slow, rare).
_VALUE_FIELD = re.compile(
    r"""\s*(?:'(?:[^']|'')*'|[TF]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?|\(.*\))?"""
    r"""\s*(?:/.*)?$""", re.DOTALL)
_NONFINITE = re.compile(r"\s*([-+]?(?:nan|inf|infinity))\s*(?:/.*)?$", re.IGNORECASE)


def _check_card(image: str) -> tuple[str, float | None] | None:
    """``None`` if astropy can parse the card, else ``(reason, non-finite value or None)``."""
    if image[8:10] != "= " or image[:8].strip() in ("", "COMMENT", "HISTORY"):
        return None
    field = image[10:]
    if _VALUE_FIELD.match(field):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        try:
            card = fits.Card.fromstring(image)
            card.value  # noqa: B018 - parsing happens on access
            return None
        except (VerifyError, ValueError) as err:
            reason = str(err).split(",")[0]
    nonfinite = _NONFINITE.match(field)
    if nonfinite:
        return (f"unquoted {nonfinite.group(1)} (IDL's non-finite float; not FITS)",
                float(nonfinite.group(1).lower().replace("infinity", "inf")))
    return reason or "unparsable value", None


def parse_header(raw: bytes) -> LascoHeader:
    """Parse header bytes into a :class:`LascoHeader`, tolerating LASCO quirks.

    TABs and other non-printable characters in commentary cards are kept as they are; astropy
    reads them, and the card text is never used for numbers. A card whose value cannot be
    parsed (an unquoted ``NaN`` as IDL writes it, an unterminated string, ...) is left out and
    listed in ``unparsable`` (module docstring): one bad card never stops the header from being
    read.

    Raises
    ------
    HeaderError
        If there is no END card, or the header as a whole cannot be read.
    """
    end = _find_end(raw)
    if end < 0:
        raise HeaderError("truncated FITS header (no END card)")
    text = raw[: end + CARD].decode("latin-1")
    bad: list[tuple[str, str, str]] = []
    nonfinite: dict[str, float] = {}
    kept = []
    for start in range(0, end, CARD):
        image = text[start:start + CARD]
        problem = _check_card(image)
        if problem is None:
            kept.append(image)
            continue
        keyword = image[:8].strip()
        bad.append((keyword, image.rstrip(), problem[0]))
        if problem[1] is not None:
            nonfinite[keyword] = problem[1]
    try:
        header = LascoHeader.fromstring("".join(kept) + text[end:end + CARD])
    except Exception as err:  # astropy raises several types on malformed headers
        raise HeaderError(f"unreadable FITS header: {err}") from err
    header.unparsable = tuple(bad)
    header.nonfinite = nonfinite
    return header


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


def _history_bias(header: fits.Header) -> tuple[float, str]:
    try:
        history = [str(h) for h in header.get("HISTORY", [])]
    except (VerifyError, ValueError):
        history = []
    found = parse_offset_bias_history(history)
    return (found.value, found.version) if found is not None else (np.nan, "")


def frame_coordinates(header: fits.Header) -> dict[str, Any]:
    """The per-frame values of :data:`FRAME_COORDS` for one header (fill value when absent)."""
    out = {}
    bias, version = _history_bias(header)
    derived = {"bias_history": bias, "bias_history_version": version}
    for key, name, dtype, fill in FRAME_COORDS:
        if name in derived:
            value = derived[name]
        else:
            try:
                value = header.get(key, fill)
            except (VerifyError, ValueError):
                value = fill
        if isinstance(value, str):
            value = value.strip()
        if dtype.startswith("U"):
            out[name] = str(value)
        else:
            try:
                out[name] = np.dtype(dtype).type(value)
            except (TypeError, ValueError, OverflowError):
                out[name] = np.dtype(dtype).type(fill)
    return out


def _get(header: fits.Header, key: str, default=None):
    """``header.get`` that gives ``default`` for a card astropy cannot parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        try:
            return header.get(key, default)
        except (VerifyError, ValueError):
            return default


def _number(header: fits.Header, key: str):
    value = _get(header, key)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return value


def header_problems(header: fits.Header, *, now=None) -> list[tuple[str, str]]:
    """What a level-0.5 header alone shows to be wrong: ``[(code, message), ...]``.

    Codes are stable (:data:`lascoproc.kernels.lasco_checks.PROBLEM_CODES`):
    ``unparsable_card``, ``keyword_missing``, ``exptime_missing/zero/negative/nonfinite``,
    ``date_missing/unparsable/before_launch/in_future`` (``now`` defaults to the current UTC
    time), ``instrument_not_lasco``, ``detector_not_c2_c3``, ``naxis_not_2`` and
    ``size_mismatch_window``: ``NAXIS1 != (R2COL - R1COL + 1) / ((SUMCOL>1)(LEBXSUM>1))`` or the
    same for rows (``reduce_level_1.pro``'s summing, ``make_fits_hdr.pro``'s window). An empty
    list means none was found. Nothing here reads pixels or the file size.
    """
    problems: list[tuple[str, str]] = []
    unparsable = getattr(header, "unparsable", None)
    if unparsable is None:  # a plain astropy header: find the cards it cannot parse
        unparsable = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)
            for card in header.cards:
                try:
                    card.value  # noqa: B018
                except (VerifyError, ValueError) as err:
                    unparsable.append((card.keyword, str(card.image).rstrip(),
                                       str(err).split(",")[0]))
    bad_keys = {k for k, _, _ in unparsable}
    nonfinite = getattr(header, "nonfinite", {}) or {}
    for keyword, image, reason in unparsable:
        problems.append(("unparsable_card", f"{keyword}: {reason} in card {image!r}"))
    missing = [k for k in REQUIRED_KEYWORDS if k not in header and k not in bad_keys]
    missing = [k for k in missing if k not in ("EXPTIME", "DATE-OBS")]
    if missing:
        problems.append(("keyword_missing", f"missing {', '.join(missing)}"))
    problems += _exptime_problems(header, bad_keys, nonfinite)
    problems += _date_problems(header, bad_keys, now)
    instrument = _get(header, "INSTRUME")
    if instrument is not None and str(instrument).strip().upper() != "LASCO":
        problems.append(("instrument_not_lasco", f"INSTRUME = {str(instrument).strip()!r}"))
    detector = _get(header, "DETECTOR")
    if detector is not None and str(detector).strip().upper() not in ("C2", "C3"):
        problems.append(("detector_not_c2_c3", f"DETECTOR = {str(detector).strip()!r}"))
    naxis = _number(header, "NAXIS")
    if naxis is not None and int(naxis) != 2:
        problems.append(("naxis_not_2", f"NAXIS = {naxis} (a LASCO frame has 2 axes)"))
    problems += _size_problems(header)
    return problems


def _exptime_problems(header, bad_keys, nonfinite) -> list[tuple[str, str]]:
    if "EXPTIME" in nonfinite:
        return [("exptime_nonfinite", f"EXPTIME = {nonfinite['EXPTIME']} (unquoted in the "
                                      "header)")]
    if "EXPTIME" in bad_keys:
        return []  # reported as unparsable_card
    if "EXPTIME" not in header:
        return [("exptime_missing", "no EXPTIME in the header")]
    value = _number(header, "EXPTIME")
    if value is None:
        return [("exptime_nonfinite", f"EXPTIME = {_get(header, 'EXPTIME')!r} is not a number")]
    found = lasco_checks.exposure_time_problems([float(value)])[0]
    return [tuple(found.split(": ", 1))] if found else []


def _date_problems(header, bad_keys, now) -> list[tuple[str, str]]:
    if "DATE-OBS" in bad_keys or "TIME-OBS" in bad_keys:
        return [("date_unparsable", "DATE-OBS/TIME-OBS card cannot be parsed")]
    if not str(_get(header, "DATE-OBS", "")).strip():
        return [("date_missing", "no DATE-OBS")]
    try:
        time = observation_time(header)
    except HeaderError as err:
        return [("date_unparsable", str(err))]
    found = lasco_checks.date_problems([time], now=now)[0]
    return [tuple(found.split(": ", 1))] if found else []


def _size_problems(header) -> list[tuple[str, str]]:
    keys = ("NAXIS1", "NAXIS2", "R1COL", "R2COL", "R1ROW", "R2ROW")
    values = {k: _number(header, k) for k in keys}
    if any(v is None for v in values.values()):
        return []
    sums = {k: _number(header, k) for k in ("SUMCOL", "SUMROW", "LEBXSUM", "LEBYSUM")}
    xsum = max(int(sums["SUMCOL"] or 0), 1) * max(int(sums["LEBXSUM"] or 0), 1)
    ysum = max(int(sums["SUMROW"] or 0), 1) * max(int(sums["LEBYSUM"] or 0), 1)
    width = int(values["R2COL"]) - int(values["R1COL"]) + 1
    height = int(values["R2ROW"]) - int(values["R1ROW"]) + 1
    nx, ny = int(values["NAXIS1"]), int(values["NAXIS2"])
    if width != nx * xsum or height != ny * ysum:
        return [("size_mismatch_window",
                 f"NAXIS1 x NAXIS2 = {nx} x {ny}, but the read-out window R1COL..R2COL = "
                 f"{values['R1COL']}..{values['R2COL']}, R1ROW..R2ROW = {values['R1ROW']}.."
                 f"{values['R2ROW']} with summing {xsum} x {ysum} gives "
                 f"{width / xsum:g} x {height / ysum:g}")]
    return []
