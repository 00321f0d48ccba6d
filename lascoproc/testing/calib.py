"""Synthetic SolarSoft LASCO calibration files, with the real names, layout and formats.

``write_calibration_files(root, ...)`` writes, under ``root`` (which plays ``$NRL_LIB``, i.e.
``$SSW/soho/lasco``), every file that SolarSoft's ``REDUCE_LEVEL_1`` chain reads for C2 and C3,
with plausible, seed-deterministic content. :data:`CALIBRATION_FILES` describes the *real*
files (path pattern below ``$NRL_LIB``, purpose, detector, validity, reading routine) and is
meant to be reused by the calibration-file store.

What each file is, how the IDL routines pick and parse it, and which of those facts were read
in the IDL sources and which were assumed, is written out in ``docs/calibration_files.md``;
the docstrings below only summarise. IDL pixel coordinates are used throughout: 0-based
``(x, y) = (column, row)``; a FITS image of shape ``(1024, 1024)`` is indexed ``[y, x]``.

IDL ``.sav`` files (sun-centre/roll tables, last-corrected day, C2 time offsets) are written as
genuine IDL SAVE files (XDR records, as produced by IDL and read by :func:`scipy.io.readsav`),
``TIME_DIFF.DAT`` in the binary record layout ``time_correction2.pro`` reads, and SOHO's orbit
files as the FITS binary tables SolarSoft's ``get_orbit.pro`` reads, so the store reads
synthetic and real files with the same code. The tree gets a ``MANIFEST.json`` (SHA-256 of every
file), as a mirror made by ``lascoproc calib fetch`` has.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from astropy.io import fits
from astropy.time import Time

from lascoproc.io import calib_store, soho_orbit
from lascoproc.io.lasco_header import parse_header, read_header_bytes
from lascoproc.kernels import ephemeris, lasco_time

__all__ = [
    "CALIBRATION_FILES",
    "DOWNLOAD_BASES",
    "EXPFACTOR_FORMAT",
    "OCCULTER_SLOTS",
    "CalibrationFile",
    "ExposureRecord",
    "exposure_factor_path",
    "exposure_records_from_archive",
    "format_exposure_factor_line",
    "occulter_center_default",
    "write_calibration_files",
    "write_idl_save",
    "write_orbit_file",
    "orbit_file_bytes",
    "synthetic_time_diff",
    "synthetic_frame_headers",
]

# --------------------------------------------------------------------------------------------
# The real files
# --------------------------------------------------------------------------------------------

#: Not synthetic: the real files are described in the calibration store.
CalibrationFile = calib_store.CalibrationFile
CALIBRATION_FILES = calib_store.CALIBRATION_FILES
DOWNLOAD_BASES = calib_store.DOWNLOAD_BASES

#: IDL FORMAT of one exposure-factor line (as quoted from READ_EXP_FACTOR; 101 characters):
#: filename, factor, bias, YYMMDD of MID_DATE, MID_TIME (s of day), filter, polarizer,
#: wavelength, number of regions, sigma.
EXPFACTOR_FORMAT = "(a12,f10.6,f10.1,2x,a6,2x,f10.2,2x,a12,a12,a9,i4,e10.2)"

_CALIB = "lasco/data/calib"
_SOHO_LAUNCH = "1995-12-02"
_C3_INTERRUPTION = "1998-07-06"   # c3_calibrate.pro 1.54: MJD < 51000 -> pre-interruption vig
_RECOVERY = "1998-07-01"          # adjust_hdr_tcr.pro 1.12/1.13: date < '1998/07/01' -> pre


# --------------------------------------------------------------------------------------------
# Exposure records (one per level-0.5 frame)
# --------------------------------------------------------------------------------------------

_DEFAULT_FILTER = {"C2": ("Orange", "Clear"), "C3": ("Clear", "Clear")}


@dataclasses.dataclass(frozen=True)
class ExposureRecord:
    """What an exposure-factor line needs from one level-0.5 frame (its header values).

    ``date_obs`` is ``'YYYY/MM/DD'``, ``time_obs`` ``'HH:MM:SS.sss'`` (level-0.5 style),
    ``mid_date`` the MJD and ``mid_time`` the seconds of that day of mid-exposure, ``bias`` the
    bias to write in the table (DN). ``filter``/``polar`` default to the detector's usual pair.
    """

    detector: str
    filename: str
    date_obs: str
    time_obs: str
    exptime: float
    mid_date: int
    mid_time: float
    bias: float
    filter: str | None = None
    polar: str | None = None

    @classmethod
    def coerce(cls, item: ExposureRecord | Sequence[Any]) -> ExposureRecord:
        """Accept a record or an 8-10 tuple in the field order."""
        record = item if isinstance(item, cls) else cls(*item)
        det = record.detector.strip().upper()
        filt, pol = _DEFAULT_FILTER.get(det, ("Clear", "Clear"))
        return dataclasses.replace(
            record, detector=det, filename=record.filename.strip(),
            mid_date=int(record.mid_date), mid_time=float(record.mid_time),
            exptime=float(record.exptime), bias=float(record.bias),
            filter=record.filter or filt, polar=record.polar or pol)


def exposure_records_from_archive(archive_root: str | os.PathLike) -> list[ExposureRecord]:
    """Read the headers of a synthetic level-0.5 archive into :class:`ExposureRecord`\\ s.

    Looks at ``<archive_root>/level_05/YYMMDD/c2|c3/*.fts`` (the layout written by
    ``lascoproc.testing.lasco.write_lasco_archive``); the table bias is the frame's ``OFFSET``.
    Only the headers are read (:func:`lascoproc.io.lasco_header.read_header_bytes`), so
    truncated files still give a record; files that are not FITS or lack one of the keywords
    are skipped.
    """
    records = []
    for path in sorted(Path(archive_root).glob("level_05/*/c[23]/*.fts")):
        try:
            with open(path, "rb") as fileobj:
                header = parse_header(read_header_bytes(fileobj))
            values = (str(header["DETECTOR"]), str(header.get("FILENAME", path.name)),
                      str(header["DATE-OBS"]), str(header["TIME-OBS"]),
                      float(header["EXPTIME"]), int(header["MID_DATE"]),
                      float(header["MID_TIME"]), float(header["OFFSET"]),
                      str(header.get("FILTER", "")).strip() or None,
                      str(header.get("POLAR", "")).strip() or None)
        except (OSError, KeyError, ValueError):
            continue
        records.append(ExposureRecord.coerce(values))
    return records


# --------------------------------------------------------------------------------------------
# Frame headers without files (planning tests and benchmarks)
# --------------------------------------------------------------------------------------------

#: Readouts of :func:`synthetic_frame_headers`: ``(R1COL, R1ROW, R2COL, R2ROW, SUMCOL, SUMROW,
#: LEBXSUM, LEBYSUM)`` per frame shape.
_READOUTS = {
    (1024, 1024): ((20, 1, 1043, 1024, 0, 0, 1, 1),),
    (512, 512): ((20, 1, 1043, 1024, 0, 0, 2, 2), (20, 1, 1043, 1024, 2, 2, 1, 1)),
    (480, 640): ((200, 290, 839, 769, 0, 0, 1, 1),),
}
_FILTERS = {"C2": (("Orange", "Clear"), ("Blue", "Clear"), ("Orange", "+60 Deg"),
                   ("Orange", "PB"), ("Deep Red", "+60 Deg"), ("Lens", "Clear")),
            "C3": (("Clear", "Clear"), ("Orange", "Clear"), ("Clear", "-60 Deg"),
                   ("Clear", "H_ALPHA"), ("IR", "Clear"), ("Clear", "Qs"))}


def synthetic_frame_headers(
    *, start: str = "2002-05-21", days: int = 2, frames_per_day: int = 100,
    detector: str = "C3", shape: tuple[int, int] = (1024, 1024), seed: int = 0,
    roll: float = -0.3, roll_drift: float = 0.003, keyhole_every: int = 0,
    special_every: int = 0, unknown_filter_every: int = 0, bad_window_every: int = 0,
    table_fraction: float = 0.8, history_version: str = "1.24", with_records: bool = True,
) -> tuple[xr.Dataset, list[ExposureRecord]]:
    """Level-0.5 header values of many frames, as :func:`lascoproc.io.lasco_cube.
    open_lasco_frames` returns them (no pixel, no file), and the exposure-factor lines of those
    the tables list. Vectorised: a million frames take seconds.

    Parameters
    ----------
    detector, shape
        ``"C2"``/``"C3"``; ``(1024, 1024)`` full frames, ``(512, 512)`` 2 x 2 summed (LEB and
        on-chip alternately), ``(480, 640)`` a subfield.
    roll, roll_drift
        ``CROTA1`` of the first frame and its change per frame (degrees), as the attitude of
        real frames drifts.
    keyhole_every, special_every, unknown_filter_every, bad_window_every
        Every k-th frame (0: none) is a keyhole frame (``CROTA1`` + 180), takes the next of the
        detector's less common filter/polarizer pairs (polarized, polarisation products, pairs
        IDL gives no factor), has an unknown filter, or a read-out window outside the CCD.
    table_fraction
        Fraction of frames the exposure-factor tables list (the others fall back to the bias
        in their HISTORY or to ``offset_bias``).
    history_version
        ``offset_bias.pro`` version of the HISTORY line every frame carries (``"1.32"`` as in
        2023 frames, ``"1.24"`` as in 2002 ones).
    with_records
        Build the :class:`ExposureRecord` list (one Python object per listed frame); without,
        an empty list.
    """
    det = detector.upper()
    rng = np.random.default_rng([seed, 51, int(det[1])])
    n = days * frames_per_day
    step = 86_400_000 // frames_per_day
    first = np.datetime64(str(start)[:10], "ms")
    offsets = np.arange(n, dtype=np.int64) * step + rng.integers(0, step // 2, n)
    time = first + offsets.astype("timedelta64[ms]")
    exptime = np.round((25.1 if det == "C2" else 19.1) + rng.normal(0.0, 0.05, n), 4)
    mid = time + np.rint(exptime * 500.0).astype(np.int64).astype("timedelta64[ms]")
    mid_date = lasco_time.mjd_of(mid).astype(np.int32)
    mid_time = np.round(lasco_time.ms_of_day(mid) / 1000.0, 3)
    readouts = _READOUTS[tuple(shape)]
    pick = np.array(readouts)[np.arange(n) % len(readouts)]
    r1col, r1row, r2col, r2row, sumcol, sumrow, lebx, leby = pick.T
    if bad_window_every:
        r2col = np.where(np.arange(n) % bad_window_every == bad_window_every - 1, 1100, r2col)
    crota1 = np.round(roll + roll_drift * np.arange(n), 5)
    if keyhole_every:
        crota1 = np.where(np.arange(n) % keyhole_every == keyhole_every // 2,
                          np.round(crota1 + 180.0, 5), crota1)
    pairs = _FILTERS[det]
    which = np.zeros(n, dtype=np.int64)
    if special_every:
        special = np.arange(n) % special_every == special_every - 1
        which[special] = 1 + (np.arange(n)[special] // special_every) % (len(pairs) - 1)
    filt = np.array([p[0] for p in pairs], dtype=object)[which]
    polar = np.array([p[1] for p in pairs], dtype=object)[which]
    if unknown_filter_every:
        filt = np.where(np.arange(n) % unknown_filter_every == 1, "Weird", filt)
    xsum = np.maximum(sumcol, 1) * np.maximum(lebx, 1)
    ysum = np.maximum(sumrow, 1) * np.maximum(leby, 1)
    centre = (512.0, 505.0) if det == "C2" else (518.2, 532.5)
    crpix1 = np.round((centre[0] - (r1col - 20)) / xsum + 1.0, 3)
    crpix2 = np.round((centre[1] - (r1row - 1)) / ysum + 1.0, 3)
    bias = np.array([_offset_bias_guess(det, m) for m in np.unique(mid_date)])[
        np.searchsorted(np.unique(mid_date), mid_date)]
    serial = 10_000_000 * int(det[1]) + np.arange(n) % 10_000_000
    names = np.array([f"{k:08d}.fts" for k in serial], dtype=object)
    coords = {
        "time": ("time", time.astype("datetime64[ns]")),
        "filename": ("time", names),
        "fileorig": ("time", np.full(n, "", dtype=object)),
        "detector": ("time", np.full(n, det, dtype=object)),
        "filter": ("time", filt),
        "polarizer": ("time", polar),
        "lp_num": ("time", np.full(n, "Normal", dtype=object)),
        "exptime": ("time", exptime),
        "expcmd": ("time", np.round(exptime)),
        "offset": ("time", np.round(bias, 3)),
        "mid_date": ("time", mid_date),
        "mid_time": ("time", mid_time),
        "readport": ("time", np.full(n, "C", dtype=object)),
        "r1col": ("time", r1col.astype(np.int16)), "r1row": ("time", r1row.astype(np.int16)),
        "r2col": ("time", r2col.astype(np.int16)), "r2row": ("time", r2row.astype(np.int16)),
        "sumcol": ("time", sumcol.astype(np.int16)), "sumrow": ("time", sumrow.astype(np.int16)),
        "lebxsum": ("time", lebx.astype(np.int16)), "lebysum": ("time", leby.astype(np.int16)),
        "crpix1": ("time", crpix1), "crpix2": ("time", crpix2),
        "crota1": ("time", crota1), "cdelt1": ("time", np.full(n, 56.0)),
        "os_num": ("time", np.full(n, 4180, dtype=np.int32)),
        "bias_history": ("time", np.round(bias + 0.3, 3)),
        "bias_history_version": ("time", np.full(n, history_version, dtype=object)),
        "path": ("time", names),
    }
    ds = xr.Dataset(coords=coords, attrs={
        "title": f"synthetic SOHO/LASCO {det} level-0.5 frame headers", "detector": det,
        "frame_shape": f"{shape[0]}x{shape[1]}", "source_archive": "synthetic"})
    listed = rng.random(n) < table_fraction
    if not with_records:
        return ds, []
    date_text = np.datetime_as_string(time, unit="D")
    time_text = np.datetime_as_string(time, unit="ms")
    records = [ExposureRecord(det, names[i], date_text[i].replace("-", "/"), time_text[i][11:],
                              float(exptime[i]), int(mid_date[i]), float(mid_time[i]),
                              float(np.round(bias[i] + 0.2, 1)), str(filt[i]), str(polar[i]))
               for i in np.flatnonzero(listed)]
    return ds, records


def _offset_bias_guess(detector: str, mjd: int) -> float:
    """A plausible bias of the day (CCD bias drifts slowly): the ``offset_bias`` polynomial of
    2002 for C2/C3 extrapolated flat."""
    return (590.0 if detector == "C2" else 379.0) + 0.003 * (int(mjd) - 52415)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

def write_calibration_files(
    root: str | os.PathLike,
    *,
    start: str = "2002-05-21",
    days: int = 2,
    seed: int = 0,
    detectors: Iterable[str] = ("c2", "c3"),
    exposures: Iterable[ExposureRecord | Sequence[Any]] | None = None,
    predictive_orbit: bool = True,
) -> dict[str, str]:
    """Write every calibration file of the level-1 chain under ``root`` (= ``$NRL_LIB``).

    Parameters
    ----------
    root
        Directory playing ``$NRL_LIB``; created if needed.
    start, days
        The observing days the tables must cover (``start`` inclusive, ISO date).
    seed
        Everything written is a deterministic function of the arguments.
    detectors
        ``"c2"`` and/or ``"c3"``; files shared by both are always written.
    exposures
        Optional frames (:class:`ExposureRecord` or ``(detector, filename, date_obs, time_obs,
        exptime, mid_date, mid_time, bias[, filter, polar])``) the exposure-factor tables must
        list, e.g. :func:`exposure_records_from_archive` of a synthetic archive. Only their
        days get tables then. Without it, tables list generic frames every 20 min (C2) and
        30 min (C3) on each of the ``days``.
    predictive_orbit
        Also write predictive SOHO orbit files (for the span and the three days after it).

    Besides the files of the level-1 chain: ``TIME_DIFF.DAT`` from 1997-04-11 to two days after
    the span (:func:`synthetic_time_diff`), the three C2 star time-offset files of 1996-1997,
    SOHO orbit files (definitive for the span's days, predictive for those and the three days
    after) and ``MANIFEST.json``.

    Returns
    -------
    dict
        Logical name -> path relative to ``root`` (POSIX), for every file written; the
        exposure-factor tables are named ``"c2_expfactor_YYMMDD"``.
    """
    root = Path(root)
    dets = sorted({d.strip().upper() for d in detectors})
    unknown = set(dets) - {"C2", "C3"}
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; expected c2 and/or c3")
    first = dt.date.fromisoformat(str(start)[:10])
    if days < 1:
        raise ValueError("days must be at least 1")
    span = (first, first + dt.timedelta(days=days))
    written: dict[str, str] = {}

    def put(name: str, relpath: str) -> Path:
        written[name] = relpath
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    if "C2" in dets:
        _write_c2_images(put, seed)
    if "C3" in dets:
        _write_c3_images(put, seed)
    records = (_generic_records(dets, span, seed) if exposures is None
               else [r for r in map(ExposureRecord.coerce, exposures) if r.detector in dets])
    _write_exposure_tables(put, records, seed)
    _write_occulter_tables(put, span, seed)
    _write_roll_center_tables(put, dets, span, seed)
    _write_time_offsets(put, span, seed)
    _write_time_diff(put, span, seed)
    _write_c2_star_offsets(put, seed)
    _write_orbit_files(put, span, seed, predictive=predictive_orbit)
    calib_store.write_manifest(str(root), source="lascoproc synthetic calibration files")
    _set_mtime(root / calib_store.MANIFEST_NAME, "2002-01-01")
    return written


# --------------------------------------------------------------------------------------------
# Images: vignetting, mask, ramp, background
# --------------------------------------------------------------------------------------------

_SHAPE = (1024, 1024)


@dataclasses.dataclass(frozen=True)
class _Optics:
    """Synthetic optical geometry of one coronagraph, in full-frame IDL pixels."""

    center: tuple[float, float]   # occulter centre (x, y)
    occulter: float               # radius where transmission reaches 0
    ramp_width: float             # radial distance over which it rises to 1
    field_stop: tuple[float, float]  # transmission falls from 1 to 0 between these radii
    pylon_angle: float            # degrees, counter-clockwise from +x
    pylon_halfwidth: float


#: Occulter centres are OCCLTR_CNTR's defaults (facts); radii are synthetic choices from the
#: plate scales (11.9 and 56 arcsec/pixel) and the nominal fields (2-6, 3.7-30 Rsun).
_OPTICS = {
    "C2": _Optics((512.634, 505.293), 150.0, 130.0, (455.0, 560.0), 225.0, 22.0),
    "C3": _Optics((516.284, 529.489), 58.0, 80.0, (470.0, 532.0), 225.0, 14.0),
}


def occulter_center_default(detector: str) -> tuple[float, float]:
    """OCCLTR_CNTR's built-in default occulter centre (IDL pixels) for ``"C2"``/``"C3"``."""
    return _OPTICS[detector.upper()].center


def _transmission(det: str, rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    """Fraction of light reaching each pixel: 0 behind occulter/pylon/field stop, ~1 mid-field.

    ``T = inner(r) * outer(r) * pylon * (1 + tilt)``, with ``inner`` rising as a smoothstep
    from the occulter edge, ``outer`` a cosine taper at the field stop, and the pylon a
    Gaussian shadow along its direction beyond the occulter.
    """
    opt = _OPTICS[det]
    y, x = np.mgrid[0:_SHAPE[0], 0:_SHAPE[1]].astype(np.float64)
    dx, dy = x - opt.center[0] - shift, y - opt.center[1]
    r = np.hypot(dx, dy)
    s = np.clip((r - opt.occulter) / opt.ramp_width, 0.0, 1.0)
    inner = s * s * (3.0 - 2.0 * s)
    r0, r1 = opt.field_stop
    taper = np.cos(0.5 * np.pi * np.clip((r - r0) / (r1 - r0), 0.0, 1.0)) ** 2
    outer = np.where(r <= r0, 1.0, np.where(r >= r1, 0.0, taper))
    theta = np.deg2rad(opt.pylon_angle)
    along = dx * np.cos(theta) + dy * np.sin(theta)
    across = -dx * np.sin(theta) + dy * np.cos(theta)
    shadow = np.where(along > 0, 0.97 * np.exp(-((across / opt.pylon_halfwidth) ** 2)), 0.0)
    gx, gy = rng.uniform(-0.02, 0.02, size=2)
    tilt = 1.0 + gx * dx / 512.0 + gy * dy / 512.0
    return inner * outer * (1.0 - shadow) * tilt


def _vignetting_correction(transmission: np.ndarray) -> np.ndarray:
    """The file content: ``1/T`` where ``T >= 0.01``, else 0 (as the IDL readers expect)."""
    t = np.asarray(transmission)
    out = np.zeros(t.shape, dtype=np.float32)
    ok = t >= 0.01
    out[ok] = (1.0 / t[ok]).astype(np.float32)
    return out


def _image_header(filename: str, detector: str, comments: Sequence[str],
                  extra: Mapping[str, Any] | None = None) -> fits.Header:
    header = fits.Header()
    header["FILENAME"] = filename
    header["TELESCOP"] = "SOHO"
    header["INSTRUME"] = "LASCO"
    header["DETECTOR"] = detector
    for key, value in (extra or {}).items():
        header[key] = value
    header["ORIGIN"] = ("lascoproc", "synthetic calibration file")
    for line in comments:
        header["COMMENT"] = line
    return header


def _write_fits(path: Path, data: np.ndarray, header: fits.Header, mtime: str) -> None:
    fits.PrimaryHDU(data=data, header=header).writeto(path, overwrite=True)
    _set_mtime(path, mtime)


def _set_mtime(path: Path, date: str) -> None:
    """Fixed modification time: IDL writes FILE_DATE_MOD of calibration files into HISTORY."""
    stamp = dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))


def _write_c2_images(put, seed: int) -> None:
    transmission = _transmission("C2", np.random.default_rng([seed, 2, 1]))
    vig = _vignetting_correction(transmission)
    _write_fits(put("c2_vignetting", f"{_CALIB}/c2vig_final.fts"), vig, _image_header(
        "c2vig_final.fts", "C2",
        ["Synthetic inverted vignetting: multiply the DN/s image by this array.",
         "0 where the transmission is below 1 percent (occulter, pylon, corners)."],
        {"FILTER": "Orange", "POLAR": "Clear"}), "2005-09-20")
    blocks = _null_blocks(transmission)
    path = put("c2_null_blocks", f"{_CALIB}/c2nullblocks.txt")
    path.write_text(" ".join(str(b) for b in blocks) + "\n", encoding="ascii")
    _set_mtime(path, "2002-09-17")


def _null_blocks(transmission: np.ndarray) -> list[int]:
    """Indices ``row*32 + col`` of the 32x32-pixel blocks that receive no light at all."""
    blocks = transmission.reshape(32, 32, 32, 32).max(axis=(1, 3))
    return [int(i) for i in np.flatnonzero(blocks <= 0.0)]


def _write_c3_images(put, seed: int) -> None:
    pre = _transmission("C3", np.random.default_rng([seed, 3, 1]))
    post = _transmission("C3", np.random.default_rng([seed, 3, 2]), shift=-0.5)
    vig_note = ["Synthetic inverted vignetting: multiply the DN/s image by this array.",
                "0 where the transmission is below 1 percent (occulter, pylon, corners)."]
    clear = {"FILTER": "Clear", "POLAR": "Clear"}
    _write_fits(put("c3_vignetting_preint", f"{_CALIB}/c3vig_preint_final.fts"),
                _vignetting_correction(pre),
                _image_header("c3vig_preint_final.fts", "C3",
                              vig_note + ["For MJD < 51000 (before 1998-07-06)."], clear),
                "2005-07-28")
    _write_fits(put("c3_vignetting_postint", f"{_CALIB}/c3vig_postint_final.fts"),
                _vignetting_correction(post),
                _image_header("c3vig_postint_final.fts", "C3",
                              vig_note + ["For MJD >= 51000 (from 1998-07-06)."], clear),
                "2005-07-28")
    mask = (post >= 0.1).astype(np.uint8)
    _write_fits(put("c3_mask", f"{_CALIB}/c3_cl_mask_lvl1.fts"), mask, _image_header(
        "c3_cl_mask_lvl1.fts", "C3", ["Synthetic mask: 1 keep, 0 occulter/pylon/outside."],
        clear), "2005-07-28")
    rng = np.random.default_rng([seed, 3, 3])
    y, x = np.mgrid[0:_SHAPE[0], 0:_SHAPE[1]].astype(np.float64)
    a, b = rng.uniform(0.8, 1.2, size=2)
    # a few per cent of the outer-field corona (C3 Clear), like the real ramp
    ramp = (1.0e-13 + 5.0e-13 * (a * x + b * (1023.0 - y)) / 2046.0).astype(np.float32)
    _write_fits(put("c3_ramp", f"{_CALIB}/C3ramp.fts"), ramp, _image_header(
        "C3ramp.fts", "C3", ["Synthetic stray-light ramp, MSB; subtract, do not vignette."],
        {**clear, "BUNIT": "MSB"}), "2001-11-08")
    _write_fits(put("c3_background", f"{_CALIB}/3m_clcl_all.fts"),
                _c3_background(post, np.random.default_rng([seed, 3, 4])),
                _background_header(), "2002-07-05")


def _c3_background(transmission: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Monthly-minimum-like model in DN (bias removed): ``B = B0 (r/100)^-2.3 T``."""
    opt = _OPTICS["C3"]
    y, x = np.mgrid[0:_SHAPE[0], 0:_SHAPE[1]].astype(np.float64)
    r = np.maximum(np.hypot(x - opt.center[0], y - opt.center[1]), opt.occulter)
    b0 = rng.uniform(1800.0, 2200.0)
    return (b0 * (r / 100.0) ** -2.3 * transmission).astype(np.float32)


def _background_header() -> fits.Header:
    """LASCO-style header: C3_CALIBRATE reads EXPTIME through LASCO_READFITS."""
    return _image_header("3m_clcl_all.fts", "C3", [
        "Synthetic C3 Clear/Clear background model in DN (bias removed).",
        "C3_CALIBRATE uses 0.8*image/EXPTIME to fill missing blocks."], {
        "FILEORIG": "", "DATE-OBS": "2002/05/01", "TIME-OBS": "00:00:00.000",
        "EXPTIME": 19.1, "FILTER": "Clear", "POLAR": "Clear", "READPORT": "C",
        "R1COL": 20, "R1ROW": 1, "R2COL": 1043, "R2ROW": 1024,
        "SUMCOL": 0, "SUMROW": 0, "LEBXSUM": 1, "LEBYSUM": 1})


# --------------------------------------------------------------------------------------------
# Exposure-factor tables
# --------------------------------------------------------------------------------------------

def exposure_factor_path(detector: str, day: dt.date) -> str:
    """``lasco/expfac/data/YYMM/<det>_expfactor_YYMMDD.dat`` (below ``$NRL_LIB``)."""
    yymmdd = day.strftime("%y%m%d")
    return f"lasco/expfac/data/{yymmdd[:4]}/{detector.lower()}_expfactor_{yymmdd}.dat"


def _mjd_to_date(mjd: int) -> dt.date:
    return dt.date(1858, 11, 17) + dt.timedelta(days=int(mjd))


def _date_to_mjd(day: dt.date) -> int:
    return (day - dt.date(1858, 11, 17)).days


def format_exposure_factor_line(record: ExposureRecord, factor: float, nregion: int,
                                sigma: float, wavelength: str = "") -> str:
    """One table line in :data:`EXPFACTOR_FORMAT` (IDL right-justifies ``a`` fields).

    Columns (0-based, end exclusive): filename 0-12, factor 12-22, bias 22-32, YYMMDD of
    MID_DATE 34-40, MID_TIME 42-52, filter 54-66, polarizer 66-78, wavelength 78-87,
    nregion 87-91, sigma 91-101.
    """
    yymmdd = _mjd_to_date(record.mid_date).strftime("%y%m%d")
    line = (f"{record.filename[:12]:>12s}{factor:10.6f}{record.bias:10.1f}  {yymmdd:>6s}  "
            f"{record.mid_time:10.2f}  {record.filter[:12]:>12s}{record.polar[:12]:>12s}"
            f"{wavelength[:9]:>9s}{nregion:4d}{sigma:10.2e}")
    if len(line) != 101:
        raise ValueError(f"a value does not fit the fixed format: {line!r}")
    return line


def _write_exposure_tables(put, records: Sequence[ExposureRecord], seed: int) -> None:
    """One file per (detector, day); a frame is listed under its MID_DATE day and, when the
    exposure straddles midnight, under its DATE-OBS day too (the IDL file key is unconfirmed).
    """
    tables: dict[tuple[str, dt.date], list[str]] = {}
    for rec in sorted(records, key=lambda r: (r.detector, r.mid_date, r.mid_time, r.filename)):
        rng = np.random.default_rng([seed, zlib.crc32(f"{rec.detector}{rec.filename}".encode())])
        factor = 1.0 + rng.normal(0.0, 0.004)
        nregion = int(rng.integers(6, 40))
        sigma = float(rng.uniform(4e-4, 3e-3))
        line = format_exposure_factor_line(rec, factor, nregion, sigma)
        days = {_mjd_to_date(rec.mid_date),
                dt.date.fromisoformat(rec.date_obs.strip().replace("/", "-")[:10])}
        for day in sorted(days):
            tables.setdefault((rec.detector, day), []).append(line)
    for (det, day), lines in sorted(tables.items()):
        rel = exposure_factor_path(det, day)
        path = put(f"{det.lower()}_expfactor_{day:%y%m%d}", rel)
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
        _set_mtime(path, (day + dt.timedelta(days=60)).isoformat())


def _generic_records(dets: Sequence[str], span: tuple[dt.date, dt.date],
                     seed: int) -> list[ExposureRecord]:
    """Frames every 20 min (C2, EXPTIME ~25 s) and 30 min (C3, ~19 s) on each day."""
    cadence = {"C2": (1200.0, 300.0, 25.1, 590.0), "C3": (1800.0, 1086.5, 19.1, 379.0)}
    out = []
    for det in dets:
        step, first, exptime, bias = cadence[det]
        rng = np.random.default_rng([seed, int(det[1]), 7])
        serial = 88000 + 1000 * int(rng.integers(0, 100))
        day = span[0]
        while day < span[1]:
            t = first
            while t + exptime < 86400.0:
                start = t + float(rng.uniform(0.0, 20.0))
                exp = exptime + float(rng.normal(0.0, 0.05))
                hh, rem = divmod(start, 3600.0)
                mm, ss = divmod(rem, 60.0)
                out.append(ExposureRecord.coerce((
                    det, f"{det[1]}{serial:07d}.fts", f"{day:%Y/%m/%d}",
                    f"{int(hh):02d}:{int(mm):02d}:{ss:06.3f}", round(exp, 4),
                    _date_to_mjd(day), round(start + exp / 2.0, 3),
                    round(bias + float(rng.normal(0.0, 0.3)), 3))))
                serial += 1
                t += step
            day += dt.timedelta(days=1)
    return out


# --------------------------------------------------------------------------------------------
# Occulter centres
# --------------------------------------------------------------------------------------------

#: Filter-slot order assumed for CNVRT_FILTER (unconfirmed: the routine was not found); each
#: line also carries a ``<camera> <filter>`` annotation from column 31 so readers can match
#: by name.
OCCULTER_SLOTS = {
    "C1": ("slot0", "slot1", "slot2", "slot3", "slot4"),
    "C2": ("Orange", "Blue", "Deep Red", "Halpha", "Lens"),
    "C3": ("Orange", "Blue", "Clear", "Deep Red", "IR"),
    "EIT": ("slot0", "slot1", "slot2", "slot3", "slot4"),
}
_OTHER_DEFAULTS = {"C1": (511.029, 494.521), "EIT": (505.5, 514.3)}


def _write_occulter_tables(put, span: tuple[dt.date, dt.date], seed: int) -> None:
    rng = np.random.default_rng([seed, 11])
    lines = ["  XCEN    YCEN  VALID-FROM      CAMERA FILTER (synthetic occulter_center.dat)"]
    for cam, slots in OCCULTER_SLOTS.items():
        x0, y0 = _OTHER_DEFAULTS.get(cam) or _OPTICS[cam].center
        for slot in slots:
            x, y = x0 + rng.uniform(-0.2, 0.2), y0 + rng.uniform(-0.2, 0.2)
            text = f"{x:7.3f} {y:7.3f} {'1995/12/02':10s}"
            lines.append(f"{text:<31s}{cam} {slot}")
            lines.append("")  # second validity slot unused (READ_OCC_DAT gives mjd = 0)
    path = put("occulter_center", "lasco/convert/occulter_center.dat")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    _set_mtime(path, "2001-12-07")

    rng = np.random.default_rng([seed, 12])
    x0, y0 = _OPTICS["C3"].center
    rows = ["C3 occulter centre, IDL pixels (synthetic)", "DATE XCEN YCEN"]
    dates, day = {span[0]}, dt.date(1996, 1, 16)
    while day <= span[1]:
        dates.add(day)
        day = _add_months(day, 6)
    for day in sorted(dates):
        jump = 1.5 if day >= dt.date(1999, 2, 20) else 0.0
        x = x0 + 0.1 + rng.normal(0.0, 0.05)
        y = y0 + 0.2 + jump + rng.normal(0.0, 0.05)
        rows.append(f"{day:%Y/%m/%d} {x:.3f} {y:.3f}")
    path = put("c3_occulter_center", "lasco/convert/c3_occltr_cntr.dat")
    path.write_text("\n".join(rows) + "\n", encoding="ascii")
    _set_mtime(path, "2001-12-07")


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, min(day.day, 28))


# --------------------------------------------------------------------------------------------
# Sun centre and roll tables (IDL SAVE)
# --------------------------------------------------------------------------------------------

#: Typical sun centre (IDL pixels) and roll (degrees) of the synthetic tables.
_SUN = {("C2", "pre"): (513.1, 505.9, 0.45), ("C2", "post"): (513.4, 506.1, 0.5),
        ("C3", "pre"): (516.6, 530.2, -0.2), ("C3", "post"): (516.96, 531.63, -0.23)}
_TAI_EPOCH = Time("1958-01-01T00:00:00", scale="tai")


def _write_roll_center_tables(put, dets: Sequence[str], span: tuple[dt.date, dt.date],
                              seed: int) -> None:
    """``C_TAI`` (s since 1958 TAI, +32.184 s), ``C_UTC`` {MJD, TIME}, ``C_DT``, raw
    ``C_X/C_Y/C_R`` and 5-point running medians ``C_XMED/C_YMED/C_RMED``.
    """
    recovery = dt.date.fromisoformat(_RECOVERY)
    for det in dets:
        for era in ("pre", "post"):
            if era == "pre":
                times = _daily(dt.date(1996, 1, 15), dt.date(1998, 6, 24), 30)
            else:
                window = (span[0] - dt.timedelta(days=1), span[1] + dt.timedelta(days=1))
                anchors = [t for t in _daily(recovery, window[0], 30) if t < _midnight(window[0])]
                times = anchors + _dense(window, 1800.0)
            rng = np.random.default_rng([seed, int(det[1]), 21 if era == "pre" else 22])
            variables = _roll_center_variables(times, _SUN[(det, era)], rng)
            name = f"{det.lower()}_roll_center_{era}"
            rel = f"{_CALIB}/{det.lower()}_{era}_recovery_adj_xyr_medv2.sav"
            path = put(name, rel)
            write_idl_save(path, variables)
            _set_mtime(path, "2012-11-05")
    last = {d: span[1] + dt.timedelta(days=25 if d == "C3" else 30) for d in ("C2", "C3")}
    path = put("last_post_recovery_day", f"{_CALIB}/c2_c3_last_post_recovery_day.sav")
    write_idl_save(path, {"LAST_DAY": min(last.values()).isoformat(),
                          "C2_LAST_DAY": last["C2"].isoformat(),
                          "C3_LAST_DAY": last["C3"].isoformat()})
    _set_mtime(path, "2012-11-05")


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def _daily(first: dt.date, last: dt.date, every: int) -> list[dt.datetime]:
    out, day = [], first
    while day <= last:
        out.append(_midnight(day) + dt.timedelta(hours=12))
        day += dt.timedelta(days=every)
    return out


def _dense(window: tuple[dt.date, dt.date], step: float) -> list[dt.datetime]:
    t, end, out = _midnight(window[0]), _midnight(window[1]), []
    while t <= end:
        out.append(t)
        t += dt.timedelta(seconds=step)
    return out


def _roll_center_variables(times: Sequence[dt.datetime], typical: tuple[float, float, float],
                           rng: np.random.Generator) -> dict[str, Any]:
    from scipy.ndimage import median_filter

    n = len(times)
    utc = Time(list(times), scale="utc")
    tai = (utc.tai - _TAI_EPOCH).sec + 32.184
    mjd = np.array([_date_to_mjd(t.date()) for t in times], dtype=np.int32)
    msec = np.array([round((t - _midnight(t.date())).total_seconds() * 1000) for t in times],
                    dtype=np.int32)
    x0, y0, r0 = typical
    drift = np.linspace(-0.1, 0.1, n)
    c_x = x0 + drift + rng.normal(0.0, 0.25, n)
    c_y = y0 - drift + rng.normal(0.0, 0.25, n)
    c_r = r0 + rng.normal(0.0, 0.03, n)
    med = {k: median_filter(v, size=5, mode="nearest") for k, v in
           (("x", c_x), ("y", c_y), ("r", c_r))}
    return {
        "C_DT": np.array([f"{t:%Y/%m/%d %H:%M:%S}.000" for t in times], dtype=object),
        "C_R": c_r, "C_RMED": med["r"], "C_TAI": tai,
        "C_UTC": _StructArray("CDS_INT_TIME", {"MJD": mjd, "TIME": msec}),
        "C_X": c_x, "C_XMED": med["x"], "C_Y": c_y, "C_YMED": med["y"],
    }


# --------------------------------------------------------------------------------------------
# Legacy time-offset table
# --------------------------------------------------------------------------------------------

def _write_time_offsets(put, span: tuple[dt.date, dt.date], seed: int) -> None:
    """Columns MJD, TIME (ms of day), XPOS, MOVED, OFFSET (s), after two header lines."""
    rng = np.random.default_rng([seed, 31])
    rows = ["C2 time offsets (synthetic; format from ports of ADJUST_DATE_OBS)",
            "MJD TIME XPOS MOVED OFFSET"]
    for t in _daily(dt.date(1996, 1, 15), span[1] + dt.timedelta(days=10), 61):
        offset = -36.0 + rng.normal(0.0, 2.0)
        rows.append(f"{_date_to_mjd(t.date())} {43200000} {512.0 + rng.normal(0, 0.2):.2f} "
                    f"0 {offset:.3f}")
    path = put("c2_time_offsets", "lasco/data_anal/data/c2_time_offsets.dat")
    path.write_text("\n".join(rows) + "\n", encoding="ascii")
    _set_mtime(path, "2005-09-22")


# --------------------------------------------------------------------------------------------
# TIME_DIFF.DAT and the C2 star time offsets (time_correction2.pro v1.5)
# --------------------------------------------------------------------------------------------

#: The first record of the real TIME_DIFF.DAT (``time_correction2.pro``: "starts from
#: 1997-04-11") and record 313887, the last big-endian one ("= 2005-12-23T16:53:10.541").
_TIME_DIFF_FIRST = np.datetime64("1997-04-11T00:00:00.000", "ms")
_TIME_DIFF_313887 = np.datetime64("2005-12-23T16:53:10.541", "ms")


def synthetic_time_diff(end: np.datetime64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Records ``(w0, w1)`` of a synthetic ``TIME_DIFF.DAT`` from 1997-04-11 to ``end``.

    The cadence (~14.6 min) puts record 313887 at 2005-12-23T16:53:10.541 as in the real file,
    so ``MODIFIED_BINARY_SEARCH`` (which starts at record 320000 from 2005-12-23 16:53:11 on)
    finds the same records it would in the real one. ``w0 - w1`` (the OBE - LOBT difference)
    is ``40 + 15 sin(2 pi t / 365.25 d)`` s plus 0.1 s noise, positive as every real value;
    every 4999th record holds a bad value (+2000 s), which ``TIME_CORRECTION2`` replaces by the
    median of its neighbours.
    """
    step = (_TIME_DIFF_313887 - _TIME_DIFF_FIRST) / np.timedelta64(1, "ms") / (313887 - 1)
    n = int((np.datetime64(end, "ms") - _TIME_DIFF_FIRST) / np.timedelta64(1, "ms") // step) + 2
    offsets = np.rint(np.arange(n) * step).astype(np.int64)
    w1 = _TIME_DIFF_FIRST + offsets.astype("timedelta64[ms]")
    days = offsets / 86_400_000.0
    rng = np.random.default_rng([seed, 41])
    delta = 40.0 + 15.0 * np.sin(2 * np.pi * days / 365.25) + rng.normal(0.0, 0.1, n)
    delta[4998::4999] += 2000.0
    w0 = w1 + np.rint(delta * 1000.0).astype(np.int64).astype("timedelta64[ms]")
    return w0, w1


def _write_time_diff(put, span: tuple[dt.date, dt.date], seed: int) -> None:
    end = np.datetime64(span[1] + dt.timedelta(days=2), "ms")
    w0, w1 = synthetic_time_diff(end, seed)
    path = put("time_diff", f"{_CALIB}/TIME_DIFF.DAT")
    path.write_bytes(lasco_time.time_diff_bytes(w0, w1))
    _set_mtime(path, "2012-11-05")


def _write_c2_star_offsets(put, seed: int) -> None:
    """``C2_OFFSETS`` (s, float32), ``C2_UTC_DATES`` (CDS times) and ``C2_DATES`` (ECS
    strings ``YYYY/MM/DD HH:MM:SS.sss``) every 6 h across each file's window."""
    rng = np.random.default_rng([seed, 42])
    windows = (("c2_time_offsets_1996", "1996-01-24T15:44:00", "1997-08-29T18:27:00"),
               ("c2_time_offsets_1997_10", "1997-10-19T18:28:00", "1997-10-27T22:41:00"),
               ("c2_time_offsets_1997_12", "1997-12-06T00:27:00", "1997-12-30T20:23:00"))
    for (name, lo, hi), (file_name, _, _) in zip(windows, lasco_time.C2_OFFSET_WINDOWS,
                                                strict=True):
        times = np.arange(np.datetime64(lo, "ms"), np.datetime64(hi, "ms"),
                          np.timedelta64(6, "h")).astype("datetime64[ms]")
        offsets = (30.0 + rng.normal(0.0, 1.5, len(times))).astype(np.float32)
        text = [str(t).replace("-", "/").replace("T", " ") for t in times]
        path = put(name, f"{_CALIB}/{file_name}")
        write_idl_save(path, {
            "C2_OFFSETS": offsets,
            "C2_UTC_DATES": _StructArray("CDS_INT_TIME", {
                "MJD": lasco_time.mjd_of(times).astype(np.int32),
                "TIME": lasco_time.ms_of_day(times).astype(np.int32)}),
            "C2_DATES": np.array(text, dtype=object),
        })
        _set_mtime(path, "2002-07-22")


# --------------------------------------------------------------------------------------------
# SOHO orbit files (get_orbit.pro)
# --------------------------------------------------------------------------------------------

def _soho_orbit_rows(day: dt.date, seed: int) -> dict[str, np.ndarray]:
    """144 rows of a plausible SOHO halo orbit on ``day`` (every 10 minutes).

    Earth from the ``solar_ephem`` distance and the low-precision solar longitude; SOHO at
    0.99 of Earth's distance from the Sun plus a halo of 670,000 km in ecliptic Y and
    200,000 km in Z (period 178 d), which puts it up to ~0.26 deg from the Sun-Earth line.
    Carrington longitudes from the synodic rate (27.2753 d). Only the HEC positions and the
    heliographic columns are consistent with each other; GCI/GSE/GSM are filled plausibly.
    """
    ms = np.arange(144, dtype=np.int64) * 600_000
    t = np.datetime64(day, "ms") + ms.astype("timedelta64[ms]")
    jd = 2440587.5 + t.astype(np.int64) / 86_400_000.0
    tc = (jd - 2451545.0) / 36525.0
    lam = np.deg2rad((280.46646 + 36000.76983 * tc) % 360.0)  # Sun's mean longitude
    mjd = lasco_time.mjd_of(t)
    r_earth = ephemeris.earth_sun_distance_au_array(mjd) * ephemeris.AU_M / 1000.0
    phase = 2 * np.pi * (jd - 2450000.0) / 178.0 + (seed % 7)
    halo_y = 6.7e5 * np.sin(phase)
    halo_z = 2.0e5 * np.cos(phase)
    earth = np.stack([-r_earth * np.cos(lam), -r_earth * np.sin(lam), 0 * lam], axis=1)
    toward_sun = -earth / r_earth[:, None]
    sideways = np.stack([-toward_sun[:, 1], toward_sun[:, 0], 0 * lam], axis=1)
    soho = earth * 0.99 + sideways * halo_y[:, None] + np.array([0.0, 0.0, 1.0]) * \
        halo_z[:, None]
    gse = np.stack([0.01 * r_earth, halo_y, halo_z], axis=1)
    b0 = np.deg2rad(ephemeris.solar_b0_deg_array(t))
    carr_earth = np.deg2rad((349.03 - 360.0 * (jd - 2398140.227) / 27.2752316) % 360.0)
    along = np.arctan2(halo_y, 0.99 * r_earth)  # SOHO's longitude offset seen from the Sun
    carr_soho = (carr_earth - along) % (2 * np.pi)
    lat_soho = b0 + np.arcsin(halo_z / np.linalg.norm(soho, axis=1))
    rotation = np.floor(1650 + (jd - 2398140.227) / 27.2752316).astype(np.int16)
    columns = {
        "YEAR": np.full(144, day.year, np.int16),
        "DAY OF YEAR": np.full(144, day.timetuple().tm_yday, np.int16),
        "ELLAPSED MILLISECONDS OF DAY": ms.astype(np.int32),
    }
    vel = np.zeros((144, 3))
    for frame, pos in (("GCI", gse), ("GSE", gse), ("GSM", gse)):
        for k, axis in enumerate("XYZ"):
            columns[f"{frame} {axis} (KM)"] = pos[:, k]
        for k, axis in enumerate("XYZ"):
            columns[f"{frame} V{axis} (KM/S)"] = vel[:, k]
    for k, axis in enumerate("XYZ"):
        columns[f"SUN VECTOR {axis} (KM)"] = -earth[:, k]
    for k, axis in enumerate("XYZ"):
        columns[f"HEC {axis} (KM)"] = soho[:, k]
    for k, axis in enumerate("XYZ"):
        columns[f"HEC V{axis} (KM/S)"] = vel[:, k]
    columns["CARRINGTON ROTATION EARTH"] = rotation
    columns["HELIOGRAPHIC LONG. EARTH"] = carr_earth
    columns["HELIOGRAPHIC LAT. EARTH"] = b0
    columns["CARRINGTON ROTATION SOHO"] = rotation
    columns["HELIOGRAPHIC LONG. SOHO"] = carr_soho
    columns["HELIOGRAPHIC LAT. SOHO"] = lat_soho
    return columns


def write_orbit_file(path: str | os.PathLike, columns: Mapping[str, np.ndarray]) -> None:
    """Write a SOHO orbit file with astropy: empty primary HDU, then the 36-column binary
    table of :data:`lascoproc.io.soho_orbit.ORBIT_COLUMNS` (formats ``1I``/``1J``/``1D``)."""
    cols = [fits.Column(name=name, format=form[-1], array=np.asarray(columns[name]))
            for name, form in soho_orbit.ORBIT_COLUMNS]
    table = fits.BinTableHDU.from_columns(cols)
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path, overwrite=True)


def _card(key: str, value, comment: str = "") -> str:
    if isinstance(value, str):
        text = f"'{value:<8s}'"
        card = f"{key:<8s}= {text:<20s}"
    elif isinstance(value, bool):
        card = f"{key:<8s}= {('T' if value else 'F'):>20s}"
    else:
        card = f"{key:<8s}= {value:>20}"
    if comment:
        card += f" /{comment}"
    return f"{card:<80s}"[:80]


def orbit_file_bytes(columns: Mapping[str, np.ndarray]) -> bytes:
    """A SOHO orbit file as IDL's ``FXBWRITE`` lays it out (the header cards of a real file:
    ``XTENSION = 'BINTABLE'``, ``NAXIS1 = 260``, ``TFORMn``/``TTYPEn``), written with numpy:
    what :func:`write_orbit_file` writes with astropy, fast enough for a mission of days."""
    primary = [_card("SIMPLE", True), _card("BITPIX", 8), _card("NAXIS", 0),
               _card("EXTEND", True), f"{'END':<80s}"]
    dtype = np.dtype([(name, {"1I": ">i2", "1J": ">i4", "1D": ">f8"}[form])
                      for name, form in soho_orbit.ORBIT_COLUMNS])
    rows = len(np.asarray(columns["YEAR"]))
    table = np.zeros(rows, dtype=dtype)
    for name, _ in soho_orbit.ORBIT_COLUMNS:
        table[name] = columns[name]
    ext = [_card("XTENSION", "BINTABLE", "Written by lascoproc (synthetic)"),
           _card("BITPIX", 8), _card("NAXIS", 2), _card("NAXIS1", dtype.itemsize,
                                                        "Number of bytes per row"),
           _card("NAXIS2", rows, "Number of rows"), _card("PCOUNT", 0), _card("GCOUNT", 1),
           _card("TFIELDS", len(soho_orbit.ORBIT_COLUMNS), "Number of columns")]
    for k, (name, form) in enumerate(soho_orbit.ORBIT_COLUMNS, start=1):
        ext += [_card(f"TFORM{k}", form), _card(f"TTYPE{k}", name, f"Label for column {k}")]
    ext.append(f"{'END':<80s}")

    def block(text: bytes) -> bytes:
        return text + b" " * (-len(text) % 2880)

    data = table.tobytes()
    return (block("".join(primary).encode("ascii")) + block("".join(ext).encode("ascii"))
            + data + b"\0" * (-len(data) % 2880))


def _write_orbit_files(put, span: tuple[dt.date, dt.date], seed: int, *,
                       predictive: bool = True) -> None:
    day = span[0]
    while day < span[1] + dt.timedelta(days=3 if predictive else 0):
        rows = _soho_orbit_rows(day, seed)
        kinds = [("predictive", "SO_OR_PRE", 3)] if predictive else []
        if day < span[1]:
            kinds.insert(0, ("definitive", "SO_OR_DEF", 2))
        for kind, prefix, version in kinds:
            rel = (f"{soho_orbit.orbit_directory(kind, day)}/"
                   f"{soho_orbit.orbit_file_name(prefix, day, version)}")
            path = put(f"soho_orbit_{kind}_{day:%Y%m%d}", rel)
            path.write_bytes(orbit_file_bytes(rows))
            _set_mtime(path, (day + dt.timedelta(days=30)).isoformat())
        day += dt.timedelta(days=1)


# --------------------------------------------------------------------------------------------
# IDL SAVE writer (uncompressed, XDR; the subset the LASCO tables need)
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _StructArray:
    """An IDL array of named structures whose tags are scalars (one numpy column per tag)."""

    name: str
    tags: Mapping[str, np.ndarray]


_IDL_TYPE = {np.dtype(np.int32): (3, ">i4"), np.dtype(np.float32): (4, ">f4"),
             np.dtype(np.float64): (5, ">f8")}
_STRING_ELEMENT = 16   # bytes per string element in the array descriptor, as IDL 7 x86_64


def write_idl_save(path: str | os.PathLike, variables: Mapping[str, Any]) -> None:
    """Write an uncompressed IDL SAVE file readable by ``RESTORE`` and :func:`scipy.io.readsav`.

    Supported values: ``str`` (scalar string), ``float``, 1-D numpy arrays of int32, float32,
    float64 or strings (object/unicode), and :class:`_StructArray`. Layout: ``'SR'``,
    ``00 04``, then records (``RECTYPE``, 64-bit offset of the next record, 4 spare bytes,
    body) TIMESTAMP, VERSION, one VARIABLE per entry, END_MARKER; all integers big-endian.
    """
    out = bytearray(b"SR\x00\x04")
    _append_record(out, 10, bytes(1024) + _xdr_string("Tue Nov 05 12:00:00 2012")
                   + _xdr_string("lascoproc") + _xdr_string("synthetic"))
    _append_record(out, 14, _long(9) + _xdr_string("x86_64") + _xdr_string("linux")
                   + _xdr_string("7.0"))
    for name, value in variables.items():
        _append_record(out, 2, _xdr_string(name.upper()) + _variable_body(value))
    out += _long(6) + bytes(12)
    Path(path).write_bytes(bytes(out))


def _long(value: int) -> bytes:
    return struct.pack(">l", int(value))


def _pad4(raw: bytes) -> bytes:
    return raw + bytes(-len(raw) % 4)


def _xdr_string(text: str) -> bytes:
    raw = text.encode("latin-1")
    return _long(len(raw)) + _pad4(raw)


def _string_data(text: str) -> bytes:
    raw = str(text).encode("latin-1")
    if not raw:
        return _long(0)
    return _long(len(raw)) + _long(len(raw)) + _pad4(raw)


def _append_record(out: bytearray, rectype: int, body: bytes) -> None:
    nextrec = len(out) + 16 + len(body)
    out += _long(rectype) + struct.pack(">II", nextrec % 2**32, nextrec // 2**32) + bytes(4)
    out += body


def _array_desc(element: int, count: int) -> bytes:
    dims = [count] + [1] * 7
    return (_long(8) + _long(element) + _long(element * count) + _long(count) + _long(1)
            + bytes(8) + _long(8) + b"".join(_long(d) for d in dims))


def _variable_body(value: Any) -> bytes:
    if isinstance(value, _StructArray):
        return _struct_body(value)
    if isinstance(value, str):
        return _long(7) + _long(0) + _long(7) + _string_data(value)
    if isinstance(value, float):
        return _long(5) + _long(0) + _long(7) + struct.pack(">d", value)
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError("only 1-D arrays are supported")
    if arr.dtype.kind in "OUS":
        data = b"".join(_string_data(s) for s in arr)
        return (_long(7) + _long(0x14) + _array_desc(_STRING_ELEMENT, arr.size) + _long(7)
                + data)
    code, be = _IDL_TYPE[arr.dtype]
    return (_long(code) + _long(0x14) + _array_desc(arr.dtype.itemsize, arr.size) + _long(7)
            + arr.astype(be).tobytes())


def _struct_body(value: _StructArray) -> bytes:
    columns = [(tag.upper(), np.asarray(col)) for tag, col in value.tags.items()]
    count = len(columns[0][1])
    offsets, tagdescs, size = [], b"", 0
    for _, col in columns:
        code, _ = _IDL_TYPE[col.dtype]
        offsets.append(size)
        tagdescs += _long(size) + _long(code) + _long(0)
        size += col.dtype.itemsize
    structdesc = (_long(9) + _xdr_string(value.name.upper()) + _long(0) + _long(len(columns))
                  + _long(size) + tagdescs + b"".join(_xdr_string(t) for t, _ in columns))
    rows = np.empty(count, dtype=[(t, _IDL_TYPE[c.dtype][1]) for t, c in columns])
    for tag, col in columns:
        rows[tag] = col
    return (_long(8) + _long(0x34) + _array_desc(size, count) + structdesc + _long(7)
            + rows.tobytes())
