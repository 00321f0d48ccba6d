"""AIA response tables (``aia_V*_response_table.txt``): the degradation-correction epochs.

Two tables are shipped in ``lascoproc/data/`` (:data:`PACKAGED_TABLES`), both SolarSoft's
``$SSW/sdo/aia/response/aia_V*_response_table.txt``:

- ``aia_V10_20201119_190000_response_table.txt`` (version 10, the file aiapy pins for its
  ``"SSW"`` source; also the JSOC series ``aia.response``), the default;
- ``aia_V8_20171210_050627_response_table.txt`` (version 8; copied from aiapy 0.12.1's test
  data, BSD-3), against which SolarSoft's own daily factors are checked
  (``tests/unit/test_aia_reference.py``).

A table is whitespace-separated text, one header line then one row per channel and
calibration epoch::

    DATE  T_START  T_STOP  VER_NUM  WAVE_STR  WAVELNTH  EPERDN  DNPERPHT  EFF_AREA  EFF_WVLN
    EFFA_P1  EFFA_P2  EFFA_P3  RMSE

``DATE`` is when the row was computed, ``[T_START, T_STOP)`` the epoch (UTC), ``WAVE_STR`` the
channel (``"94_THIN"``... for EUV, ``"1600"`` for UV), ``EFF_AREA`` the effective area [cm2] at
the epoch start and ``EFFA_P1..3`` the cubic in days since ``T_START`` within the epoch
[day^-1, day^-2, day^-3]. :mod:`lascoproc.kernels.aia_degradation` turns them into factors.

Every table is identified by its SHA-256; the packaged V10 table is verified when read
(STYLE rule 9).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lascoproc.io.fs import get_fs

__all__ = [
    "V10_TABLE",
    "V10_SHA256",
    "V8_TABLE",
    "V8_SHA256",
    "PACKAGED_TABLES",
    "RESPONSE_COLUMNS",
    "ResponseTable",
    "packaged_table_path",
    "read_response_table",
]

#: File name of the V10 response table (SolarSoft, 2020-11-19), as aiapy pins it.
V10_TABLE = "aia_V10_20201119_190000_response_table.txt"
#: Its SHA-256 (the hash aiapy 0.10 pins for ``correction_table_latest``).
V10_SHA256 = "0a3f2db39d05c44185f6fdeec928089fb55d1ce1e0a805145050c6356cbc6e98"

#: File name and SHA-256 of the V8 table (SolarSoft, 2017-12-10).
V8_TABLE = "aia_V8_20171210_050627_response_table.txt"
V8_SHA256 = "0e8bc6af5a69f80ca9d4fc2a27854681b76574d59eb81d7201b7f618081f0fdd"

#: The tables in ``lascoproc/data/`` by version: ``{version: (file name, SHA-256)}``.
PACKAGED_TABLES = {10: (V10_TABLE, V10_SHA256), 8: (V8_TABLE, V8_SHA256)}

#: Columns a response table must have; ``T_*`` and ``DATE`` are read as UTC times.
RESPONSE_COLUMNS = ("DATE", "T_START", "T_STOP", "VER_NUM", "WAVE_STR", "WAVELNTH", "EFF_AREA",
                    "EFFA_P1", "EFFA_P2", "EFFA_P3")

_TIME_COLUMNS = ("DATE", "T_START", "T_STOP")
_FLOAT_COLUMNS = ("EFF_AREA", "EFFA_P1", "EFFA_P2", "EFFA_P3")


@dataclasses.dataclass(frozen=True, eq=False)
class ResponseTable:
    """A parsed response table and its identity.

    Attributes
    ----------
    name
        File name (``aia_V10_20201119_190000_response_table.txt``).
    sha256
        SHA-256 of the file's bytes.
    rows
        One row per channel and epoch, in file order: the :data:`RESPONSE_COLUMNS` (times as
        ``datetime64[ns]`` UTC, ``WAVE_STR`` as text) and any other column of the file.
    """

    name: str
    sha256: str
    rows: pd.DataFrame

    @property
    def version(self) -> int:
        """The table's newest ``VER_NUM`` (10 for V10)."""
        return int(max(self.versions))

    @property
    def versions(self) -> tuple[int, ...]:
        """Every calibration version (``VER_NUM``) the table holds, ascending."""
        return tuple(int(v) for v in np.unique(self.rows["VER_NUM"].to_numpy()))

    def for_version(self, version: int | None = None) -> ResponseTable:
        """The rows of one calibration version (default: the newest), as aiapy selects them.

        aiapy (``_select_epoch_from_correction_table``, ``calibration_version``) keeps only the
        rows whose ``VER_NUM`` is the version asked for; a table of several versions would
        otherwise mix the epochs of different calibrations.

        Raises
        ------
        ValueError
            When the table holds no row of ``version``.
        """
        version = self.version if version is None else int(version)
        rows = self.rows[self.rows["VER_NUM"].to_numpy() == version]
        if rows.empty:
            raise ValueError(f"{self.name}: no rows of calibration version {version} (the "
                             f"table holds versions {list(self.versions)})")
        if len(rows) == len(self.rows):
            return self
        return ResponseTable(name=self.name, sha256=self.sha256,
                             rows=rows.reset_index(drop=True))

    def channel_rows(self, wave_str: str) -> pd.DataFrame:
        """The rows of one ``WAVE_STR`` (``"94_THIN"``, ``"1600"``) in file order."""
        rows = self.rows[self.rows["WAVE_STR"] == wave_str]
        if rows.empty:
            known = sorted(set(self.rows["WAVE_STR"]))
            raise ValueError(f"{self.name}: no rows for {wave_str!r} (the table has {known})")
        return rows

    def provenance(self) -> dict[str, str]:
        """``{"response_table": name, "response_table_sha256": sha256}`` for output attrs."""
        return {"response_table": self.name, "response_table_sha256": self.sha256}


def packaged_table_path(version: int = 10) -> Path:
    """Path of a table shipped in ``lascoproc/data`` (:data:`PACKAGED_TABLES`; V10 default)."""
    try:
        name = PACKAGED_TABLES[int(version)][0]
    except KeyError:
        raise ValueError(f"no packaged response table of version {version} (packaged: "
                         f"{sorted(PACKAGED_TABLES)})") from None
    return Path(__file__).resolve().parents[1] / "data" / name


def _read_bytes(source, storage_options) -> tuple[str, bytes]:
    fs, path = get_fs(str(source), storage_options)
    with fs.open(path, "rb") as handle:
        data = handle.read()
    return path.rsplit("/", 1)[-1], data


def read_response_table(
    source=None,
    *,
    sha256: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ResponseTable:
    """Read an AIA response table and check its SHA-256.

    Parameters
    ----------
    source
        Path or fsspec URL of the table; ``None`` for the packaged V10 table, or a version
        number (``10``, ``8``) or name (``"V10"``, ``"V8"``) of a packaged table, whose hash
        is then always checked against :data:`PACKAGED_TABLES`.
    sha256
        Expected SHA-256 of ``source``; ``None`` accepts any file (its hash is still recorded
        in :attr:`ResponseTable.sha256` for provenance).

    Raises
    ------
    ValueError
        When the hash differs, or the file lacks a required column or holds an unreadable row.
    """
    if source is None:
        source = 10
    packaged = _packaged_version(source)
    if packaged is not None:
        source, sha256 = packaged_table_path(packaged), PACKAGED_TABLES[packaged][1]
    name, data = _read_bytes(source, storage_options)
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        raise ValueError(f"{source}: SHA-256 {digest} differs from the expected {sha256}; "
                         "the response table is not the pinned one")
    return ResponseTable(name=name, sha256=digest, rows=_parse(data, str(source)))


def _packaged_version(source) -> int | None:
    if isinstance(source, bool):
        return None
    if isinstance(source, int | np.integer):
        return int(source)
    text = str(source).strip()
    if text.upper().startswith("V") and text[1:].isdigit():
        return int(text[1:])
    return None


def _parse(data: bytes, where: str) -> pd.DataFrame:
    try:
        rows = pd.read_csv(io.BytesIO(data), sep=r"\s+", dtype={"WAVE_STR": str})
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{where}: not an AIA response table ({err})") from err
    missing = [c for c in RESPONSE_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"{where}: not an AIA response table (no column {missing})")
    for column in _TIME_COLUMNS:
        times = pd.to_datetime(rows[column], format="ISO8601", errors="coerce")
        if times.isna().any():
            bad = rows[column][times.isna()].iloc[0]
            raise ValueError(f"{where}: unreadable time {bad!r} in column {column}")
        rows[column] = times.to_numpy("datetime64[ns]")
    for column in _FLOAT_COLUMNS:
        values = pd.to_numeric(rows[column], errors="coerce")
        if values.isna().any():
            raise ValueError(f"{where}: non-numeric value in column {column}")
        rows[column] = values.astype(np.float64)
    rows["WAVE_STR"] = rows["WAVE_STR"].astype(str)
    return rows.reset_index(drop=True)
