"""The SolarSoft LASCO calibration files: manifest, store, and mirror (``lascoproc calib fetch``).

A calibration store is a directory or fsspec URL laid out as SolarSoft's ``$NRL_LIB``
(``$SSW/soho/lasco``): ``lasco/data/calib/c2vig_final.fts``, ``lasco/expfac/data/YYMM/...``,
``lasco/convert/...``. Both spellings of the subtree that SolarSoft uses, ``lasco/...`` and
``idl/...``, are accepted. SOHO's orbit files (SolarSoft ``$ANCIL_DATA/orbit``) are kept below
``ancil_data/``. :data:`CALIBRATION_FILES` lists every file the level-1 chain reads, with its
purpose, date range, format and the IDL routine that reads it; what each file holds and how it
is parsed is written out in ``docs/calibration_files.md``.

Integrity. A store carries a ``MANIFEST.json`` with the SHA-256 of each of its files (written
by :func:`fetch_calibration`, by :func:`write_manifest` and by ``lascoproc synth calib``). A
file that no longer matches is refused as corrupt, and so is a file the manifest does not list.
A store without a manifest is used only with ``allow_unverified=True`` (the command lines'
``--allow-unverified``) and says so (:attr:`CalibrationStore.integrity`). Manifests and mirrored
files are written to a temporary name and renamed. Every file read is hashed and recorded
(:meth:`CalibrationStore.provenance`); :meth:`CalibrationStore.digest` is one SHA-256 over the
files a run uses, for the run's fingerprint. A missing or unreadable file raises
:class:`CalibrationFileError`, whose message names the file and how to get it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from astropy.io import fits

from lascoproc.io import soho_orbit
from lascoproc.io.fs import absolute_location, get_fs, join
from lascoproc.kernels import lasco_factors, lasco_time

__all__ = [
    "CALIBRATION_FILES",
    "DOWNLOAD_BASES",
    "MANIFEST_NAME",
    "CalibrationFile",
    "CalibrationFileError",
    "CalibrationStore",
    "RollCenterTable",
    "fetch_calibration",
    "calibration_file_paths",
    "expfactor_path",
    "orbit_file_patterns",
    "validate_bytes",
    "write_manifest",
]

#: Public SolarSoft mirrors of ``$NRL_LIB`` (= ``$SSW/soho/lasco``) seen in third-party code
#: (CorKit, a NOAA port); not fetched from here, so unverified. Both ``lasco/...`` and
#: ``idl/...`` subtrees are served; see docs/calibration_files.md. SOHO's orbit files come from
#: :data:`lascoproc.io.soho_orbit.ANCILLARY_BASE`.
DOWNLOAD_BASES = (
    "https://soho.nascom.nasa.gov/solarsoft/soho/lasco/",
    "https://hesperia.gsfc.nasa.gov/ssw/soho/lasco/",
)

_CALIB = "lasco/data/calib"
_C3_INTERRUPTION = "1998-07-06"   # c3_calibrate.pro 1.54: MJD < 51000 -> pre-interruption vig
_RECOVERY = "1998-07-01"          # adjust_hdr_tcr.pro 1.12/1.13: date < '1998/07/01' -> pre


@dataclasses.dataclass(frozen=True)
class CalibrationFile:
    """One real SolarSoft calibration file (or family of files) read by the level-1 chain.

    Attributes
    ----------
    name : str
        Logical name, unique.
    path : str
        Path pattern relative to the store root (``$NRL_LIB`` = ``$SSW/soho/lasco``;
        ``ancil_data/`` for SolarSoft's ``$ANCIL_DATA``); ``{detector}`` (``c2``, ``c3``),
        ``{yymm}``, ``{yymmdd}``, ``{yyyy}``, ``{yyyymmdd}`` and ``{vv}`` (version) are fields of
        the per-day families.
    purpose : str
        What the chain uses it for.
    detector : str
        ``"C2"``, ``"C3"`` or ``"ANY"``.
    valid_from, valid_to : str or None
        ISO dates; the file applies to ``valid_from <= date < valid_to``; ``None`` is open.
    fmt : str
        ``"fits"``, ``"fits-table"``, ``"text"``, ``"binary"`` or ``"idl-save"``.
    read_by : str
        The IDL routine (and SCCS version seen) that opens it.
    """

    name: str
    path: str
    purpose: str
    detector: str
    valid_from: str | None
    valid_to: str | None
    fmt: str
    read_by: str


CALIBRATION_FILES: tuple[CalibrationFile, ...] = (
    CalibrationFile(
        "c2_vignetting", f"{_CALIB}/c2vig_final.fts",
        "C2 vignetting correction, already inverted (multiply); reader clips to [0, 100]",
        "C2", None, None, "fits", "c2_calibrate.pro 1.14 (07/14/16)"),
    CalibrationFile(
        "c3_vignetting_preint", f"{_CALIB}/c3vig_preint_final.fts",
        "C3 vignetting correction (multiply) before the 1998 SOHO interruption",
        "C3", None, _C3_INTERRUPTION, "fits", "c3_calibrate.pro 1.54 (07/14/16)"),
    CalibrationFile(
        "c3_vignetting_postint", f"{_CALIB}/c3vig_postint_final.fts",
        "C3 vignetting correction (multiply) after the 1998 SOHO interruption",
        "C3", _C3_INTERRUPTION, None, "fits", "c3_calibrate.pro 1.54 (07/14/16)"),
    CalibrationFile(
        "c3_mask", f"{_CALIB}/c3_cl_mask_lvl1.fts",
        "C3 occulter/pylon/field-stop mask (1 keep, 0 mask), applied after warping",
        "C3", None, None, "fits", "c3_calibrate.pro 1.54; reduce_level_1.pro 1.68"),
    CalibrationFile(
        "c3_ramp", f"{_CALIB}/C3ramp.fts",
        "C3 stray-light ramp in MSB, subtracted after vignetting and calfactor (Clear only)",
        "C3", None, None, "fits", "c3_calibrate.pro 1.54"),
    CalibrationFile(
        "c3_background", f"{_CALIB}/3m_clcl_all.fts",
        "C3 Clear/Clear background model (DN); 0.8*bkg/EXPTIME fills missing blocks (FUZZY)",
        "C3", None, None, "fits", "c3_calibrate.pro 1.54 (LASCO_READFITS)"),
    CalibrationFile(
        "c2_null_blocks", f"{_CALIB}/c2nullblocks.txt",
        "C2 32x32-pixel blocks that are nominally empty (not counted as missing)",
        "C2", None, None, "text", "reduce_level_1.pro 1.68"),
    CalibrationFile(
        "c2_expfactor", "lasco/expfac/data/{yymm}/{detector}_expfactor_{yymmdd}.dat",
        "Per-frame exposure-time correction factor and CCD bias, one file per day",
        "C2", None, None, "text", "get_exp_factor.pro 1.20 (07/26/11) via READ_EXP_FACTOR"),
    CalibrationFile(
        "c3_expfactor", "lasco/expfac/data/{yymm}/{detector}_expfactor_{yymmdd}.dat",
        "Per-frame exposure-time correction factor and CCD bias, one file per day",
        "C3", None, None, "text", "get_exp_factor.pro 1.20 (07/26/11) via READ_EXP_FACTOR"),
    CalibrationFile(
        "occulter_center", "lasco/convert/occulter_center.dat",
        "Occulter centre per camera (C1, C2, C3, EIT) and filter slot; used for C2 warping",
        "C2", None, None, "text", "occltr_cntr.pro 1.9 via read_occ_dat.pro 1.9"),
    CalibrationFile(
        "c3_occulter_center", "lasco/convert/c3_occltr_cntr.dat",
        "Time-varying C3 occulter centre; nearest date is used for C3 warping",
        "C3", None, None, "text", "occltr_cntr.pro 1.9"),
    CalibrationFile(
        "c2_roll_center_pre", f"{_CALIB}/c2_pre_recovery_adj_xyr_medv2.sav",
        "C2 sun centre and roll from stars vs TAI, before the 1998 recovery",
        "C2", None, _RECOVERY, "idl-save", "adjust_hdr_tcr.pro 1.12-1.13"),
    CalibrationFile(
        "c2_roll_center_post", f"{_CALIB}/c2_post_recovery_adj_xyr_medv2.sav",
        "C2 sun centre and roll from stars vs TAI, after the 1998 recovery",
        "C2", _RECOVERY, None, "idl-save", "adjust_hdr_tcr.pro 1.12-1.13"),
    CalibrationFile(
        "c3_roll_center_pre", f"{_CALIB}/c3_pre_recovery_adj_xyr_medv2.sav",
        "C3 sun centre and roll from stars vs TAI, before the 1998 recovery",
        "C3", None, _RECOVERY, "idl-save", "adjust_hdr_tcr.pro 1.12-1.13"),
    CalibrationFile(
        "c3_roll_center_post", f"{_CALIB}/c3_post_recovery_adj_xyr_medv2.sav",
        "C3 sun centre and roll from stars vs TAI, after the 1998 recovery",
        "C3", _RECOVERY, None, "idl-save", "adjust_hdr_tcr.pro 1.12-1.13"),
    CalibrationFile(
        "last_post_recovery_day", f"{_CALIB}/c2_c3_last_post_recovery_day.sav",
        "Last day covered by the roll/centre tables; later frames keep estimates",
        "ANY", None, None, "idl-save", "adjust_hdr_tcr.pro 1.12-1.13"),
    CalibrationFile(
        "c2_time_offsets", "lasco/data_anal/data/c2_time_offsets.dat",
        "Legacy DATE-OBS offset table (ADJUST_DATE_OBS); the current chain reads TIME_DIFF.DAT",
        "ANY", None, None, "text", "adjust_date_obs.pro 1.8 (legacy, not in reduce_level_1)"),
    CalibrationFile(
        "time_diff", f"{_CALIB}/TIME_DIFF.DAT",
        "LASCO OBE - SOHO LOBT time differences (binary CDS-time pairs); corrects DATE-OBS",
        "ANY", "1997-09-03", None, "binary",
        "time_correction2.pro v1.5 via adjust_all_date_obs (adjust_hdr_tcr.pro 1.13)"),
    CalibrationFile(
        "c2_time_offsets_1996", f"{_CALIB}/c2_012496t1544_082997t1827_timeoffsets.sav",
        "C2 star-fitted OBE - LOBT offsets used instead of TIME_DIFF.DAT before 1997-09-03",
        "ANY", None, "1997-09-03", "idl-save", "time_correction2.pro v1.5"),
    CalibrationFile(
        "c2_time_offsets_1997_10", f"{_CALIB}/c2_101997t1828_102797t2241_timeoffsets.sav",
        "C2 star-fitted OBE - LOBT offsets for 1997-10-19 to 1997-10-27 (TIME_DIFF.DAT gap)",
        "ANY", "1997-10-19", "1997-10-28", "idl-save", "time_correction2.pro v1.5"),
    CalibrationFile(
        "c2_time_offsets_1997_12", f"{_CALIB}/c2_120697t0027_123097t2023_timeoffsets.sav",
        "C2 star-fitted OBE - LOBT offsets for 1997-12-06 to 1997-12-30 (TIME_DIFF.DAT gap)",
        "ANY", "1997-12-06", "1997-12-31", "idl-save", "time_correction2.pro v1.5"),
    CalibrationFile(
        "soho_orbit_definitive",
        "ancil_data/orbit/definitive/{yyyy}/SO_OR_DEF_{yyyymmdd}_V{vv}.FITS",
        "SOHO definitive orbit, one file a day, every 10 min: HGLN/HGLT/DSUN_OBS",
        "ANY", None, None, "fits-table", "get_orbit.pro v8; wcs_find_position.pro v8"),
    CalibrationFile(
        "soho_orbit_predictive",
        "ancil_data/orbit/predictive/{yyyy}/SO_OR_PRE_{yyyymmdd}_V{vv}.FITS",
        "SOHO predictive orbit (used where no definitive file exists)",
        "ANY", None, None, "fits-table", "get_orbit.pro v8; wcs_find_position.pro v8"),
)

MANIFEST_NAME = "MANIFEST.json"
_SUBTREES = ("lasco", "idl")
_TMP_MARK = ".tmp-"


class CalibrationFileError(FileNotFoundError):
    """A calibration file is missing, corrupt or unreadable; the message says how to fix it."""


def expfactor_path(detector: str, day: dt.date) -> str:
    """``lasco/expfac/data/YYMM/<det>_expfactor_YYMMDD.dat`` below ``$NRL_LIB``."""
    yymmdd = day.strftime("%y%m%d")
    return f"lasco/expfac/data/{yymmdd[:4]}/{detector.lower()}_expfactor_{yymmdd}.dat"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _how_to_get(relpath: str) -> str:
    if relpath.startswith("ancil_data/"):
        return ("get it with 'lascoproc calib fetch DEST --start ... --end ...' (mirrors SOHO's "
                f"ancillary data, {relpath[len('ancil_data/'):]}) or write synthetic files with "
                "'lascoproc synth calib DIR'")
    return (f"get it with 'lascoproc calib fetch DEST' (mirrors SolarSoft's $NRL_LIB/{relpath}) "
            "or write synthetic files with 'lascoproc synth calib DIR'")


def _alternatives(relpath: str) -> list[str]:
    """``lasco/x`` and ``idl/x`` are the same file in SolarSoft's two spellings."""
    head, _, tail = relpath.partition("/")
    if head in _SUBTREES and tail:
        return [relpath] + [f"{other}/{tail}" for other in _SUBTREES if other != head]
    return [relpath]


def validate_bytes(relpath: str, data: bytes) -> None:
    """Check that ``data`` is a usable calibration file of its kind.

    FITS images open with astropy and hold an image; SOHO orbit files hold their binary table;
    ``TIME_DIFF.DAT`` decodes; IDL save files carry the save signature; tables are ASCII text.

    Raises
    ------
    CalibrationFileError
        With the reason, e.g. an HTML error page saved under a ``.fts`` name.
    """
    name = relpath.rsplit("/", 1)[-1].lower()
    if soho_orbit.parse_orbit_name(name) is not None:
        try:
            soho_orbit.read_orbit_table(data)
        except (ValueError, KeyError) as err:
            raise CalibrationFileError(f"{relpath}: not a SOHO orbit file ({err})") from err
    elif name.endswith((".fts", ".fits")):
        try:
            with fits.open(io.BytesIO(data), memmap=False) as hdul:
                hdul.verify("exception")
                if hdul[0].data is None:
                    raise ValueError("no image in the primary HDU")
        except Exception as err:  # noqa: BLE001 - astropy raises many types
            raise CalibrationFileError(f"{relpath}: not a valid FITS image ({err})") from err
    elif name == "time_diff.dat":
        try:
            lasco_time.parse_time_diff(data)
        except ValueError as err:
            raise CalibrationFileError(f"{relpath}: {err}") from err
    elif name.endswith(".sav"):
        if not data.startswith(b"SR\x00\x04"):
            raise CalibrationFileError(f"{relpath}: not an IDL save file")
    else:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as err:
            raise CalibrationFileError(f"{relpath}: not an ASCII table") from err
        if "<html" in text[:512].lower():
            raise CalibrationFileError(f"{relpath}: an HTML page, not a table")


def _atomic_write(fs, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name in the same directory and a rename:
    a reader sees the old file or the whole new one, never a part."""
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{path}{_TMP_MARK}{uuid.uuid4().hex}"
    try:
        with fs.open(tmp, "wb") as handle:
            handle.write(data)
        fs.mv(tmp, path)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)


def _cat(fs, path: str) -> bytes:
    """A file's bytes; local files without fsspec's per-call overhead (a mission's plan reads
    one table and one orbit file per day)."""
    if "local" in getattr(fs, "protocol", ()) or fs.protocol == "file":
        with open(path, "rb") as handle:
            return handle.read()
    return fs.cat_file(path)


def _manifest_bytes(entries: Mapping[str, str], source: str) -> bytes:
    files = [{"path": p, "sha256": h} for p, h in sorted(entries.items())]
    return json.dumps({"source": source, "files": files}, indent=1).encode("ascii")


def _parse_manifest(raw: bytes, where: str) -> dict[str, str]:
    """Manifest entries ``{path: sha256}``; a one-line error naming the file if unreadable."""
    try:
        entries = json.loads(raw.decode("utf-8"))["files"]
        out = {str(e["path"]): str(e["sha256"]) for e in entries}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CalibrationFileError(
            f"calibration manifest {where} is unreadable (truncated or corrupt: {detail}); "
            "fetch the files again with 'lascoproc calib fetch' (it rewrites the manifest) or, "
            "after checking the files, rewrite it with 'lascoproc calib manifest'") from None
    bad = [p for p, h in out.items() if len(h) != 64]
    if bad:
        raise CalibrationFileError(
            f"calibration manifest {where} is corrupt (entry {bad[0]!r} has no SHA-256); fetch "
            "the files again with 'lascoproc calib fetch' or rewrite it with "
            "'lascoproc calib manifest'")
    return out


def _list_files(fs, root: str) -> list[str]:
    """Every file below ``root`` (relative POSIX paths), without manifests and temporaries."""
    prefix = root.rstrip("/") + "/"
    out = []
    for path in fs.find(root):
        rel = path[len(prefix):] if path.startswith(prefix) else path
        if rel == MANIFEST_NAME or _TMP_MARK in rel.rsplit("/", 1)[-1]:
            continue
        out.append(rel)
    return sorted(out)


def write_manifest(root: str, *, storage_options: Mapping[str, Any] | None = None,
                   source: str = "") -> dict[str, str]:
    """Hash every file below ``root`` and write ``root/MANIFEST.json`` (atomically).

    For a tree whose files are known to be good (a SolarSoft checkout, a synthetic tree): from
    then on the store refuses any file that changes or that the manifest does not list.

    Returns
    -------
    dict
        ``{relative path: SHA-256}``.
    """
    fs, base = get_fs(str(root), storage_options)
    entries = {rel: _sha256(fs.cat_file(join(fs, base, rel))) for rel in _list_files(fs, base)}
    _atomic_write(fs, join(fs, base, MANIFEST_NAME), _manifest_bytes(entries, source or str(root)))
    return entries


#: IDL type codes of the arrays :func:`idl_save_arrays` decodes (big-endian XDR).
_IDL_ARRAY_TYPES = {3: ">i4", 4: ">f4", 5: ">f8", 14: ">i8", 15: ">u8"}


def idl_save_arrays(data: bytes, names: Iterable[str]) -> dict[str, np.ndarray] | None:
    """The 1-D numeric arrays ``names`` of an IDL SAVE file, or ``None`` when the file holds
    something this reader does not decode (then :func:`scipy.io.readsav` reads it).

    The other variables are skipped record by record (each record header gives the offset of
    the next), so a roll/centre table of hundreds of thousands of rows with string and structure
    columns is read in milliseconds rather than seconds. Layout (as ``scipy.io.readsav`` reads
    it): ``'SR'``, ``00 04`` (``00 06``: each record body zlib-compressed), then records
    ``RECTYPE`` (2 = variable, 6 = end), next-record offset (two 32-bit halves), 4 spare bytes
    (16 bytes);
    a variable: name (XDR string), type code, flags (4 array, 32 structure, 2 system), the
    array descriptor (``8``, 4 spare, ``nbytes``, ``nelements``, ``ndims``, 8 spare, ``nmax``,
    ``dims``), ``7``, the data.
    """
    wanted = {n.upper() for n in names}
    if data[:2] != b"SR" or data[2:4] not in (b"\x00\x04", b"\x00\x06"):
        return None
    compressed = data[2:4] == b"\x00\x06"
    out: dict[str, np.ndarray] = {}
    pos = 4
    while pos + 16 <= len(data) and len(out) < len(wanted):
        rectype = int.from_bytes(data[pos:pos + 4], "big", signed=True)
        nextrec = int.from_bytes(data[pos + 4:pos + 8], "big") + \
            (int.from_bytes(data[pos + 8:pos + 12], "big") << 32)
        if rectype == 6 or nextrec <= pos:
            break
        if rectype == 2:
            body = data[pos + 16:nextrec]
            try:
                body = zlib.decompress(body) if compressed else body
                found = _idl_variable(body, wanted)
            except (zlib.error, ValueError, IndexError):
                return None
            if found is False:
                return None
            if found is not None:
                out[found[0]] = found[1]
        pos = nextrec
    return out if set(out) == wanted else None


def _idl_variable(body: bytes, wanted: set[str]):
    """``(name, array)``, ``None`` for a variable not wanted, ``False`` for one not decodable."""
    def long(at):
        return int.from_bytes(body[at:at + 4], "big", signed=True)

    n = long(0)
    name = body[4:4 + n].decode("latin-1").upper()
    if name not in wanted:
        return None
    p = 4 + n + (-n % 4)
    typecode, flags = long(p), long(p + 4)
    p += 8
    if typecode not in _IDL_ARRAY_TYPES or not flags & 4 or flags & (2 | 32):
        return False
    if long(p) != 8:
        return False
    nelements, ndims, nmax = long(p + 12), long(p + 16), long(p + 28)
    p += 32 + 4 * nmax
    if ndims != 1 or long(p) != 7:
        return False
    array = np.frombuffer(body, dtype=_IDL_ARRAY_TYPES[typecode], count=nelements, offset=p + 4)
    return name, array.astype(array.dtype.newbyteorder("="))


@dataclasses.dataclass(frozen=True)
class RollCenterTable:
    """A star-fitted sun-centre/roll table (``c{2,3}_{pre,post}_recovery_adj_xyr_medv2.sav``).

    ``c_tai`` is SolarSoft TAI + 32.184 s (``adjust_hdr_tcr.pro``); ``x``, ``y``, ``roll`` the
    medians ``C_XMED``, ``C_YMED``, ``C_RMED`` (0-based full-frame pixels, degrees).
    """

    relpath: str
    c_tai: np.ndarray
    x: np.ndarray
    y: np.ndarray
    roll: np.ndarray


_SHARED: dict[tuple, dict] = {}
_SHARED_LOCK = threading.Lock()
#: ``(url, options) -> (file identity, SHA-256)`` of the manifests this process has read: a store
#: unpickled by every task on a worker stats the manifest instead of reading and hashing it.
_MANIFEST_SEEN: dict[tuple, tuple] = {}


def _read_manifest(fs, path: str, key: tuple) -> tuple[bytes | bool | None, str]:
    """``(bytes, SHA-256)`` of a store's manifest, ``(None, "")`` when there is none, or
    ``(True, SHA-256)`` when this process has read the same file (same size and modification
    time or ETag) before."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return None, ""
    identity = (info.get("size"), info.get("mtime") or info.get("ETag") or info.get("etag")
                or info.get("LastModified"), info.get("ino"))
    seen = _MANIFEST_SEEN.get(key)
    if seen is not None and seen[0] == identity and identity[1] is not None:
        return True, seen[1]
    raw = fs.cat_file(path)
    digest = _sha256(raw)
    _MANIFEST_SEEN[key] = (identity, digest)
    return raw, digest


class CalibrationStore:
    """Read access to a SolarSoft-layout calibration tree, with SHA-256 integrity and provenance.

    Parameters
    ----------
    url
        Directory or fsspec URL playing ``$NRL_LIB`` (the parent of ``lasco/`` or ``idl/``);
        the ``url`` attribute holds a local path made absolute.
    storage_options
        Passed to fsspec (object stores anonymous by default).
    allow_unverified
        Use a store without ``MANIFEST.json`` (its files cannot be checked), and files a
        manifest does not list. Off by default: such a store is refused with a message saying
        how to give it a manifest.

    Notes
    -----
    Files are read once per process and cached (instances of the same URL and manifest share the
    cache: a replaced manifest or file gives new cache keys, so a long-lived worker never serves
    stale bytes); an instance is safe to share between threads and pickles without its cache
    (dask sends it to workers). A worker whose store finds a manifest other than the one the
    client planned with refuses to go on: the store changed during the run. (A store unpickled
    by each task stats the manifest and reads it again only when it changed.)
    """

    def __init__(self, url: str, *, storage_options: Mapping[str, Any] | None = None,
                 allow_unverified: bool = False, _expected_manifest: str | None = None):
        # a local path absolute: the store's provenance (``calibration_store``) and a worker
        # in another directory name the same files
        self.url = absolute_location(str(url))
        self.storage_options = dict(storage_options or {})
        self.allow_unverified = bool(allow_unverified)
        self._fs, self._root = get_fs(self.url, self.storage_options)
        if not self._fs.isdir(self._root):
            raise CalibrationFileError(
                f"no calibration store at {self.url!r}: {_how_to_get('lasco/data/calib')}")
        manifest_path = join(self._fs, self._root, MANIFEST_NAME)
        options_key = json.dumps(self.storage_options, sort_keys=True, default=str)
        raw, manifest_sha = _read_manifest(self._fs, manifest_path, (self.url, options_key))
        if raw is None and not self.allow_unverified:
            raise CalibrationFileError(
                f"calibration store {self.url} has no {MANIFEST_NAME}, so its files cannot be "
                f"verified: mirror it with 'lascoproc calib fetch', write a manifest of files "
                f"you trust with 'lascoproc calib manifest {self.url}', or use it unverified "
                "with --allow-unverified")
        self.manifest_sha256 = manifest_sha
        if _expected_manifest is not None and _expected_manifest != self.manifest_sha256:
            now, then = self.manifest_sha256[:12] or "none", _expected_manifest[:12] or "none"
            raise CalibrationFileError(
                f"calibration store {self.url} changed during the run: its {MANIFEST_NAME} is "
                f"not the one the run was planned with (SHA-256 {now} instead of {then}); "
                "rerun after the update")
        key = (self.url, options_key, self.manifest_sha256)
        with _SHARED_LOCK:
            shared = _SHARED.get(key)
            if shared is None:
                if raw is True:  # known digest, bytes not kept: read them once more
                    raw = self._fs.cat_file(manifest_path)
                manifest = _parse_manifest(raw, manifest_path) if raw is not None else {}
                shared = _SHARED[key] = {"lock": threading.Lock(), "cache": {},
                                         "manifest": manifest, "listings": {}}
        self._lock = shared["lock"]
        self._cache: dict[tuple, Any] = shared["cache"]
        self._manifest: dict[str, str] = shared["manifest"]
        self._listings: dict[str, dict] = shared["listings"]
        # what *this* store was asked for (the provenance of its run), not every file the
        # process has read through other stores of the same URL
        self._used: dict[str, str] = {}
        self._unverified_used: set[str] = set()
        self._identity: dict[str, tuple] = {}

    def __getstate__(self):
        return {"url": self.url, "storage_options": self.storage_options,
                "allow_unverified": self.allow_unverified, "used": dict(self._used),
                "unverified_used": sorted(self._unverified_used),
                "manifest_sha256": self.manifest_sha256}

    def __setstate__(self, state):
        self.__init__(state["url"], storage_options=state["storage_options"],
                      allow_unverified=state.get("allow_unverified", False),
                      _expected_manifest=state.get("manifest_sha256"))
        self._used.update(state.get("used", {}))
        self._unverified_used.update(state.get("unverified_used", ()))

    def __repr__(self) -> str:
        return f"CalibrationStore({self.url!r})"

    # -- integrity -----------------------------------------------------------------------

    @property
    def verified(self) -> bool:
        """Whether the store has a manifest (files are checked against it)."""
        return bool(self.manifest_sha256)

    @property
    def integrity(self) -> str:
        """One line for the output attributes: how the files of this store were checked."""
        if not self.verified:
            return (f"UNVERIFIED: no {MANIFEST_NAME} (allow_unverified); files identified by "
                    "the SHA-256 of the bytes read")
        text = f"verified against {MANIFEST_NAME} sha256:{self.manifest_sha256}"
        if self._unverified_used:
            text += (f"; UNVERIFIED (not in the manifest, allow_unverified): "
                     f"{', '.join(sorted(self._unverified_used))}")
        return text

    def digest(self, files: Iterable[str] | None = None) -> str:
        """One SHA-256 for the run's fingerprint, over ``path sha256`` lines sorted by path.

        ``files`` (paths below the root, e.g. a plan's ``calibration_files`` attribute): their
        entries, from the manifest or, for files it does not list, from their bytes. ``None``:
        every manifest entry (a store without manifest: the files this store has read).
        """
        if files is None:
            entries = dict(self._manifest) if self.verified else self.provenance()
        else:
            entries = {}
            for rel in sorted(set(files)):
                found = self.locate(rel) or rel
                digest = self._manifest.get(found)
                if digest is None:
                    self.read_bytes(rel)
                    digest = self._used[self.locate(rel) or rel]
                entries[found] = digest
        text = "".join(f"{path} {sha}\n" for path, sha in sorted(entries.items()))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def verify(self) -> list[str]:
        """Check every file the manifest lists: ``["path: problem", ...]`` (empty when all
        match); a store without manifest gives one line saying so."""
        if not self.verified:
            return [f"{self.url}: no {MANIFEST_NAME}; nothing to verify against"]
        problems = []
        for rel, expected in sorted(self._manifest.items()):
            path = join(self._fs, self._root, rel)
            if not self._fs.exists(path):
                problems.append(f"{rel}: missing")
            elif _sha256(self._fs.cat_file(path)) != expected:
                problems.append(f"{rel}: SHA-256 differs from the manifest (corrupt or replaced)")
        return problems

    # -- raw access ----------------------------------------------------------------------

    def locate(self, relpath: str) -> str | None:
        """The relative path under which ``relpath`` exists in this store, or ``None``."""
        for candidate in _alternatives(relpath):
            if candidate in self._manifest:
                return candidate
        for candidate in _alternatives(relpath):
            if self._fs.exists(join(self._fs, self._root, candidate)):
                return candidate
        return None

    def exists(self, relpath: str) -> bool:
        return self.locate(relpath) is not None

    def file_key(self, relpath: str) -> tuple:
        """What identifies a file's content, for caches of things made from it (a cut and
        binned calibration image on a worker): ``(path, ("sha256", digest))`` from the manifest,
        or ``(path, ("stat", size, mtime, inode))`` in an unverified store. A replaced file gets
        a new key."""
        found = self.locate(relpath)
        if found is None:
            raise CalibrationFileError(
                f"calibration file {relpath} not found in {self.url}: {_how_to_get(relpath)}")
        return found, self._file_identity(found)

    def _file_identity(self, found: str) -> tuple:
        """What identifies the content of a file without reading it: its manifest SHA-256, or
        (unverified) its size and modification time or ETag, looked up once per store."""
        digest = self._manifest.get(found)
        if digest is not None:
            return ("sha256", digest)
        identity = self._identity.get(found)
        if identity is None:
            info = self._fs.info(join(self._fs, self._root, found))
            identity = ("stat", info.get("size"), info.get("mtime") or info.get("ETag")
                        or info.get("etag") or info.get("LastModified") or info.get("created"),
                        info.get("ino"))
            self._identity[found] = identity
        return identity

    def read_bytes(self, relpath: str) -> bytes:
        """The bytes of a file, checked against the manifest and recorded for provenance."""
        found = self.locate(relpath)
        if found is None:
            raise CalibrationFileError(
                f"calibration file {relpath} not found in {self.url}: {_how_to_get(relpath)}")
        expected = self._manifest.get(found)
        if expected is None and self.verified and not self.allow_unverified:
            raise CalibrationFileError(
                f"calibration file {found} in {self.url} is not listed in its {MANIFEST_NAME}: "
                f"fetch it with 'lascoproc calib fetch', or add it with 'lascoproc calib "
                f"manifest {self.url}' after checking it, or use --allow-unverified")
        key = ("bytes", found, self._file_identity(found))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            data, digest = cached
        else:
            try:
                data = _cat(self._fs, join(self._fs, self._root, found))
            except FileNotFoundError as err:
                raise CalibrationFileError(
                    f"calibration file {found} is listed in the manifest of {self.url} but "
                    f"missing: {_how_to_get(found)}") from err
            digest = _sha256(data)
            if expected is not None and expected != digest:
                raise CalibrationFileError(
                    f"calibration file {found} in {self.url} is corrupt (SHA-256 "
                    f"{digest[:12]}... but the manifest says {expected[:12]}...): "
                    f"{_how_to_get(found)}")
            with self._lock:
                self._cache[key] = (data, digest)
        with self._lock:
            self._used[found] = digest
            if expected is None:
                self._unverified_used.add(found)
        return data

    def _parsed(self, kind: str, relpath: str, parse):
        """``parse(bytes)`` of a file, cached with the file's identity."""
        data = self.read_bytes(relpath)
        found = self.locate(relpath) or relpath
        key = (kind, found, self._file_identity(found))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = parse(data)
        with self._lock:
            self._cache[key] = value
        return value

    def provenance(self) -> dict[str, str]:
        """``{relative path: SHA-256}`` of every file this store was asked for, sorted by path.

        Per store, although the bytes are cached per process and URL: a C2 run after a C3 run
        in the same process lists the C2 run's files only (a pickled store keeps its list).
        """
        with self._lock:
            return dict(sorted(self._used.items()))

    def fits_image(self, relpath: str) -> np.ndarray:
        """The primary image of a FITS file as read-only float32 (rows = y, columns = x)."""
        def parse(data):
            try:
                with fits.open(io.BytesIO(data), memmap=False) as hdul:
                    image = np.asarray(hdul[0].data, dtype=np.float32)
            except Exception as err:  # noqa: BLE001
                raise CalibrationFileError(
                    f"calibration file {relpath} is not a readable FITS image ({err}): "
                    f"{_how_to_get(relpath)}") from err
            if image.ndim != 2:
                raise CalibrationFileError(f"calibration file {relpath}: expected a 2-D image, "
                                           f"got shape {image.shape}")
            image.flags.writeable = False
            return image

        return self._parsed("fits", relpath, parse)

    def text(self, relpath: str) -> str:
        return self.read_bytes(relpath).decode("latin-1")

    def idl_save(self, relpath: str) -> dict[str, Any]:
        """Variables of an IDL SAVE file (:func:`scipy.io.readsav`), names lower-case."""
        def parse(data):
            from scipy.io import readsav

            with tempfile.NamedTemporaryFile(suffix=".sav", delete=False) as tmp:
                tmp.write(data)
            try:
                return dict(readsav(tmp.name, verbose=False))
            except Exception as err:  # noqa: BLE001
                raise CalibrationFileError(f"calibration file {relpath} is not a readable IDL "
                                           f"save file ({err})") from err
            finally:
                os.unlink(tmp.name)

        return self._parsed("sav", relpath, parse)

    # -- the files of the level-1 chain --------------------------------------------------

    def vignetting(self, detector: str, mjd: int) -> tuple[np.ndarray, str]:
        """Inverted vignetting (multiply) of ``c2_calibrate.pro``/``c3_calibrate.pro``.

        C2: ``c2vig_final.fts``; C3: ``c3vig_preint_final.fts`` when ``mjd < 51000`` (the day of
        ``DATE-OBS``) else ``c3vig_postint_final.fts``.
        """
        det = detector.strip().upper()
        if det == "C2":
            rel = f"{_CALIB}/c2vig_final.fts"
        elif det == "C3":
            name = "c3vig_preint_final.fts" if int(mjd) < 51000 else "c3vig_postint_final.fts"
            rel = f"{_CALIB}/{name}"
        else:
            raise ValueError(f"no vignetting for detector {detector!r}")
        return self.fits_image(rel), rel

    def c3_mask(self) -> tuple[np.ndarray, str]:
        rel = f"{_CALIB}/c3_cl_mask_lvl1.fts"
        return self.fits_image(rel), rel

    def c3_ramp(self) -> tuple[np.ndarray, str]:
        rel = f"{_CALIB}/C3ramp.fts"
        return self.fits_image(rel), rel

    def c2_null_blocks(self) -> tuple[np.ndarray, str]:
        """Nominally empty C2 blocks (``c2nullblocks.txt``: integers ``row * 32 + col``)."""
        rel = f"{_CALIB}/c2nullblocks.txt"
        values = [int(v) for v in self.text(rel).split()]
        return np.array(values, dtype=np.int64), rel

    def expfactor_table(self, detector: str, day: dt.date) -> tuple[str | None, str]:
        """Text of the exposure-factor table of a detector and day, or ``None`` if absent.

        An absent table is not an error: ``get_exp_factor.pro`` then falls back to
        ``offset_bias`` and an exposure factor of 1 (recorded per frame).
        """
        rel = expfactor_path(detector, day)
        if not self.exists(rel):
            return None, rel
        return self.text(rel), rel

    def expfactor_columns(self, detector: str, day: dt.date
                          ) -> tuple[dict[str, np.ndarray] | None, str]:
        """:meth:`expfactor_table` parsed (:func:`lascoproc.kernels.lasco_factors.
        expfactor_columns`) and cached with the file, or ``(None, relpath)`` if absent."""
        rel = expfactor_path(detector, day)
        if not self.exists(rel):
            return None, rel
        return self._parsed("expfac", rel, lambda d: lasco_factors.expfactor_columns(
            d.decode("latin-1"))), rel

    def occulter_center(self, detector: str, filter: str, mjd: int) -> tuple[tuple[float, float],
                                                                               str]:
        """Occulter centre (0-based full-frame pixels) of ``occltr_cntr.pro`` 1.9.

        C3: the entry of ``c3_occltr_cntr.dat`` nearest in date (two header lines, then
        ``YYYY/MM/DD x y``). C2: ``occulter_center.dat`` (``read_occ_dat.pro`` 1.9: one header
        line, then 4 cameras x 5 filter slots x 2 validity lines, x in columns 0-6, y in 8-14,
        date in 16-25); the last validity slot whose date is on or before the frame's; the
        IDL default ``(512.634, 505.293)`` when none applies.
        """
        det = detector.strip().upper()
        if det == "C3":
            rel = "lasco/convert/c3_occltr_cntr.dat"
            rows = self._parsed("c3occ", rel, _parse_c3_occulter)
            if not rows:
                raise CalibrationFileError(f"{rel}: no occulter centre rows")
            best = min(rows, key=lambda r: abs(r[0] - int(mjd)))
            return (best[1], best[2]), rel
        if det != "C2":
            raise ValueError(f"no occulter centre for detector {detector!r}")
        rel = "lasco/convert/occulter_center.dat"
        slot = C2_FILTER_SLOTS.get("".join(str(filter).split()).upper())
        lines = self._parsed("lines", rel, lambda d: d.decode("latin-1").splitlines()[1:])
        best = None
        if slot is not None:
            for j in (0, 1):
                k = 2 * (5 * 1 + slot) + j  # camera 1 = C2
                if k >= len(lines) or not lines[k].strip():
                    continue
                line = lines[k]
                day = _mjd(line[16:26].strip())
                if 0 < day <= int(mjd):
                    best = (float(line[0:7]), float(line[8:15]))
        return (best if best is not None else C2_DEFAULT_OCCULTER), rel

    def last_day(self) -> np.datetime64:
        """``LAST_DAY`` of ``c2_c3_last_post_recovery_day.sav`` (``datetime64[D]``): the roll
        and centre tables, and the time correction, apply up to that day."""
        last = self.idl_save(f"{_CALIB}/c2_c3_last_post_recovery_day.sav")
        text = _decode(last.get("last_day", b""))
        if not text:
            raise CalibrationFileError(f"{_CALIB}/c2_c3_last_post_recovery_day.sav has no "
                                       f"LAST_DAY: {_how_to_get(_CALIB)}")
        return np.datetime64(text.replace("/", "-")[:10], "D")

    def roll_center_table(self, detector: str, era: str) -> RollCenterTable:
        """The roll/centre table of a detector, ``era`` ``"pre"`` or ``"post"`` (the 1998
        recovery): ``c{2,3}_{pre,post}_recovery_adj_xyr_medv2.sav`` (``adjust_hdr_tcr.pro``)."""
        det = detector.strip().lower()
        rel = f"{_CALIB}/{det}_{era}_recovery_adj_xyr_medv2.sav"
        names = ("C_TAI", "C_XMED", "C_YMED", "C_RMED")
        fast = self._parsed("savarrays", rel, lambda d: idl_save_arrays(d, names))
        table = ({k.lower(): v for k, v in fast.items()} if fast is not None
                 else self.idl_save(rel))
        return RollCenterTable(
            rel, np.asarray(table["c_tai"], dtype=np.float64),
            np.asarray(table["c_xmed"], dtype=np.float64),
            np.asarray(table["c_ymed"], dtype=np.float64),
            np.asarray(table["c_rmed"], dtype=np.float64))

    def sun_center_roll(self, detector: str, time):
        """Sun centre (0-based full-frame pixels) and roll (deg) of ``adjust_hdr_tcr.pro``.

        Linear interpolation of ``C_XMED, C_YMED, C_RMED`` in ``C_TAI`` (TAI seconds since
        1958 + 32.184 s) of ``c{2,3}_{pre,post}_recovery_adj_xyr_medv2.sav`` (pre before
        1998-07-01). After ``LAST_DAY`` of ``c2_c3_last_post_recovery_day.sav`` there is none
        (IDL then uses ``get_sun_center``/``get_roll_or_xy``).

        Parameters
        ----------
        time
            One ``datetime64`` or an array of them (the time the table is read at: the
            corrected ``DATE-OBS`` in IDL).

        Returns
        -------
        tuple or None
            One time: ``((x, y), roll_deg, relpath)``, or ``None`` after ``LAST_DAY``. An
            array: ``((x, y), roll, relpath)`` of arrays, NaN (and ``""``) after ``LAST_DAY``.
        """
        t = np.asarray(time, dtype="datetime64[ms]")
        scalar = t.ndim == 0
        t = np.atleast_1d(t)
        after = t.astype("datetime64[D]") > self.last_day()
        pre = t < np.datetime64(_RECOVERY)
        tai = lasco_time.utc_to_tai(t) + 32.184
        x = np.full(t.shape, np.nan)
        y = np.full(t.shape, np.nan)
        roll = np.full(t.shape, np.nan)
        rel = np.full(t.shape, "", dtype=object)
        for era, sel in (("pre", pre & ~after), ("post", ~pre & ~after)):
            if not sel.any():
                continue
            table = self.roll_center_table(detector, era)
            x[sel] = np.interp(tai[sel], table.c_tai, table.x)
            y[sel] = np.interp(tai[sel], table.c_tai, table.y)
            roll[sel] = np.interp(tai[sel], table.c_tai, table.roll)
            rel[sel] = table.relpath
        if scalar:
            if after[0]:
                return None
            return (float(x[0]), float(y[0])), float(roll[0]), str(rel[0])
        return (x, y), roll, rel

    def time_diff(self) -> tuple[lasco_time.TimeDiffTable, str] | None:
        """``TIME_DIFF.DAT`` decoded (:func:`lascoproc.kernels.lasco_time.parse_time_diff`) and
        its path, or ``None`` when the store has none (the time then stays uncorrected)."""
        rel = f"{_CALIB}/TIME_DIFF.DAT"
        if not self.exists(rel):
            return None

        def parse(data):
            try:
                return lasco_time.parse_time_diff(data)
            except ValueError as err:
                raise CalibrationFileError(f"calibration file {rel}: {err}: "
                                           f"{_how_to_get(rel)}") from err

        return self._parsed("timediff", rel, parse), self.locate(rel) or rel

    def c2_time_offsets(self, name: str) -> tuple[lasco_time.C2TimeOffsets, str] | None:
        """One ``c2_*_timeoffsets.sav`` of ``TIME_CORRECTION2`` (``C2_DATES``, ``C2_OFFSETS``),
        or ``None`` when absent."""
        rel = f"{_CALIB}/{name}"
        if not self.exists(rel):
            return None
        values = self.idl_save(rel)
        dates = np.array([np.datetime64(_decode(d).replace("/", "-").replace(" ", "T"), "ms")
                          for d in values["c2_dates"]])
        return (lasco_time.C2TimeOffsets.from_save(dates, values["c2_offsets"]),
                self.locate(rel) or rel)

    def _orbit_index(self, directory: str) -> dict[tuple[str, dt.date], str]:
        """``{(prefix, day): newest file name}`` of an orbit directory (one listing per year
        and store, from the manifest when there is one)."""
        with self._lock:
            if directory in self._listings:
                return self._listings[directory]
        names = [p.rsplit("/", 1)[-1] for p in self._manifest if p.rsplit("/", 1)[0] == directory]
        path = join(self._fs, self._root, directory)
        if not names and self._fs.isdir(path):
            names = [p.rsplit("/", 1)[-1] for p in self._fs.ls(path, detail=False)]
        index: dict[tuple[str, dt.date], tuple[int, str]] = {}
        for name in names:
            parsed = soho_orbit.parse_orbit_name(name)
            if parsed is None:
                continue
            kind, day, version = parsed
            key = (kind, day)
            if key not in index or version > index[key][0]:
                index[key] = (version, name)
        newest = {key: name for key, (_, name) in index.items()}
        with self._lock:
            self._listings[directory] = newest
        return newest

    def soho_orbit(self, day: dt.date) -> tuple[dict[str, np.ndarray], str, str] | None:
        """The SOHO orbit file of a day: ``(columns, kind, relpath)``, definitive first, the
        highest version (``get_orbit.pro``), or ``None`` when the store has neither."""
        for kind, _ in soho_orbit.ORBIT_KINDS:
            directory = soho_orbit.orbit_directory(kind, day)
            name = self._orbit_index(directory).get((kind, day))
            if name is None:
                continue
            rel = f"{directory}/{name}"

            def parse(data, rel=rel):
                try:
                    return soho_orbit.read_orbit_table(data)
                except (ValueError, KeyError) as err:
                    raise CalibrationFileError(f"calibration file {rel} is not a readable "
                                               f"SOHO orbit file ({err}): {_how_to_get(rel)}"
                                               ) from err

            return self._parsed("orbit", rel, parse), kind, rel
        return None


#: Filter slots of C2 in ``occulter_center.dat`` (``CNVRT_FILTER`` order; assumed, see
#: docs/calibration_files.md).
C2_FILTER_SLOTS = {"ORANGE": 0, "BLUE": 1, "DEEPRED": 2, "DEEPRD": 2, "HALPHA": 3, "LENS": 4}
#: ``occltr_cntr.pro`` 1.9 default C2 occulter centre (0-based full-frame pixels).
C2_DEFAULT_OCCULTER = (512.634, 505.293)


def _parse_c3_occulter(data: bytes) -> list[tuple[int, float, float]]:
    rows = []
    for line in data.decode("latin-1").splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 3:
            rows.append((_mjd(parts[0]), float(parts[1]), float(parts[2])))
    return rows


def _mjd(date_text: str) -> int:
    text = date_text.strip().replace("/", "-")[:10]
    day = dt.date.fromisoformat(text)
    return (day - dt.date(1858, 11, 17)).days


def _decode(value) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip()
    if isinstance(value, np.ndarray) and value.size == 1:
        return _decode(value.item())
    return str(value).strip()


def orbit_file_patterns(days: Iterable[dt.date]) -> list[str]:
    """Store paths of the SOHO orbit files of ``days``, with ``V??`` for the version
    (:func:`fetch_calibration` finds the versions the server has)."""
    out = []
    for day in days:
        for kind, prefix in soho_orbit.ORBIT_KINDS:
            out.append(f"{soho_orbit.orbit_directory(kind, day)}/{prefix}_{day:%Y%m%d}_V??.FITS")
    return out


def calibration_file_paths(*, detectors=("C2", "C3"), days=(), orbit: bool = True) -> list[str]:
    """Paths (below the store root) of the files the level-1 chain reads for these detectors,
    with the exposure-factor tables (and, with ``orbit``, the SOHO orbit files: version
    ``V??``) of ``days``."""
    detectors = {d.upper() for d in detectors}
    days = list(days)
    paths = []
    for f in CALIBRATION_FILES:
        if f.detector not in detectors and f.detector != "ANY":
            continue
        if "{yymmdd}" in f.path:
            for day in days:
                paths.append(expfactor_path(f.detector, day))
        elif "{yyyymmdd}" in f.path:
            continue
        else:
            paths.append(f.path)
    if orbit:
        paths += orbit_file_patterns(days)
    return list(dict.fromkeys(paths))


def _read_existing_manifest(dest_fs, manifest_path: str) -> dict[str, str]:
    if not dest_fs.exists(manifest_path):
        return {}
    try:
        return _parse_manifest(dest_fs.cat_file(manifest_path), manifest_path)
    except CalibrationFileError:
        # an unreadable manifest of the mirror being refreshed: start a new one (every file
        # is fetched and validated again)
        return {}


def _server_candidates(src_fs, src_root: str, rel: str, anc_fs, anc_root: str):
    """Where to download a store path from: ``(fs, url, store path)`` candidates."""
    if rel.startswith("ancil_data/"):
        tail = rel[len("ancil_data/"):]
        if "V??" not in tail:
            return [(anc_fs, join(anc_fs, anc_root.rstrip("/"), tail), rel)]
        directory, name = tail.rsplit("/", 1)
        names = []
        try:
            listing = [p.rsplit("/", 1)[-1] for p in anc_fs.ls(
                join(anc_fs, anc_root.rstrip("/"), directory), detail=False)]
            prefix = name.split("V??")[0]
            names = sorted((n for n in listing if n.upper().startswith(prefix.upper())
                            and soho_orbit.parse_orbit_name(n) is not None),
                           key=lambda n: -soho_orbit.parse_orbit_name(n)[2])
        except (OSError, ValueError):
            names = []
        if not names:  # no listing: the versions get_soho_orbit.pro tries, newest first
            names = [name.replace("V??", f"V{v:02d}") for v in (3, 2, 1)]
        return [(anc_fs, join(anc_fs, anc_root.rstrip("/"), f"{directory}/{n}"),
                 f"ancil_data/{directory}/{n}") for n in names]
    return [(src_fs, join(src_fs, src_root.rstrip("/"), c), rel) for c in _alternatives(rel)]


def fetch_calibration(
    dest: str,
    *,
    files: Iterable[str],
    base_url: str = DOWNLOAD_BASES[0],
    ancillary_url: str = soho_orbit.ANCILLARY_BASE,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, str]:
    """Mirror calibration files from a SolarSoft archive into ``dest``, validating each.

    Each file is downloaded (``base_url`` + its path below ``$NRL_LIB``, trying the ``lasco/``
    and ``idl/`` spellings; SOHO orbit files, ``ancil_data/...``, from ``ancillary_url``, the
    newest version the server lists or else ``V03``, ``V02``, ``V01`` as ``get_soho_orbit.pro``
    tries), checked (:func:`validate_bytes`) and only then written, through a temporary name
    and a rename; ``MANIFEST.json`` (written the same way) records the SHA-256 of every file
    accepted. Files already in ``dest`` with the manifest's SHA-256 are not fetched again. An
    orbit file the server does not have (a day without a definitive orbit yet) is not an error.

    Returns
    -------
    dict
        ``{relative path: SHA-256}`` of every file now in the mirror.

    Raises
    ------
    CalibrationFileError
        Naming every file that could not be fetched or failed validation (the others are kept).
    """
    dest_fs, dest_root = get_fs(dest)
    dest_fs.makedirs(dest_root, exist_ok=True)
    manifest_path = join(dest_fs, dest_root, MANIFEST_NAME)
    manifest = _read_existing_manifest(dest_fs, manifest_path)
    src_fs, src_root = get_fs(base_url, storage_options)
    anc_fs, anc_root = get_fs(ancillary_url, storage_options)
    failures = []
    todo = list(dict.fromkeys(files))
    iterator = todo
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(todo, desc="fetching calibration", unit="file")
    try:
        for rel in iterator:
            failure = _fetch_one(rel, manifest, dest_fs, dest_root, src_fs, src_root, anc_fs,
                                 anc_root, base_url)
            if failure:
                failures.append(failure)
    finally:
        _atomic_write(dest_fs, manifest_path, _manifest_bytes(manifest, base_url))
    if failures:
        raise CalibrationFileError(
            f"{len(failures)} calibration files not mirrored: " + "; ".join(failures))
    return dict(sorted(manifest.items()))


def _fetch_one(rel, manifest, dest_fs, dest_root, src_fs, src_root, anc_fs, anc_root,
               base_url) -> str | None:
    """Fetch one store path into the mirror; the failure message, or ``None``."""
    if "V??" not in rel:
        target = join(dest_fs, dest_root, rel)
        if rel in manifest and dest_fs.exists(target) and \
                _sha256(dest_fs.cat_file(target)) == manifest[rel]:
            return None
    elif any(p.startswith(rel.split("V??")[0]) for p in manifest):
        return None  # mirrored already (for a newer version, remove it and fetch again)
    data, errors, stored = None, [], rel
    for fs, url, store_path in _server_candidates(src_fs, src_root, rel, anc_fs, anc_root):
        try:
            data = fs.cat_file(url)
            stored = store_path
            break
        except (FileNotFoundError, OSError) as err:
            errors.append(f"{url.rsplit('/', 1)[-1]}: {err}")
    if data is None:
        if rel.startswith("ancil_data/"):
            return None  # an orbit file of this kind is not (yet) published for that day
        return f"{rel}: not found at {base_url} ({'; '.join(errors)[:200]})"
    try:
        validate_bytes(stored, data)
    except CalibrationFileError as err:
        return str(err)
    _atomic_write(dest_fs, join(dest_fs, dest_root, stored), data)
    manifest[stored] = _sha256(data)
    return None
