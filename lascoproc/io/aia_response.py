"""AIA response tables (``aia_V*_response_table.txt``): the degradation-correction epochs.

The table is SolarSoft's ``$SSW/sdo/aia/response/aia_V10_20201119_190000_response_table.txt``
(the file aiapy pins for its ``"SSW"`` source; also the JSOC series ``aia.response``), shipped in
``lascoproc/data/``. It is whitespace-separated text, one header line then one row per channel
and calibration epoch::

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
    "RESPONSE_COLUMNS",
    "ResponseTable",
    "packaged_table_path",
    "read_response_table",
]

#: File name of the V10 response table (SolarSoft, 2020-11-19), as aiapy pins it.
V10_TABLE = "aia_V10_20201119_190000_response_table.txt"
#: Its SHA-256 (the hash aiapy 0.10 pins for ``correction_table_latest``).
V10_SHA256 = "0a3f2db39d05c44185f6fdeec928089fb55d1ce1e0a805145050c6356cbc6e98"

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
        """The table's ``VER_NUM`` (10 for V10)."""
        versions = np.unique(self.rows["VER_NUM"].to_numpy())
        return int(versions.max())

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


def packaged_table_path() -> Path:
    """Path of the V10 table shipped in ``lascoproc/data``."""
    return Path(__file__).resolve().parents[1] / "data" / V10_TABLE


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
        Path or fsspec URL of the table; ``None`` for the packaged V10 table, whose hash is then
        always checked against :data:`V10_SHA256`.
    sha256
        Expected SHA-256 of ``source``; ``None`` accepts any file (its hash is still recorded
        in :attr:`ResponseTable.sha256` for provenance).

    Raises
    ------
    ValueError
        When the hash differs, or the file lacks a required column or holds an unreadable row.
    """
    if source is None:
        source, sha256 = packaged_table_path(), V10_SHA256
    name, data = _read_bytes(source, storage_options)
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        raise ValueError(f"{source}: SHA-256 {digest} differs from the expected {sha256}; "
                         "the response table is not the pinned one")
    return ResponseTable(name=name, sha256=digest, rows=_parse(data, str(source)))


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
