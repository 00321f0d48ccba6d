"""The per-frame planner lascoproc had before planning was vectorised (lascoproc/calibrate/
plan.py at commit 5597fd6, ``_frame_plan`` and its loop), kept verbatim as the reference the
vectorised :func:`lascoproc.calibrate.plan.plan_level1` must reproduce (tests/unit/test_plan.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import xarray as xr

from lascoproc.kernels import ephemeris
from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels import lasco_geometry as lg

_MJD0 = np.datetime64("1858-11-17", "D")


def _mjd_of(time: np.datetime64) -> int:
    return int((np.datetime64(time, "D") - _MJD0) / np.timedelta64(1, "D"))


def _angle_gap(a: float, b: float) -> float:
    """Smallest absolute difference of two angles in degrees."""
    return abs((float(a) - float(b) + 180.0) % 360.0 - 180.0)


def _day_of_mjd(mjd: int) -> dt.date:
    return dt.date(1858, 11, 17) + dt.timedelta(days=int(mjd))


# Columns of the plan: name -> (dtype, fill for frames that cannot be calibrated).
REFERENCE_COLUMNS = {
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

def _frame_plan(frame, calib, options, tables) -> dict:
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
    out: dict = {"mjd": mjd, "xsum": xsum, "ysum": ysum}

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
    p = _level1_pointing(sun_xy=(sun_x, sun_y), roll_deg=roll,
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




def reference_plan(ds: xr.Dataset, calib, options) -> xr.Dataset:
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
               REFERENCE_COLUMNS.items()}
    names = [name for name, c in ds.coords.items() if c.dims == ("time",)]
    values = {name: ds[name].values for name in names}
    values["time"] = ds["time"].values
    values["naxis1"] = np.full(n, int(str(ds.attrs["frame_shape"]).split("x")[1]))
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
    return plan


# The scalar pointing of the per-frame planner, as it was (lasco_geometry before the
# vectorised kernels.lasco_pointing replaced it).

@dataclasses.dataclass(frozen=True)
class Level1Pointing:
    """Level-1 pointing of a frame and the roll correction to apply to its image.

    ``crpix1/2`` are FITS (1-based) frame pixels of the sun centre; ``crota`` the level-1
    ``CROTA``/``CROTA1``/``CROTA2`` (0 when the image was rotated north up, else the roll);
    ``rectify`` the ``RECTIFY`` keyword; ``keyhole`` whether the image is flipped 180 deg;
    ``rotate_ccw_deg`` the counter-clockwise rotation about ``pivot_xy`` (0-based frame
    coordinates) applied after the flip, 0 when none.
    """

    crpix1: float
    crpix2: float
    crota: float
    rectify: float
    keyhole: bool
    rotate_ccw_deg: float
    pivot_xy: tuple[float, float]

    @property
    def rotated(self) -> bool:
        return self.rotate_ccw_deg != 0.0


def _level1_pointing(*, sun_xy: tuple[float, float], roll_deg: float, crota1_level05: float,
                    r1col: int = 20, r1row: int = 1, binning: tuple[int, int] = (1, 1),
                    roll_correction: bool = True) -> Level1Pointing:
    """Sun centre, roll and ``CROTA`` of the level-1 frame (``reduce_level_1.pro`` 1.68).

    ``sun_xy`` (0-based full-frame pixels) and ``roll_deg`` come from ``adjust_hdr_tcr.pro``
    (or ``get_sun_center``/``get_roll_or_xy`` when the time tables are not up to date). IDL::

        if |CROTA1| > 170:                 keyhole: image = ROTATE(image, 2)
            (cx, cy) = 511.5 + rot180((cx, cy) - 511.5);  roll -= 180;  rectify = 180
        xc = (cx - R1COL + 20) / xsum;     yc = (cy - R1ROW + 1) / ysum
        CRPIX = (xc + 1, yc + 1)
        crota = roll + 360 if roll < -180 else roll
        if roll_correction and |roll| >= 1:
            image = ROT(image, -roll, 1, xc, yc, /INTERP, /PIVOT, MISSING=0)
            crota = 0;  rectify += roll

    ``ROT`` turns the image clockwise by its angle, so ``-roll`` turns it counter-clockwise by
    ``roll`` about the sun centre, which stays at ``CRPIX``. The header comment reads "Rotate
    image CROTA degrees CCW to correct". Note the 1-degree test is on ``roll`` after the
    keyhole subtraction (a table roll of -179.5 becomes -359.5 and is rotated, to the same
    effect as +0.5), and that the keyhole centre formula (about 511.5 in full-resolution
    pixels) is exact for 1024 frames but half a frame pixel off the flipped data for 2 x 2
    summed ones; both are kept as IDL has them.
    """
    cx, cy = float(sun_xy[0]), float(sun_xy[1])
    roll = float(roll_deg)
    keyhole = lg.is_keyhole(crota1_level05)
    rectify = 0.0
    if keyhole:
        cx, cy = 1023.0 - cx, 1023.0 - cy  # 511.5 + rot180(c - 511.5)
        roll -= 180.0
        rectify = 180.0
    xsum, ysum = binning
    xc = (cx - r1col + 20) / xsum
    yc = (cy - r1row + 1) / ysum
    crota = roll + 360.0 if roll < -180.0 else roll
    rotate = 0.0
    if roll_correction and abs(roll) >= lg.MIN_ROLL_DEG:
        rotate = roll
        crota = 0.0
        rectify += roll
    return Level1Pointing(crpix1=xc + 1.0, crpix2=yc + 1.0, crota=crota, rectify=rectify,
                          keyhole=keyhole, rotate_ccw_deg=rotate, pivot_xy=(xc, yc))
