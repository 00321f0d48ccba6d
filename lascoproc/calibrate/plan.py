"""LASCO level-1 planning: every per-frame factor and geometry of ``reduce_level_1.pro``,
from the level-0.5 header values and the calibration files, without reading a pixel.

:func:`plan_level1` works out, for every frame, the exposure factor and bias
(``get_exp_factor.pro``, fallback ``offset_bias.pro``), corrected exposure time, calibration
factor (``c2/c3_calfactor.pro``), vignetting/mask/ramp files (``c2/c3_calibrate.pro``),
occulter centre (``occltr_cntr.pro``), sun centre and roll (``adjust_hdr_tcr.pro``), keyhole flip
and north-up rotation, ``CRPIX``/``CROTA``/``CDELT``/``RSUN`` (``reduce_level_1.pro``,
``get_solar_radius.pro``) and the observer position. It reads only small tables and headers,
never pixels, and returns a per-frame table (:class:`xarray.Dataset` over ``time``). A frame
that cannot be calibrated (an unknown filter/polarizer combination, a geometry outside the CCD)
gets ``frame_status = 2`` and the reason, never an exception that stops the run.

Applying the plan to the pixels is :mod:`lascoproc.calibrate.level1` (STYLE rule 9).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import xarray as xr

from lascoproc.kernels import ephemeris
from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels import lasco_geometry as lg

__all__ = [
    "Level1Options",
    "CalibrationSource",
    "FRAME_STATUS",
    "PLAN_COLUMNS",
    "PLAN_UNITS",
    "plan_level1",
]


#: Per-frame ``frame_status`` values.
FRAME_STATUS = {0: "ok", 1: "unreadable", 2: "not_calibrated"}


class CalibrationSource(Protocol):
    """What the level-1 chain needs from a calibration store
    (:class:`lascoproc.io.calib_store.CalibrationStore` provides it)."""

    def vignetting(self, detector: str, mjd: int) -> tuple[np.ndarray, str]: ...
    def c3_mask(self) -> tuple[np.ndarray, str]: ...
    def c3_ramp(self) -> tuple[np.ndarray, str]: ...
    def fits_image(self, relpath: str) -> np.ndarray: ...
    def expfactor_table(self, detector: str, day: dt.date) -> tuple[str | None, str]: ...
    def occulter_center(self, detector: str, filter: str, mjd: int): ...
    def sun_center_roll(self, detector: str, time: np.datetime64): ...
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
        ``offset_bias.pro`` coefficient set for frames without an exposure-factor line.
    """

    distortion: bool = True
    roll_correction: bool = True
    bias_version: str = "latest"

    def as_attrs(self) -> dict[str, Any]:
        return {f"level1_option_{k}": (int(v) if isinstance(v, bool) else v)
                for k, v in dataclasses.asdict(self).items()}


_MJD0 = np.datetime64("1858-11-17", "D")


def _mjd_of(time: np.datetime64) -> int:
    return int((np.datetime64(time, "D") - _MJD0) / np.timedelta64(1, "D"))


def _angle_gap(a: float, b: float) -> float:
    """Smallest absolute difference of two angles in degrees."""
    return abs((float(a) - float(b) + 180.0) % 360.0 - 180.0)


def _day_of_mjd(mjd: int) -> dt.date:
    return dt.date(1858, 11, 17) + dt.timedelta(days=int(mjd))


# Columns of the plan: name -> (dtype, fill for frames that cannot be calibrated).
PLAN_COLUMNS = {
    "frame_status": ("uint8", 2),
    "frame_status_reason": ("object", ""),
    "mjd": ("int32", -1),
    "expfac": ("float64", np.nan),
    "bias": ("float64", np.nan),
    "bias_source": ("object", ""),
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
}

#: Units of the plan columns that have one (CF strings astropy parses).
PLAN_UNITS = {
    "exptime": "s", "exptime_level05": "s", "bias": "count", "calfac": "MSB s / count",
    "occulter_x": "pixel", "occulter_y": "pixel", "sun_x": "pixel", "sun_y": "pixel",
    "roll": "deg", "rotation": "deg", "crpix1": "pixel", "crpix2": "pixel", "crota": "deg",
    "rectify": "deg", "cdelt": "arcsec / pixel", "rsun": "arcsec", "dsun_obs": "m",
    "hglt_obs": "deg", "hgln_obs": "deg", "pivot_x": "pixel", "pivot_y": "pixel",
}


def _frame_plan(frame: Mapping[str, Any], calib: CalibrationSource, options: Level1Options,
                tables: dict) -> dict[str, Any]:
    """Everything about one frame (values of its header coordinates) except its pixels."""
    det = str(frame["detector"]).strip().upper()
    time = np.datetime64(frame["time"], "ms")
    mjd = _mjd_of(time)  # IDL: STR2UTC(DATE-OBS).mjd, the day of observation
    filt, polar = str(frame["filter"]), str(frame["polarizer"])
    xsum = max(int(frame["sumcol"]), 1) * max(int(frame["lebxsum"]), 1)
    ysum = max(int(frame["sumrow"]), 1) * max(int(frame["lebysum"]), 1)
    r1col, r1row = int(frame["r1col"]), int(frame["r1row"])
    r2col, r2row = int(frame["r2col"]), int(frame["r2row"])
    lg.window_slices(r1col, r1row, r2col, r2row)  # raises for a window outside the CCD
    out: dict[str, Any] = {"mjd": mjd, "xsum": xsum, "ysum": ysum}

    # get_exp_factor.pro: table of the MID_DATE day, else offset_bias (x LEB summing: the
    # pixels of a LEB-summed frame hold the sum of the biases, c2_calibrate.pro comment).
    mid_date, mid_time = int(frame["mid_date"]), float(frame["mid_time"])
    key = (det, mid_date)
    if key not in tables:
        text, rel = calib.expfactor_table(det, _day_of_mjd(mid_date))
        tables[key] = (lf.parse_expfactor_table(text) if text is not None else None, rel,
                       text is not None)
    records, table_rel, table_found = tables[key]
    lebsum = max(int(frame["lebxsum"]), 1) * max(int(frame["lebysum"]), 1)
    corr = lf.exposure_correction(records, detector=det, mid_date=mid_date, mid_time=mid_time,
                                  readport=str(frame["readport"]) or "C", lebsum=1,
                                  bias_version=options.bias_version)
    out["expfac"] = corr.factor
    out["bias"] = corr.bias * lebsum
    out["bias_source"] = (f"table {table_rel.rsplit('/', 1)[-1]}" if corr.source == "table"
                          else "offset_bias")
    out["expfactor_file"] = table_rel if table_found else ""
    out["exptime_level05"] = float(frame["exptime"])
    out["exptime"] = lf.corrected_exposure_time(frame["exptime"], corr.factor)
    out["calfac"] = lf.calibration_factor(det, filt, polar, mjd, sumcol=int(frame["sumcol"]),
                                          sumrow=int(frame["sumrow"]),
                                          lebxsum=int(frame["lebxsum"]),
                                          lebysum=int(frame["lebysum"]))
    out["subtract_bias"] = not lf.is_polarization_product(polar)

    _, out["vignetting_file"] = calib.vignetting(det, mjd)
    if det == "C3":
        _, out["mask_file"] = calib.c3_mask()
        if lf.ramp_applies(det, filt) and out["subtract_bias"]:
            _, out["ramp_file"] = calib.c3_ramp()

    occ_full, _ = calib.occulter_center(det, filt, mjd)
    out["occulter_x"], out["occulter_y"] = lg.occulter_center_in_frame(
        occ_full, r1col, r1row, (xsum, ysum))

    pointing = calib.sun_center_roll(det, time)
    header_roll = float(frame["crota1"])
    if pointing is not None and _angle_gap(pointing[1], header_roll) > 90.0:
        # A star-fitted table roll half a turn from the header's (a keyhole frame the table
        # does not know about) would un-flip the frame: trust the header, and say so.
        pointing = None
        out["pointing_source"] = "level-0.5 header (table roll disagrees by > 90 deg)"
    if pointing is not None:
        (sun_x, sun_y), roll, rel = pointing
        out["pointing_source"] = rel.rsplit("/", 1)[-1]
    else:  # after the tables' last day: the level-0.5 header's estimate (IDL: estimates too)
        sun_x = (float(frame["crpix1"]) - 1.0) * xsum + (r1col - 20)
        sun_y = (float(frame["crpix2"]) - 1.0) * ysum + (r1row - 1)
        roll = header_roll
        out.setdefault("pointing_source", "level-0.5 header")
    out["sun_x"], out["sun_y"], out["roll"] = sun_x, sun_y, roll
    p = lg.level1_pointing(sun_xy=(sun_x, sun_y), roll_deg=roll,
                           crota1_level05=float(frame["crota1"]), r1col=r1col, r1row=r1row,
                           binning=(xsum, ysum), roll_correction=options.roll_correction)
    out.update(keyhole=p.keyhole, rotation=p.rotate_ccw_deg, crpix1=p.crpix1, crpix2=p.crpix2,
               crota=p.crota, rectify=p.rectify)
    out["pivot_x"], out["pivot_y"] = p.pivot_xy if p.rotated else (0.0, 0.0)
    binning = (r2col - r1col + 1) / int(frame["naxis1"])
    out["cdelt"] = lf.plate_scale_arcsec(det, binning)
    out["rsun"] = lf.solar_radius_arcsec(mjd)
    out["dsun_obs"] = 0.99 * ephemeris.earth_sun_distance_au(mjd) * ephemeris.AU_M
    out["hglt_obs"] = ephemeris.solar_b0_deg(time)
    out["hgln_obs"] = 0.0
    return out


def plan_level1(ds: xr.Dataset, calib: CalibrationSource,
                options: Level1Options = Level1Options()) -> xr.Dataset:
    """Per-frame factors and geometry of the level-1 chain (no pixel is read).

    Parameters
    ----------
    ds
        A level-0.5 cube from :func:`lascoproc.io.lasco_cube.open_lasco_cube` (its per-frame
        header coordinates are used).
    calib
        The calibration files (:class:`lascoproc.io.calib_store.CalibrationStore`). A missing
        calibration file raises its error here, before anything runs.

    Returns
    -------
    xarray.Dataset
        One variable per plan column over ``time`` (see ``PLAN_COLUMNS`` and
        :data:`PLAN_UNITS`); ``frame_status`` 0 for frames that will be calibrated, 2 with
        ``frame_status_reason`` for those that cannot.
    """
    n = ds.sizes["time"]
    columns = {name: np.full(n, fill, dtype=dtype) for name, (dtype, fill) in
               PLAN_COLUMNS.items()}
    names = [name for name, c in ds.coords.items() if c.dims == ("time",)]
    values = {name: ds[name].values for name in names}
    values["time"] = ds["time"].values
    values["naxis1"] = np.full(n, ds.sizes["x"])
    tables: dict = {}
    for i in range(n):
        frame = {name: values[name][i] for name in values}
        try:
            row = _frame_plan(frame, calib, options, tables)
        except ValueError as err:
            columns["frame_status_reason"][i] = str(err)
            continue
        columns["frame_status"][i] = 0
        for name, value in row.items():
            columns[name][i] = value
    plan = xr.Dataset({name: ("time", col) for name, col in columns.items()},
                      coords={"time": ds["time"].values})
    for name, unit in PLAN_UNITS.items():
        plan[name].attrs["units"] = unit
    return plan
