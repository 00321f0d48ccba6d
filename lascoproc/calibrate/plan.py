"""LASCO level-1 planning: every per-frame factor and geometry of ``reduce_level_1.pro``,
from the level-0.5 header values and the calibration files, without reading a pixel.

:func:`plan_level1` works out, for every frame, the exposure factor and bias
(``get_exp_factor.pro``, else the bias NRL recorded in the level-0.5 HISTORY, else
``offset_bias.pro``), corrected exposure time, calibration factor (``c2/c3_calfactor.pro``),
vignetting/mask/ramp files (``c2/c3_calibrate.pro``), occulter centre (``occltr_cntr.pro``), the
corrected observation time (``adjust_all_date_obs`` with ``TIME_DIFF.DAT``), sun centre and roll
(``adjust_hdr_tcr.pro``, after the tables end ``get_sun_center``/``get_roll_or_xy``), keyhole
flip and north-up rotation, ``CRPIX``/``CROTA``/``CDELT``/``RSUN`` (``reduce_level_1.pro``,
``get_solar_radius.pro``) and the observer position (SOHO's orbit files, ``get_orbit.pro``). It
reads only small tables and headers, never pixels, and returns a per-frame table
(:class:`xarray.Dataset` over ``time``). A frame that cannot be calibrated (an unknown
filter/polarizer combination, a geometry outside the CCD, an unusable exposure time) gets
``frame_status = 2`` and the reason, never an exception that stops the run.

Every step works on whole columns (numpy, a loop over the *distinct* tables, days and
filter combinations, never over frames): planning a mission's headers takes seconds
(bench/bench_plan.py).

Applying the plan to the pixels is :mod:`lascoproc.calibrate.level1` (STYLE rule 9).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr

from lascoproc.kernels import ephemeris, lasco_checks, lasco_time, soho_orbit
from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels import lasco_pointing as lp
from lascoproc.kernels.frame_status import FRAME_NOT_CALIBRATED, FRAME_OK, FRAME_STATUS

__all__ = [
    "Level1Options",
    "CalibrationSource",
    "FRAME_STATUS",
    "PLAN_COLUMNS",
    "PLAN_UNITS",
    "plan_level1",
]


class CalibrationSource(Protocol):
    """What the level-1 chain needs from a calibration store
    (:class:`lascoproc.io.calib_store.CalibrationStore` provides it).

    ``sun_center_roll`` takes an array of times and returns arrays (NaN after the tables'
    ``LAST_DAY``); a source may return one scalar result for all of them. ``last_day``,
    ``time_diff``, ``c2_time_offsets`` and ``soho_orbit`` are optional: without them the time
    stays uncorrected and the observer approximate, and the plan says so;
    ``expfactor_columns`` (the parsed table, cached) is used instead of ``expfactor_table``
    when there.
    """

    def vignetting(self, detector: str, mjd: int) -> tuple[np.ndarray, str]: ...
    def c3_mask(self) -> tuple[np.ndarray, str]: ...
    def c3_ramp(self) -> tuple[np.ndarray, str]: ...
    def fits_image(self, relpath: str) -> np.ndarray: ...
    def expfactor_table(self, detector: str, day: dt.date) -> tuple[str | None, str]: ...
    def occulter_center(self, detector: str, filter: str, mjd: int): ...
    def sun_center_roll(self, detector: str, time): ...
    def provenance(self) -> dict[str, str]: ...


@dataclasses.dataclass(frozen=True)
class Level1Options:
    """What a level-1 run *is* (hashable; recorded in the output attributes).

    Attributes
    ----------
    distortion
        Correct the optical distortion (``c2_warp``/``c3_warp``); IDL ``/NOWARP`` is False.
    roll_correction
        Rotate frames with ``|roll| >= 1`` deg north up (IDL ``/NOROLL_CORRECTION`` is False).
    bias_version
        ``offset_bias.pro`` coefficient set (``"latest"``, ``"1.26"``) for frames without an
        exposure-factor line and without a usable level-0.5 HISTORY bias.
    bias_history
        Where no exposure-factor line matches, use the bias NRL's ``offset_bias.pro`` recorded
        in the frame's level-0.5 HISTORY when its version is the newest known
        (:data:`lascoproc.kernels.lasco_factors.NEWEST_OFFSET_BIAS_VERSION`).
    table_bias_lebsum
        Multiply the exposure-factor table's bias by ``LEBXSUM*LEBYSUM`` for LEB-summed frames
        (:func:`lascoproc.kernels.lasco_factors.table_bias_for_frame`: not settled by any
        public IDL source).
    time_correction
        Correct ``DATE-OBS`` with ``TIME_DIFF.DAT`` as ``reduce_level_1.pro`` does (IDL
        ``/NOTIMECORRECTION`` is False); the roll/centre tables are read at the corrected time.
    pointing_fallback
        After the roll/centre tables' ``LAST_DAY``: ``"idl"`` (``get_sun_center``'s default
        centre and ``get_roll_or_xy``'s roll, :mod:`lascoproc.kernels.lasco_pointing`) or
        ``"header"`` (the level-0.5 ``CRPIX``/``CROTA1``, as lascoproc did before).
    orbit
        Take the observer position from SOHO's orbit files when the store has them.
    """

    distortion: bool = True
    roll_correction: bool = True
    bias_version: str = "latest"
    bias_history: bool = True
    table_bias_lebsum: bool = True
    time_correction: bool = True
    pointing_fallback: str = "idl"
    orbit: bool = True

    def __post_init__(self):
        if self.bias_version not in ("latest", "1.26"):
            raise ValueError(f"bias_version {self.bias_version!r}: 'latest' or '1.26'")
        if self.pointing_fallback not in ("idl", "header"):
            raise ValueError(f"pointing_fallback {self.pointing_fallback!r}: 'idl' or 'header'")

    def as_attrs(self) -> dict[str, Any]:
        return {f"level1_option_{k}": (int(v) if isinstance(v, bool) else v)
                for k, v in dataclasses.asdict(self).items()}


_MJD0 = np.datetime64("1858-11-17", "D")


# Columns of the plan: name -> (dtype, fill for frames that cannot be calibrated).
PLAN_COLUMNS = {
    "frame_status": ("uint8", FRAME_NOT_CALIBRATED),
    "frame_status_reason": ("object", ""),
    "mjd": ("int32", -1),
    "expfac": ("float64", np.nan),
    "bias": ("float64", np.nan),
    "bias_source": ("object", ""),
    "bias_history": ("float64", np.nan),
    "bias_history_version": ("object", ""),
    "exptime_level05": ("float64", np.nan),
    "exptime": ("float64", np.nan),
    "calfac": ("float64", np.nan),
    "subtract_bias": ("bool", False),
    "vignetting_file": ("object", ""),
    "mask_file": ("object", ""),
    "ramp_file": ("object", ""),
    "expfactor_file": ("object", ""),
    "xsum": ("int16", 1),
    "ysum": ("int16", 1),
    "date_obs": ("datetime64[ns]", np.datetime64("NaT", "ns")),
    "date_obs_source": ("object", ""),
    "time_offset": ("float64", 0.0),
    "time_offset_error": ("float64", -1.0),
    "occulter_x": ("float64", np.nan),
    "occulter_y": ("float64", np.nan),
    "sun_x": ("float64", np.nan),
    "sun_y": ("float64", np.nan),
    "roll": ("float64", np.nan),
    "pointing_source": ("object", ""),
    "keyhole": ("bool", False),
    "rotation": ("float64", 0.0),
    "pivot_x": ("float64", 0.0),
    "pivot_y": ("float64", 0.0),
    "crpix1": ("float64", np.nan),
    "crpix2": ("float64", np.nan),
    "crota": ("float64", np.nan),
    "rectify": ("float64", np.nan),
    "cdelt": ("float64", np.nan),
    "rsun": ("float64", np.nan),
    "dsun_obs": ("float64", np.nan),
    "hglt_obs": ("float64", np.nan),
    "hgln_obs": ("float64", np.nan),
    "observer_source": ("object", ""),
}

#: Columns every frame gets, also one that cannot be calibrated (read from its header alone).
_ALWAYS = ("frame_status", "frame_status_reason", "bias_history", "bias_history_version",
           "date_obs", "date_obs_source", "time_offset", "time_offset_error")

#: Units of the plan columns that have one (CF strings astropy parses).
PLAN_UNITS = {
    "mjd": "d", "exptime": "s", "exptime_level05": "s", "bias": "count",
    "bias_history": "count", "calfac": "MSB s / count", "time_offset": "s",
    "time_offset_error": "s", "occulter_x": "pixel", "occulter_y": "pixel", "sun_x": "pixel",
    "sun_y": "pixel", "roll": "deg", "rotation": "deg", "crpix1": "pixel", "crpix2": "pixel",
    "crota": "deg", "rectify": "deg", "cdelt": "arcsec / pixel", "rsun": "arcsec",
    "dsun_obs": "m", "hglt_obs": "deg", "hgln_obs": "deg", "pivot_x": "pixel",
    "pivot_y": "pixel",
}

#: What each column is (``long_name`` attributes; see docs/level1_port.md for the IDL sources).
PLAN_LONG_NAMES = {
    "frame_status": "0 planned, 2 cannot be calibrated (frame_status_reason says why)",
    "mjd": "MJD of the level-0.5 DATE-OBS day",
    "expfac": "exposure-time correction factor (get_exp_factor)",
    "bias": "CCD bias subtracted, for the frame's summing",
    "bias_source": "where the bias comes from: table / level-0.5 HISTORY / offset_bias port",
    "bias_history": "bias NRL's offset_bias.pro recorded in the level-0.5 HISTORY (one pixel)",
    "bias_history_version": "offset_bias.pro version of that HISTORY line",
    "date_obs": "corrected DATE-OBS as NRL writes it in level 1 (UTC)",
    "date_obs_source": "TIME_DIFF table used, or why the time is uncorrected",
    "time_offset": "OBE - LOBT difference subtracted from the level-0.5 time",
    "time_offset_error": "its error (TIME_CORRECTION2's stdev; -1 when uncorrected)",
    "pointing_source": "roll/centre table, or the fallback used",
    "observer_source": "SOHO orbit file, or the approximation used",
    "frame_status_reason": "why the frame cannot be calibrated ('' if it can)",
    "exptime_level05": "exposure time of the level-0.5 header",
    "exptime": "exposure time corrected by the exposure factor (level-1 EXPTIME)",
    "calfac": "calibration factor (c2_calfactor/c3_calfactor, divided by the summing)",
    "subtract_bias": "whether the bias is subtracted (not for polarisation products)",
    "vignetting_file": "vignetting correction applied (calibration store path)",
    "mask_file": "level-1 mask applied (C3; calibration store path)",
    "ramp_file": "stray-light ramp subtracted (C3 Clear; calibration store path)",
    "expfactor_file": "exposure-factor table of the frame's day ('' if none)",
    "xsum": "total summing along x (SUMCOL and LEBXSUM)",
    "ysum": "total summing along y (SUMROW and LEBYSUM)",
    "occulter_x": "occulter centre, x (0-based frame pixel; the distortion's centre)",
    "occulter_y": "occulter centre, y (0-based frame pixel; the distortion's centre)",
    "sun_x": "Sun centre, x (0-based frame pixel, before the flip and rotation)",
    "sun_y": "Sun centre, y (0-based frame pixel, before the flip and rotation)",
    "roll": "roll angle of the frame (attitude table or fallback)",
    "keyhole": "keyhole frame (spacecraft rolled 180 deg): flipped",
    "rotation": "counter-clockwise rotation applied about the pivot (north up)",
    "pivot_x": "rotation pivot, x (0-based frame pixel)",
    "pivot_y": "rotation pivot, y (0-based frame pixel)",
    "crpix1": "level-1 CRPIX1: the Sun centre, x (1-based)",
    "crpix2": "level-1 CRPIX2: the Sun centre, y (1-based)",
    "crota": "level-1 CROTA: roll left in the frame (0 once rotated)",
    "rectify": "level-1 RECTIFY: rotation applied to the frame",
    "cdelt": "level-1 CDELT1/2: plate scale",
    "rsun": "apparent solar radius (level-1 RSUN)",
    "dsun_obs": "Sun-observer distance (SOHO)",
    "hglt_obs": "Stonyhurst heliographic latitude of SOHO",
    "hgln_obs": "Stonyhurst heliographic longitude of SOHO",
}

_NAT_NS = np.datetime64("NaT", "ns")


def _column(ds: xr.Dataset, name: str) -> np.ndarray:
    variable = ds[name].variable
    if not isinstance(variable.data, np.ndarray) and hasattr(variable.data, "dask"):
        raise ValueError(f"coordinate {name!r} is a dask array: planning computes nothing; "
                         "load the per-frame coordinates first")
    return np.asarray(variable.values)


def _frame_values(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Header values of every frame (coordinates over ``time``) and the frame width."""
    names = [name for name, c in ds.coords.items() if c.dims == ("time",) and name != "time"]
    values = {name: _column(ds, name) for name in names}
    values["time"] = _column(ds, "time").astype("datetime64[ms]")
    n = len(values["time"])
    if "frame_shape" in ds.attrs:
        nx = int(str(ds.attrs["frame_shape"]).split("x")[1])
    else:
        nx = int(ds.sizes["x"])
    values["naxis1"] = np.full(n, nx, dtype=np.int64)
    for name, fill in (("bias_history", np.nan), ("bias_history_version", ""),
                       ("readport", "C")):
        if name not in values:
            values[name] = np.full(n, fill, dtype=object if isinstance(fill, str) else float)
    return values


def _codes(*columns: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Codes ``0..k-1`` of the distinct value combinations of the columns, and the
    combinations (``c0, c1, ...``): each column hashed once (:func:`pandas.factorize`), the
    codes combined as integers; no loop over frames."""
    columns = [np.asarray(col) for col in columns]
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        codes, uniques = pd.factorize(col, use_na_sentinel=False)
        combined = combined * (len(uniques) + 1) + codes
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    keys = pd.DataFrame({f"c{k}": col[first] for k, col in enumerate(columns)})
    return inverse.reshape(-1), keys


def _groups(codes: np.ndarray):
    """``(code, frame indices)`` for each code, frames in their original order."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for chunk in np.split(order, bounds):
        if chunk.size:
            yield int(codes[chunk[0]]), chunk


def _per_distinct(values: np.ndarray, fn: Callable, dtype=np.float64) -> np.ndarray:
    """``fn`` of every distinct value, spread back over the frames."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array([fn(v) for v in uniq], dtype=dtype)[inverse]


class _Flags:
    """The first reason each frame cannot be calibrated."""

    def __init__(self, n: int):
        self.reason = np.full(n, "", dtype=object)

    def add(self, reasons: np.ndarray) -> None:
        new = (self.reason == "") & (reasons != "")
        self.reason[new] = reasons[new]

    @property
    def ok(self) -> np.ndarray:
        return self.reason == ""


def _detector(values: np.ndarray) -> np.ndarray:
    codes, uniques = _codes(values)
    normal = np.array([str(v).strip().upper() for v in uniques["c0"]], dtype=object)
    return normal[codes]


def plan_level1(ds: xr.Dataset, calib: CalibrationSource,
                options: Level1Options = Level1Options()) -> xr.Dataset:
    """Per-frame factors and geometry of the level-1 chain (no pixel is read).

    Parameters
    ----------
    ds
        The level-0.5 frames: headers only from :func:`lascoproc.io.lasco_cube.open_lasco_frames`
        (frame size in ``attrs["frame_shape"]``) or a lazy cube from ``open_lasco_cube``; only
        the per-frame coordinates are used, nothing is computed.
    calib
        The calibration files (:class:`lascoproc.io.calib_store.CalibrationStore`). A missing
        calibration file raises its error here, before anything runs.
    options
        :class:`Level1Options`.

    Returns
    -------
    xarray.Dataset
        One variable per plan column over ``time`` (:data:`PLAN_COLUMNS`, units in
        :data:`PLAN_UNITS`); ``frame_status`` 0 for frames that will be calibrated, 2 with
        ``frame_status_reason`` for those that cannot; attributes ``calibration_files`` (the
        files planning read, among them the images calibration applies: a run's
        ``CalibrationStore.digest`` is taken over them) and the options.
    """
    f = _frame_values(ds)
    n = len(f["time"])
    cols: dict[str, np.ndarray] = {name: np.full(n, fill, dtype=dtype)
                                   for name, (dtype, fill) in PLAN_COLUMNS.items()}
    used: set[str] = set()
    flags = _Flags(n)
    det = _detector(f["detector"]) if n else np.empty(0, dtype=object)
    flags.add(lp.window_problems(f["r1col"], f["r1row"], f["r2col"], f["r2row"]))
    codes, keys = _codes(det)
    flags.add(np.array([f"detector {d!r} is not LASCO C2 or C3" if d not in lf.DETECTORS
                        else "" for d in keys["c0"]], dtype=object)[codes])
    cols["mjd"] = lasco_time.mjd_of(f["time"]).astype(np.int32)
    xsum, ysum = lp.frame_binning(f["sumcol"], f["sumrow"], f["lebxsum"], f["lebysum"])
    cols["xsum"], cols["ysum"] = xsum.astype(np.int16), ysum.astype(np.int16)

    _plan_bias(f, det, cols, flags, calib, options, used)
    flags.add(lasco_checks.exposure_time_problems(f["exptime"].astype(np.float64)))
    cols["exptime_level05"] = f["exptime"].astype(np.float64)
    cols["exptime"] = cols["exptime_level05"] * cols["expfac"]
    _plan_calfac(f, det, cols, flags)
    _plan_files(f, det, cols, calib, used)
    _plan_occulter(f, det, cols, calib, used)
    _plan_time(f, det, cols, calib, options, used)
    _plan_pointing(f, det, cols, calib, options, used)
    binning = (f["r2col"].astype(np.int64) - f["r1col"] + 1) / f["naxis1"]
    subtense = np.where(det == "C2", lf.SUBTENSE_ARCSEC["C2"], lf.SUBTENSE_ARCSEC["C3"])
    cols["cdelt"] = subtense * binning
    cols["rsun"] = _per_distinct(cols["mjd"], lambda m: lf.solar_radius_arcsec(int(m)))
    _plan_observer(f, cols, calib, options, used)

    ok = flags.ok
    cols["frame_status"] = np.where(ok, FRAME_OK, FRAME_NOT_CALIBRATED).astype(np.uint8)
    cols["frame_status_reason"] = flags.reason
    for name, (dtype, fill) in PLAN_COLUMNS.items():
        cols[name] = np.asarray(cols[name]).astype(dtype, copy=False)
        if name not in _ALWAYS:
            cols[name][~ok] = fill
    plan = xr.Dataset({name: ("time", col) for name, col in cols.items()},
                      coords={"time": _column(ds, "time")})
    for name, unit in PLAN_UNITS.items():
        plan[name].attrs["units"] = unit
    for name, text in PLAN_LONG_NAMES.items():
        plan[name].attrs["long_name"] = text
    plan.attrs["calibration_files"] = sorted(used)
    plan.attrs.update(options.as_attrs())
    return plan


# --- exposure factor and bias -------------------------------------------------------------

def _plan_bias(f, det, cols, flags, calib, options, used) -> None:
    """``get_exp_factor.pro``: the table of the ``MID_DATE`` day, else the level-0.5 HISTORY
    bias (newest offset_bias version only), else ``offset_bias`` (x LEB summing)."""
    n = len(det)
    lebsum = np.maximum(f["lebxsum"].astype(np.int64), 1) * \
        np.maximum(f["lebysum"].astype(np.int64), 1)
    mid_date = f["mid_date"].astype(np.int64)
    mid_time = f["mid_time"].astype(np.float64)
    cols["expfac"] = np.ones(n)
    table_bias = np.full(n, np.nan)
    source = np.full(n, "", dtype=object)
    codes, keys = _codes(det, mid_date)
    key_det, key_day = keys["c0"].to_numpy(), keys["c1"].to_numpy()
    read = getattr(calib, "expfactor_columns", None)
    for code, idx in _groups(codes):
        detector, day = key_det[code], int(key_day[code])
        if read is not None:
            table, rel = read(detector, _day_of_mjd(day))
        else:
            text, rel = calib.expfactor_table(detector, _day_of_mjd(day))
            table = lf.expfactor_columns(text) if text is not None else None
        if table is None:
            continue
        used.add(rel)
        match = lf.match_expfactor_array(table["mjd"], table["time_ms"], mid_date[idx],
                                         mid_time[idx])
        hit = match >= 0
        cols["expfactor_file"][idx] = rel
        sel = idx[hit]
        cols["expfac"][sel] = table["factor"][match[hit]]
        table_bias[sel] = table["bias"][match[hit]]
        source[sel] = f"table {rel.rsplit('/', 1)[-1]}"
    from_table = source != ""
    cols["bias"][from_table] = lf.table_bias_for_frame(
        table_bias[from_table], lebsum[from_table],
        scale_by_leb_summing=options.table_bias_lebsum)

    cols["bias_history"] = f["bias_history"].astype(np.float64)
    cols["bias_history_version"] = np.asarray(f["bias_history_version"], dtype=object)
    history = ((cols["bias_history_version"] == lf.NEWEST_OFFSET_BIAS_VERSION)
               & np.isfinite(cols["bias_history"]) & ~from_table)
    if options.bias_history:
        cols["bias"][history] = cols["bias_history"][history] * lebsum[history]
        source[history] = f"level-0.5 HISTORY offset_bias.pro {lf.NEWEST_OFFSET_BIAS_VERSION}"
    rest = source == ""
    codes, keys = _codes(det[rest], mid_date[rest], np.asarray(f["readport"])[rest])
    values = np.full(len(keys), np.nan)
    reasons = np.full(len(keys), "", dtype=object)
    for k, (detector, day, port) in enumerate(keys.itertuples(index=False)):
        try:
            values[k] = lf.offset_bias(detector, int(day), readport=str(port) or "C",
                                       lebsum=1, version=options.bias_version)
        except ValueError as err:
            reasons[k] = str(err)
    if rest.any():
        cols["bias"][rest] = values[codes] * lebsum[rest]
        fallback_reason = np.full(n, "", dtype=object)
        fallback_reason[rest] = reasons[codes]
        flags.add(fallback_reason)
        source[rest] = f"offset_bias.pro {options.bias_version} (port)"
    cols["bias_source"] = source


def _day_of_mjd(mjd: int) -> dt.date:
    return dt.date(1858, 11, 17) + dt.timedelta(days=int(mjd))


# --- calibration factor, files, occulter ----------------------------------------------------

def _plan_calfac(f, det, cols, flags) -> None:
    """``c2/c3_calfactor.pro``: once per distinct (detector, filter, polarizer, day), then the
    summing division in IDL's order (``lasco_factors.calibration_factor``)."""
    codes, keys = _codes(det, f["filter"], f["polarizer"], cols["mjd"])
    values = np.full(len(keys), np.nan)
    reasons = np.full(len(keys), "", dtype=object)
    for k, (detector, filt, polar, mjd) in enumerate(keys.itertuples(index=False)):
        if detector not in lf.DETECTORS:
            continue
        try:
            values[k] = lf.calibration_factor_unsummed(detector, filt, polar, int(mjd))
        except ValueError as err:
            reasons[k] = str(err)
    flags.add(reasons[codes])
    factor = values[codes]
    for count, floor in ((f["sumcol"], 0), (f["sumrow"], 0), (f["lebxsum"], 1),
                         (f["lebysum"], 1)):
        count = count.astype(np.int64)
        divide = count > floor
        factor = np.where(divide, factor / np.where(divide, count, 1), factor)
    cols["calfac"] = factor * 1.0e-10


def _plan_files(f, det, cols, calib, used) -> None:
    """Vignetting (C3: MJD < 51000 pre-interruption), C3 mask and ramp (Clear, not a
    polarisation product); reading them here makes a missing file stop the run now."""
    polar = np.asarray(f["polarizer"], dtype=object)
    codes, keys = _codes(polar)
    products = np.array([lf.is_polarization_product(p) for p in keys["c0"]], dtype=bool)
    cols["subtract_bias"] = ~products[codes]
    for detector, era in (("C2", None), ("C3", True), ("C3", False)):
        sel = det == detector
        if era is not None:
            sel &= (cols["mjd"] < 51000) == era
        if sel.any():
            _, rel = calib.vignetting(detector, 50999 if era else 51000)
            cols["vignetting_file"][sel] = rel
            used.add(rel)
    c3 = det == "C3"
    if c3.any():
        _, mask = calib.c3_mask()
        cols["mask_file"][c3] = mask
        used.add(mask)
        filters = np.asarray(f["filter"], dtype=object)
        fcodes, fkeys = _codes(filters)
        clear = np.array([lf.ramp_applies("C3", v) for v in fkeys["c0"]], dtype=bool)[fcodes]
        ramp = c3 & clear & cols["subtract_bias"]
        if ramp.any():
            _, rel = calib.c3_ramp()
            cols["ramp_file"][ramp] = rel
            used.add(rel)


def _plan_occulter(f, det, cols, calib, used) -> None:
    """``occltr_cntr.pro`` 1.9 per distinct (detector, filter, day), then into the frame."""
    codes, keys = _codes(det, f["filter"], cols["mjd"])
    occ = np.full((len(keys), 2), np.nan)
    for k, (detector, filt, mjd) in enumerate(keys.itertuples(index=False)):
        if detector not in lf.DETECTORS:
            continue
        occ[k], rel = calib.occulter_center(detector, filt, int(mjd))
        used.add(rel)
    cols["occulter_x"], cols["occulter_y"] = lp.occulter_in_frame(
        occ[codes, 0], occ[codes, 1], f["r1col"], f["r1row"],
        cols["xsum"].astype(np.int64), cols["ysum"].astype(np.int64))


# --- time correction --------------------------------------------------------------------

def _plan_time(f, det, cols, calib, options, used) -> None:
    """``adjust_all_date_obs`` (via ``TIME_CORRECTION2``) where ``adjust_hdr_tcr`` applies."""
    t05 = f["time"]
    n = len(t05)
    date_obs = t05.copy()
    source = np.full(n, "", dtype=object)
    last_day = _last_day(calib, used)
    after = np.zeros(n, bool) if last_day is None else t05.astype("datetime64[D]") > last_day
    if last_day is not None:
        source[after] = (f"uncorrected: after LAST_DAY {last_day} of the roll/centre tables "
                         "(adjust_hdr_tcr.pro)")
    todo = ~after
    if not options.time_correction:
        source[todo] = "uncorrected: time correction off (Level1Options.time_correction)"
        todo[:] = False
    window = lasco_time.c2_offset_window(t05)
    for k, (name, _, _) in enumerate(lasco_time.C2_OFFSET_WINDOWS):
        sel = todo & (window == k)
        if not sel.any():
            continue
        found = getattr(calib, "c2_time_offsets", lambda _n: None)(name)
        if found is None:
            source[sel] = f"uncorrected: no {name} in the calibration store"
            continue
        table, rel = found
        used.add(rel)
        _apply_correction(sel, lasco_time.c2_offset_correction(table, t05[sel]), rel,
                          "outside the C2 time offsets", t05, date_obs, cols, source)
    sel = todo & (window < 0)
    if sel.any():
        found = getattr(calib, "time_diff", lambda: None)()
        if found is None:
            source[sel] = "uncorrected: no TIME_DIFF.DAT in the calibration store"
        else:
            table, rel = found
            used.add(rel)
            span = f"{str(table.first)[:10]} to {str(table.last)[:10]}"
            _apply_correction(sel, lasco_time.time_correction2(table, t05[sel]), rel,
                              f"outside TIME_DIFF.DAT ({span})", t05, date_obs, cols, source)
    cols["date_obs"] = date_obs.astype("datetime64[ns]")
    cols["date_obs_source"] = source
    del det


def _apply_correction(sel, result, rel, outside, t05, date_obs, cols, source) -> None:
    delta, error, covered = result
    idx = np.flatnonzero(sel)
    date_obs[idx] = lasco_time.adjust_all_date_obs(t05[idx], delta)
    cols["time_offset"][idx] = delta
    cols["time_offset_error"][idx] = error
    source[idx] = np.where(covered, rel, f"uncorrected: {outside}")


def _last_day(calib, used) -> np.datetime64 | None:
    last_day = getattr(calib, "last_day", None)
    if last_day is None:
        return None
    used.add("lasco/data/calib/c2_c3_last_post_recovery_day.sav")
    return np.datetime64(last_day(), "D")


# --- sun centre and roll ------------------------------------------------------------------

def _plan_pointing(f, det, cols, calib, options, used) -> None:
    """``adjust_hdr_tcr.pro`` at the corrected time, up to ``LAST_DAY``; after it the
    fallback of ``options.pointing_fallback``; then the keyhole flip and north-up rotation."""
    n = len(det)
    header_roll = f["crota1"].astype(np.float64)
    xsum, ysum = cols["xsum"].astype(np.int64), cols["ysum"].astype(np.int64)
    sun_x, sun_y, roll = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    source = np.full(n, "", dtype=object)
    last_day = _last_day(calib, used)
    after = np.zeros(n, bool) if last_day is None else \
        f["time"].astype("datetime64[D]") > last_day
    table_time = cols["date_obs"].astype("datetime64[ms]")
    for detector in lf.DETECTORS:
        sel = (det == detector) & ~after
        if not sel.any():
            continue
        result = calib.sun_center_roll(detector, table_time[sel])
        if result is None:
            continue
        (x, y), r, rel = result
        k = int(sel.sum())
        sun_x[sel] = np.broadcast_to(np.asarray(x, float), (k,))
        sun_y[sel] = np.broadcast_to(np.asarray(y, float), (k,))
        roll[sel] = np.broadcast_to(np.asarray(r, float), (k,))
        rels = np.broadcast_to(np.asarray(rel, dtype=object), (k,))
        codes, keys = _codes(rels)
        names = np.array([str(p).rsplit("/", 1)[-1] for p in keys["c0"]], dtype=object)
        source[sel] = names[codes]
        used.update(str(p) for p in keys["c0"] if p)
    covered = np.isfinite(roll)
    disagree = covered & (lp.angle_gap(roll, header_roll) > 90.0)
    header_x, header_y = lp.sun_center_from_crpix(f["crpix1"], f["crpix2"], f["r1col"],
                                                  f["r1row"], xsum, ysum)
    # a star-fitted roll half a turn from the header's (a keyhole frame the table does not
    # know about) would un-flip the frame: trust the header, and say so
    use_header = disagree | (~covered & (options.pointing_fallback == "header"))
    sun_x[use_header], sun_y[use_header] = header_x[use_header], header_y[use_header]
    roll[use_header] = header_roll[use_header]
    source[disagree] = "level-0.5 header (table roll disagrees by > 90 deg)"
    source[~covered & use_header] = "level-0.5 header"
    fallback = ~covered & ~use_header
    if fallback.any():
        fx, fy, froll = lp.fallback_pointing(det[fallback], header_roll[fallback])
        sun_x[fallback], sun_y[fallback], roll[fallback] = fx, fy, froll
        source[fallback] = _fallback_sources(det[fallback])
    cols["sun_x"], cols["sun_y"], cols["roll"] = sun_x, sun_y, roll
    cols["pointing_source"] = source
    geometry = lp.level1_pointing(sun_x, sun_y, roll, header_roll, f["r1col"], f["r1row"],
                                  xsum, ysum, roll_correction=options.roll_correction)
    for name, values in geometry.items():
        cols[name] = values


def _fallback_sources(det: np.ndarray) -> np.ndarray:
    codes, keys = _codes(det)
    texts = np.array([f"get_sun_center default centre, get_roll_or_xy roll (level-0.5 CROTA1 ="
                      f" SOHO roll {lp.INSTRUMENT_ROLL_OFFSET_DEG.get(d, 0.0):+.2f} deg {d} "
                      "offset)" for d in keys["c0"]], dtype=object)
    return texts[codes]


# --- observer -----------------------------------------------------------------------------

_APPROXIMATION = ("approximation: no SOHO orbit file for the day (DSUN_OBS = 0.99 x Earth's "
                  "solar_ephem distance, HGLN_OBS = 0, HGLT_OBS = Earth's B0)")


def _plan_observer(f, cols, calib, options, used) -> None:
    """SOHO's position at the corrected time: orbit files (``get_orbit.pro``,
    ``wcs_find_position.pro``), else the approximation of :mod:`~lascoproc.kernels.soho_orbit`."""
    t = cols["date_obs"].astype("datetime64[ms]")
    n = len(t)
    mjd = lasco_time.mjd_of(t)
    dsun = _per_distinct(mjd, lambda m: 0.99 * ephemeris.earth_sun_distance_au(int(m))
                         * ephemeris.AU_M)
    hglt = ephemeris.solar_b0_deg_array(t)
    hgln = np.zeros(n)
    source = np.full(n, _APPROXIMATION if options.orbit else
                     _APPROXIMATION.replace("no SOHO orbit file for the day",
                                            "orbit files off (Level1Options.orbit)"),
                     dtype=object)
    reader = getattr(calib, "soho_orbit", None)
    if options.orbit and reader is not None and n:
        ms = lasco_time.ms_of_day(t)
        for day_mjd, idx in _groups(mjd):
            found = reader(_day_of_mjd(day_mjd))
            if found is None:
                continue
            table, _, rel = found
            used.add(rel)
            row = soho_orbit.nearest_rows(table["ELLAPSED MILLISECONDS OF DAY"],
                                          table["YEAR"], ms[idx])
            good = row >= 0
            rows, sel = row[good], idx[good]
            hec = np.stack([table[f"HEC {a} (KM)"][rows] for a in "XYZ"], axis=1)
            dsun[sel], hgln[sel], hglt[sel] = soho_orbit.observer_from_orbit(
                hec, table["HELIOGRAPHIC LONG. SOHO"][rows],
                table["HELIOGRAPHIC LONG. EARTH"][rows], table["HELIOGRAPHIC LAT. SOHO"][rows])
            source[sel] = rel.rsplit("/", 1)[-1]
    cols["dsun_obs"], cols["hgln_obs"], cols["hglt_obs"] = dsun, hgln, hglt
    cols["observer_source"] = source
    del f
