"""The SolarSoft LASCO calibration files: manifest, store, and mirror (``lascoproc calib fetch``).

A calibration store is a directory or fsspec URL laid out as SolarSoft's ``$NRL_LIB``
(``$SSW/soho/lasco``): ``lasco/data/calib/c2vig_final.fts``, ``lasco/expfac/data/YYMM/...``,
``lasco/convert/...``. Both spellings of the subtree that SolarSoft uses, ``lasco/...`` and
``idl/...``, are accepted. :data:`CALIBRATION_FILES` lists every file the level-1 chain reads,
with its purpose, date range, format and the IDL routine that reads it; what each file holds
and how it is parsed is written out in ``docs/calibration_files.md``.

Every file read is hashed (SHA-256) and recorded (:meth:`CalibrationStore.provenance`), so
outputs can name exactly what calibrated them. A store mirrored by :func:`fetch_calibration`
carries a ``MANIFEST.json`` with the SHA-256 of each file; a file that no longer matches is
refused as corrupt. A missing or unreadable file raises :class:`CalibrationFileError`, whose
message names the file and how to get it.
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
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from astropy.io import fits

from lascoproc.io.fs import get_fs, join

__all__ = [
    "CALIBRATION_FILES",
    "DOWNLOAD_BASES",
    "CalibrationFile",
    "CalibrationFileError",
    "CalibrationStore",
    "fetch_calibration",
    "calibration_file_paths",
    "expfactor_path",
]

#: Public SolarSoft mirrors of ``$NRL_LIB`` (= ``$SSW/soho/lasco``) seen in third-party code
#: (CorKit, a NOAA port); not fetched from here, so unverified. Both ``lasco/...`` and
#: ``idl/...`` subtrees are served; see docs/calibration_files.md.
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
        Path pattern relative to ``$NRL_LIB`` (``$SSW/soho/lasco``); ``{detector}`` (``c2``,
        ``c3``), ``{yymm}`` and ``{yymmdd}`` are the fields of the exposure-factor family.
    purpose : str
        What the chain uses it for.
    detector : str
        ``"C2"``, ``"C3"`` or ``"ANY"``.
    valid_from, valid_to : str or None
        ISO dates; the file applies to ``valid_from <= date < valid_to``; ``None`` is open.
    fmt : str
        ``"fits"``, ``"text"`` or ``"idl-save"``.
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
)

MANIFEST_NAME = "MANIFEST.json"
_SUBTREES = ("lasco", "idl")


class CalibrationFileError(FileNotFoundError):
    """A calibration file is missing, corrupt or unreadable; the message says how to fix it."""


def expfactor_path(detector: str, day: dt.date) -> str:
    """``lasco/expfac/data/YYMM/<det>_expfactor_YYMMDD.dat`` below ``$NRL_LIB``."""
    yymmdd = day.strftime("%y%m%d")
    return f"lasco/expfac/data/{yymmdd[:4]}/{detector.lower()}_expfactor_{yymmdd}.dat"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _how_to_get(relpath: str) -> str:
    return (f"get it with 'lascoproc calib fetch DEST' (mirrors SolarSoft's $NRL_LIB/{relpath}) "
            "or write synthetic files with 'lascoproc synth calib DIR'")


def _alternatives(relpath: str) -> list[str]:
    """``lasco/x`` and ``idl/x`` are the same file in SolarSoft's two spellings."""
    head, _, tail = relpath.partition("/")
    if head in _SUBTREES and tail:
        return [relpath] + [f"{other}/{tail}" for other in _SUBTREES if other != head]
    return [relpath]


def validate_bytes(relpath: str, data: bytes) -> None:
    """Check that ``data`` is a usable calibration file of its kind (FITS, text, IDL save).

    Raises
    ------
    CalibrationFileError
        With the reason, e.g. an HTML error page saved under a ``.fts`` name.
    """
    name = relpath.rsplit("/", 1)[-1].lower()
    if name.endswith((".fts", ".fits")):
        try:
            with fits.open(io.BytesIO(data), memmap=False) as hdul:
                hdul.verify("exception")
                if hdul[0].data is None:
                    raise ValueError("no image in the primary HDU")
        except Exception as err:  # noqa: BLE001 - astropy raises many types
            raise CalibrationFileError(f"{relpath}: not a valid FITS image ({err})") from err
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


_SHARED: dict[tuple, dict] = {}
_SHARED_LOCK = threading.Lock()


class CalibrationStore:
    """Read access to a SolarSoft-layout calibration tree, with SHA-256 provenance.

    Parameters
    ----------
    url
        Directory or fsspec URL playing ``$NRL_LIB`` (the parent of ``lasco/`` or ``idl/``).
    storage_options
        Passed to fsspec (object stores anonymous by default).

    Notes
    -----
    Files are read once per process and cached (instances of the same URL share the cache);
    an instance is safe to share between threads and pickles without its cache (dask sends it
    to workers).
    """

    def __init__(self, url: str, *, storage_options: Mapping[str, Any] | None = None):
        self.url = str(url)
        self.storage_options = dict(storage_options or {})
        self._fs, self._root = get_fs(self.url, self.storage_options)
        if not self._fs.isdir(self._root):
            raise CalibrationFileError(
                f"no calibration store at {self.url!r}: {_how_to_get('lasco/data/calib')}")
        # Stores of the same URL in one process share their cache: on a dask worker every
        # task unpickles its own store object, and must not read the files again.
        key = (self.url, json.dumps(self.storage_options, sort_keys=True, default=str))
        with _SHARED_LOCK:
            shared = _SHARED.get(key)
            if shared is None:
                shared = _SHARED[key] = {"lock": threading.Lock(), "cache": {}, "used": {},
                                         "manifest": self._read_manifest()}
        self._lock = shared["lock"]
        self._cache: dict[tuple, Any] = shared["cache"]
        self._digests: dict[str, tuple[str, str]] = shared["used"]
        self._manifest = shared["manifest"]
        # what *this* store was asked for (the provenance of its run), not every file the
        # process has read through other stores of the same URL
        self._used: dict[str, str] = {}

    def __getstate__(self):
        return {"url": self.url, "storage_options": self.storage_options,
                "used": dict(self._used)}

    def __setstate__(self, state):
        self.__init__(state["url"], storage_options=state["storage_options"])
        self._used.update(state.get("used", {}))

    def __repr__(self) -> str:
        return f"CalibrationStore({self.url!r})"

    # -- raw access ----------------------------------------------------------------------

    def _read_manifest(self) -> dict[str, str]:
        path = join(self._fs, self._root, MANIFEST_NAME)
        if not self._fs.exists(path):
            return {}
        entries = json.loads(self._fs.cat_file(path))["files"]
        return {e["path"]: e["sha256"] for e in entries}

    def locate(self, relpath: str) -> str | None:
        """The relative path under which ``relpath`` exists in this store, or ``None``."""
        for candidate in _alternatives(relpath):
            if self._fs.exists(join(self._fs, self._root, candidate)):
                return candidate
        return None

    def exists(self, relpath: str) -> bool:
        return self.locate(relpath) is not None

    def read_bytes(self, relpath: str) -> bytes:
        """The bytes of a file, checked against the manifest and recorded for provenance."""
        key = ("bytes", relpath)
        with self._lock:
            if key in self._cache:
                found, digest = self._digests[relpath]
                self._used[found] = digest
                return self._cache[key]
        found = self.locate(relpath)
        if found is None:
            raise CalibrationFileError(
                f"calibration file {relpath} not found in {self.url}: {_how_to_get(relpath)}")
        data = self._fs.cat_file(join(self._fs, self._root, found))
        digest = _sha256(data)
        expected = self._manifest.get(found)
        if expected is not None and expected != digest:
            raise CalibrationFileError(
                f"calibration file {found} in {self.url} is corrupt (SHA-256 {digest[:12]}... "
                f"but the manifest says {expected[:12]}...): {_how_to_get(found)}")
        with self._lock:
            self._cache[key] = data
            self._digests[relpath] = (found, digest)
            self._used[found] = digest
        return data

    def provenance(self) -> dict[str, str]:
        """``{relative path: SHA-256}`` of every file this store was asked for, sorted by path.

        Per store, although the bytes are cached per process and URL: a C2 run after a C3 run
        in the same process lists the C2 run's files only (a pickled store keeps its list).
        """
        with self._lock:
            return dict(sorted(self._used.items()))

    def fits_image(self, relpath: str) -> np.ndarray:
        """The primary image of a FITS file as read-only float32 (rows = y, columns = x)."""
        key = ("fits", relpath)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            self.read_bytes(relpath)  # a cache hit: records the file for this store
            return cached
        data = self.read_bytes(relpath)
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
        with self._lock:
            self._cache[key] = image
        return image

    def text(self, relpath: str) -> str:
        return self.read_bytes(relpath).decode("latin-1")

    def idl_save(self, relpath: str) -> dict[str, Any]:
        """Variables of an IDL SAVE file (:func:`scipy.io.readsav`), names lower-case."""
        key = ("sav", relpath)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            self.read_bytes(relpath)  # a cache hit: records the file for this store
            return cached
        from scipy.io import readsav

        data = self.read_bytes(relpath)
        with tempfile.NamedTemporaryFile(suffix=".sav", delete=False) as tmp:
            tmp.write(data)
        try:
            values = dict(readsav(tmp.name, verbose=False))
        except Exception as err:  # noqa: BLE001
            raise CalibrationFileError(f"calibration file {relpath} is not a readable IDL "
                                       f"save file ({err})") from err
        finally:
            os.unlink(tmp.name)
        with self._lock:
            self._cache[key] = values
        return values

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
            rows = []
            for line in self.text(rel).splitlines()[2:]:
                parts = line.split()
                if len(parts) >= 3:
                    rows.append((_mjd(parts[0]), float(parts[1]), float(parts[2])))
            if not rows:
                raise CalibrationFileError(f"{rel}: no occulter centre rows")
            best = min(rows, key=lambda r: abs(r[0] - int(mjd)))
            return (best[1], best[2]), rel
        if det != "C2":
            raise ValueError(f"no occulter centre for detector {detector!r}")
        rel = "lasco/convert/occulter_center.dat"
        slot = C2_FILTER_SLOTS.get("".join(str(filter).split()).upper())
        lines = self.text(rel).splitlines()[1:]
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

    def sun_center_roll(self, detector: str, time: np.datetime64):
        """Sun centre (0-based full-frame pixels) and roll (deg) of ``adjust_hdr_tcr.pro``.

        Linear interpolation of ``C_XMED, C_YMED, C_RMED`` in ``C_TAI`` (TAI seconds since
        1958 + 32.184 s) of ``c{2,3}_{pre,post}_recovery_adj_xyr_medv2.sav`` (pre before
        1998-07-01). Returns ``None`` after ``LAST_DAY`` of ``c2_c3_last_post_recovery_day.sav``
        (IDL then uses estimates; the caller keeps the level-0.5 header values).

        Returns
        -------
        tuple or None
            ``((x, y), roll_deg, relpath)``.
        """
        det = detector.strip().lower()
        last = self.idl_save(f"{_CALIB}/c2_c3_last_post_recovery_day.sav")
        last_day = _decode(last.get("last_day", b""))
        t = np.datetime64(time, "ms")
        if last_day and t >= np.datetime64(last_day.replace("/", "-")[:10], "D") + 1:
            return None
        which = "pre" if t < np.datetime64(_RECOVERY) else "post"
        rel = f"{_CALIB}/{det}_{which}_recovery_adj_xyr_medv2.sav"
        table = self.idl_save(rel)
        tai = _tai_seconds(t)
        c_tai = np.asarray(table["c_tai"], dtype=np.float64)
        x = float(np.interp(tai, c_tai, np.asarray(table["c_xmed"], dtype=np.float64)))
        y = float(np.interp(tai, c_tai, np.asarray(table["c_ymed"], dtype=np.float64)))
        roll = float(np.interp(tai, c_tai, np.asarray(table["c_rmed"], dtype=np.float64)))
        return (x, y), roll, rel


#: Filter slots of C2 in ``occulter_center.dat`` (``CNVRT_FILTER`` order; assumed, see
#: docs/calibration_files.md).
C2_FILTER_SLOTS = {"ORANGE": 0, "BLUE": 1, "DEEPRED": 2, "DEEPRD": 2, "HALPHA": 3, "LENS": 4}
#: ``occltr_cntr.pro`` 1.9 default C2 occulter centre (0-based full-frame pixels).
C2_DEFAULT_OCCULTER = (512.634, 505.293)

_TAI_1958 = np.datetime64("1958-01-01T00:00:00", "ms")


def _tai_seconds(t: np.datetime64) -> float:
    """SolarSoft ``UTC2TAI(t) + 32.184``: TAI seconds since 1958-01-01 plus 32.184 s."""
    from astropy.time import Time

    utc = Time(np.datetime64(t, "ms"), scale="utc")
    tai_epoch = Time("1958-01-01T00:00:00", scale="tai")
    return float((utc.tai - tai_epoch).sec) + 32.184


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


def calibration_file_paths(*, detectors=("C2", "C3"), days=()) -> list[str]:
    """Paths (below ``$NRL_LIB``) of the files the level-1 chain reads for these detectors,
    with the exposure-factor tables of ``days``."""
    detectors = {d.upper() for d in detectors}
    paths = []
    for f in CALIBRATION_FILES:
        if f.detector not in detectors and f.detector != "ANY":
            continue
        if "{yymmdd}" in f.path:
            for day in days:
                paths.append(expfactor_path(f.detector, day))
        else:
            paths.append(f.path)
    return list(dict.fromkeys(paths))


def fetch_calibration(
    dest: str,
    *,
    files: Iterable[str],
    base_url: str = DOWNLOAD_BASES[0],
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, str]:
    """Mirror calibration files from a SolarSoft archive into ``dest``, validating each.

    Each file is downloaded (``base_url`` + its path below ``$NRL_LIB``, trying the ``lasco/``
    and ``idl/`` spellings), checked (:func:`validate_bytes`: FITS opens with astropy, tables
    are text, IDL saves have the save signature) and only then written; ``MANIFEST.json``
    records the SHA-256 of every file accepted. Files already in ``dest`` with the manifest's
    SHA-256 are not fetched again.

    Returns
    -------
    dict
        ``{relative path: SHA-256}`` of every file now in the mirror.

    Raises
    ------
    CalibrationFileError
        Naming every file that could not be fetched or failed validation (the others are kept).
    """
    import fsspec

    dest_fs, dest_root = get_fs(dest)
    dest_fs.makedirs(dest_root, exist_ok=True)
    manifest_path = join(dest_fs, dest_root, MANIFEST_NAME)
    manifest: dict[str, str] = {}
    if dest_fs.exists(manifest_path):
        manifest = {e["path"]: e["sha256"]
                    for e in json.loads(dest_fs.cat_file(manifest_path))["files"]}
    src_fs, src_root = get_fs(base_url, storage_options)
    del fsspec
    failures = []
    todo = list(dict.fromkeys(files))
    iterator = todo
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(todo, desc="fetching calibration", unit="file")
    for rel in iterator:
        target = join(dest_fs, dest_root, rel)
        if rel in manifest and dest_fs.exists(target) and \
                _sha256(dest_fs.cat_file(target)) == manifest[rel]:
            continue
        data, errors = None, []
        for candidate in _alternatives(rel):
            try:
                data = src_fs.cat_file(join(src_fs, src_root.rstrip("/"), candidate))
                break
            except (FileNotFoundError, OSError) as err:
                errors.append(f"{candidate}: {err}")
        if data is None:
            failures.append(f"{rel}: not found at {base_url} ({'; '.join(errors)[:200]})")
            continue
        try:
            validate_bytes(rel, data)
        except CalibrationFileError as err:
            failures.append(str(err))
            continue
        dest_fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        with dest_fs.open(target, "wb") as handle:
            handle.write(data)
        manifest[rel] = _sha256(data)
    entries = [{"path": p, "sha256": h} for p, h in sorted(manifest.items())]
    with dest_fs.open(manifest_path, "w") as handle:
        json.dump({"source": base_url, "files": entries}, handle, indent=1)
    if failures:
        raise CalibrationFileError(
            f"{len(failures)} calibration files not mirrored: " + "; ".join(failures))
    return dict(sorted(manifest.items()))
