"""SolarSoft's SOHO orbit files: names, layout and a fast reader of their binary table.

SolarSoft keeps one file per day in ``$ANCIL_DATA/orbit/{definitive,predictive}[/YYYY]/``
(``$ANCIL_DATA = $SSW/soho/gen/data``), named ``SO_OR_DEF_YYYYMMDD_V##.FITS`` (definitive) and
``SO_OR_PRE_YYYYMMDD_V##.FITS`` (predictive); ``get_orbit.pro`` (version 8) reads the highest
version, definitive first, with ``FXBOPEN, UNIT, FILE, 1`` (the first extension). The SOHO
ancillary server publishes the same tree at ``https://soho.nascom.nasa.gov/data/ancillary/
orbit/`` (``get_soho_orbit.pro``, 21-Feb-2009: ``synop + '/data/ancillary/orbit/predictive'``
with yearly subdirectories, versions ``V03``, ``V02``, ``V01`` tried).

The extension is a binary table of 144 rows (every 10 minutes) and 36 columns, 260 bytes a row.
Its layout, as written by IDL (a real file's header is quoted in public code):
:data:`ORBIT_COLUMNS`. In a calibration store the tree is kept below ``ancil_data/``
(``ancil_data/orbit/definitive/2002/SO_OR_DEF_20020521_V02.FITS``).

:func:`read_orbit_table` parses the table with numpy directly (no astropy): a mission's plan
reads one file per day.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

__all__ = [
    "ORBIT_COLUMNS",
    "ORBIT_KINDS",
    "ANCILLARY_BASE",
    "orbit_file_name",
    "orbit_directory",
    "parse_orbit_name",
    "read_orbit_table",
]

#: ``(TTYPE, TFORM)`` of the 36 columns, in file order (IDL ``FXBWRITE``; ``1I`` int16,
#: ``1J`` int32, ``1D`` float64, big-endian). Positions in km, velocities in km/s, the
#: heliographic angles in radians (see :mod:`lascoproc.kernels.soho_orbit`).
ORBIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("YEAR", "1I"), ("DAY OF YEAR", "1I"), ("ELLAPSED MILLISECONDS OF DAY", "1J"),
    ("GCI X (KM)", "1D"), ("GCI Y (KM)", "1D"), ("GCI Z (KM)", "1D"),
    ("GCI VX (KM/S)", "1D"), ("GCI VY (KM/S)", "1D"), ("GCI VZ (KM/S)", "1D"),
    ("GSE X (KM)", "1D"), ("GSE Y (KM)", "1D"), ("GSE Z (KM)", "1D"),
    ("GSE VX (KM/S)", "1D"), ("GSE VY (KM/S)", "1D"), ("GSE VZ (KM/S)", "1D"),
    ("GSM X (KM)", "1D"), ("GSM Y (KM)", "1D"), ("GSM Z (KM)", "1D"),
    ("GSM VX (KM/S)", "1D"), ("GSM VY (KM/S)", "1D"), ("GSM VZ (KM/S)", "1D"),
    ("SUN VECTOR X (KM)", "1D"), ("SUN VECTOR Y (KM)", "1D"), ("SUN VECTOR Z (KM)", "1D"),
    ("HEC X (KM)", "1D"), ("HEC Y (KM)", "1D"), ("HEC Z (KM)", "1D"),
    ("HEC VX (KM/S)", "1D"), ("HEC VY (KM/S)", "1D"), ("HEC VZ (KM/S)", "1D"),
    ("CARRINGTON ROTATION EARTH", "1I"), ("HELIOGRAPHIC LONG. EARTH", "1D"),
    ("HELIOGRAPHIC LAT. EARTH", "1D"), ("CARRINGTON ROTATION SOHO", "1I"),
    ("HELIOGRAPHIC LONG. SOHO", "1D"), ("HELIOGRAPHIC LAT. SOHO", "1D"),
)

#: Kinds in ``get_orbit``'s order of preference: ``(directory, file prefix)``.
ORBIT_KINDS = (("definitive", "SO_OR_DEF"), ("predictive", "SO_OR_PRE"))

#: The SOHO ancillary data server (``$ANCIL_DATA`` of SolarSoft is a copy of it).
ANCILLARY_BASE = "https://soho.nascom.nasa.gov/data/ancillary/"

_TFORM = {"I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "B": "u1"}
_NAME = re.compile(r"^SO_OR_(DEF|PRE)_(\d{8})_V(\d+)\.FITS$", re.IGNORECASE)


def orbit_directory(kind: str, day: dt.date) -> str:
    """``ancil_data/orbit/<definitive|predictive>/YYYY`` (below the store root)."""
    return f"ancil_data/orbit/{kind}/{day:%Y}"


def orbit_file_name(prefix: str, day: dt.date, version: int) -> str:
    """``SO_OR_DEF_20020521_V02.FITS``."""
    return f"{prefix}_{day:%Y%m%d}_V{version:02d}.FITS"


def parse_orbit_name(name: str) -> tuple[str, dt.date, int] | None:
    """``(kind, day, version)`` of an orbit file name, or ``None``."""
    match = _NAME.match(name.rsplit("/", 1)[-1])
    if not match:
        return None
    kind = "definitive" if match.group(1).upper() == "DEF" else "predictive"
    return kind, dt.datetime.strptime(match.group(2), "%Y%m%d").date(), int(match.group(3))


def _cards(raw: bytes, start: int) -> tuple[dict[str, str], int]:
    """The keyword values of the HDU header starting at ``start``, and where its data begin."""
    values: dict[str, str] = {}
    pos = start
    while pos < len(raw):
        block = raw[pos:pos + 2880].decode("latin-1")
        pos += 2880
        for k in range(0, len(block) - 79, 80):
            card = block[k:k + 80]
            if card.startswith("END     ") or card.rstrip() == "END":
                return values, pos
            if card[8:10] == "= ":
                text = card[10:].lstrip()
                if text.startswith("'"):
                    values[card[:8].rstrip()] = text[1:].split("'", 1)[0].strip()
                else:
                    values[card[:8].rstrip()] = text.split("/", 1)[0].strip()
    raise ValueError("no END card")


_LAYOUTS: dict[bytes, tuple[np.dtype, int]] = {}


def _header_end(raw: bytes, start: int) -> int:
    """Offset of the first byte after the header that starts at ``start`` (block aligned)."""
    pos = start
    while True:
        pos = raw.find(b"END", pos)
        if pos < 0:
            raise ValueError("no END card")
        if (pos - start) % 80 == 0 and raw[pos:pos + 80].rstrip() == b"END":
            return start + -(-(pos + 80 - start) // 2880) * 2880
        pos += 1


def _layout(ext_header: bytes) -> tuple[np.dtype, int]:
    """``(row dtype, rows)`` of a binary-table extension header (cached: the orbit files of
    one producer share their header)."""
    cached = _LAYOUTS.get(ext_header)
    if cached is not None:
        return cached
    ext, _ = _cards(ext_header, 0)
    if ext.get("XTENSION", "").strip() != "BINTABLE":
        raise ValueError("the first extension is not a binary table")
    row_bytes, rows = int(ext["NAXIS1"]), int(ext["NAXIS2"])
    fields = []
    for k in range(1, int(ext["TFIELDS"]) + 1):
        form = ext[f"TFORM{k}"].strip()
        match = re.fullmatch(r"(\d*)([A-Z])", form)
        if not match or match.group(2) not in _TFORM:
            raise ValueError(f"unsupported column format {form!r}")
        count = int(match.group(1) or 1)
        fields.append((ext.get(f"TTYPE{k}", f"COL{k}").strip(), _TFORM[match.group(2)], count))
    dtype = np.dtype([(name, code) if count == 1 else (name, code, (count,))
                      for name, code, count in fields])
    if dtype.itemsize != row_bytes:
        raise ValueError(f"columns take {dtype.itemsize} bytes, NAXIS1 says {row_bytes}")
    needed = ("YEAR", "ELLAPSED MILLISECONDS OF DAY", "HEC X (KM)", "HEC Y (KM)", "HEC Z (KM)",
              "HELIOGRAPHIC LONG. EARTH", "HELIOGRAPHIC LONG. SOHO", "HELIOGRAPHIC LAT. SOHO")
    missing = [n for n in needed if n not in dtype.names]
    if missing:
        raise ValueError(f"not a SOHO orbit file: no column {', '.join(missing)}")
    if len(_LAYOUTS) < 64:
        _LAYOUTS[ext_header] = (dtype, rows)
    return dtype, rows


def read_orbit_table(raw: bytes) -> dict[str, np.ndarray]:
    """The columns of a SOHO orbit file (first extension), ``{TTYPE: array}`` in native order.

    Raises
    ------
    ValueError
        If the bytes are not a FITS file with a binary-table extension holding the columns
        ``get_orbit.pro`` reads, or the table is shorter than its header says.
    """
    if not raw.startswith(b"SIMPLE  ="):
        raise ValueError("not a FITS file")
    primary_end = _header_end(raw, 0)
    primary, _ = _cards(raw[:primary_end], 0)
    size = 0
    if int(primary.get("NAXIS", "0")):
        size = abs(int(primary.get("BITPIX", "8"))) // 8
        for axis in range(1, int(primary["NAXIS"]) + 1):
            size *= int(primary[f"NAXIS{axis}"])
    ext_start = primary_end + -(-size // 2880) * 2880
    data_start = _header_end(raw, ext_start)
    dtype, rows = _layout(raw[ext_start:data_start])
    if len(raw) < data_start + rows * dtype.itemsize:
        raise ValueError("the binary table is truncated")
    table = np.frombuffer(raw, dtype=dtype, count=rows, offset=data_start)
    return {name: table[name].astype(table[name].dtype.newbyteorder("="))
            for name in dtype.names}
