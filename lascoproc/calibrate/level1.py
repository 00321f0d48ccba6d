"""LASCO level 0.5 -> level 1, lazily, per frame: the SolarSoft ``reduce_level_1.pro`` chain.

Two separate steps (STYLE rule 9: computing a correction and applying it are apart):

1. :func:`plan_level1` works out, for every frame, every factor and geometry of the chain from
   the level-0.5 header values (the cube's per-frame coordinates) and the calibration files:
   exposure factor and bias (``get_exp_factor.pro``, fallback ``offset_bias.pro``), corrected
   exposure time, calibration factor (``c2/c3_calfactor.pro``), vignetting/mask/ramp files
   (``c2/c3_calibrate.pro``), occulter centre (``occltr_cntr.pro``), sun centre and roll
   (``adjust_hdr_tcr.pro``), keyhole flip and north-up rotation, ``CRPIX``/``CROTA``/``CDELT``/
   ``RSUN`` (``reduce_level_1.pro``, ``get_solar_radius.pro``) and the observer position. It
   reads only small tables and headers, never pixels, and returns a per-frame table
   (:class:`xarray.Dataset` over ``time``). A frame that cannot be calibrated (an unknown
   filter/polarizer combination, a geometry outside the CCD) gets ``frame_status = 2`` and the
   reason, never an exception that stops the run.
2. :func:`calibrate_level1` applies the plan to the lazy counts, one frame per dask chunk, with
   the kernels of :mod:`lascoproc.kernels`: photometry, then distortion + keyhole flip + roll
   in one bilinear resampling (a cached sparse operator per geometry), then the mask. Output:
   ``brightness`` (float32, MSB, NaN where there is no valid datum) and a per-pixel ``quality``
   bit mask (:data:`QUALITY_FLAGS`): missing telemetry is *flagged*, not zeroed or filled (the
   inpainting step fills and flags it).

Deliberate differences from IDL are listed in ``docs/level1_port.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import dask.array as da
import numpy as np
import xarray as xr

import lascoproc
import lascoproc.units  # noqa: F401 - enables the MSB unit of the outputs
from lascoproc.kernels import ephemeris
from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels import lasco_geometry as lg
from lascoproc.kernels.quality import MISSING, OUTSIDE, QUALITY_FLAGS
from lascoproc.kernels.resample import apply_operator, bilinear_operator

__all__ = [
    "Level1Options",
    "QUALITY_FLAGS",
    "FRAME_STATUS",
    "plan_level1",
    "calibrate_level1",
    "level1_frame",
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
_PLAN_COLUMNS = {
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
        One variable per plan column over ``time`` (see ``_PLAN_COLUMNS`` and
        :data:`PLAN_UNITS`); ``frame_status`` 0 for frames that will be calibrated, 2 with
        ``frame_status_reason`` for those that cannot.
    """
    n = ds.sizes["time"]
    columns = {name: np.full(n, fill, dtype=dtype) for name, (dtype, fill) in
               _PLAN_COLUMNS.items()}
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


# --- the per-frame computation ---------------------------------------------------------

_CACHE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=16)
def _operator(shape, detector, occulter, binning, rotation, pivot, keyhole, distortion):
    """The frame's resampling operator and where it has no input (cached per geometry)."""
    coords = lg.level1_map(shape, detector=detector, occulter_xy=occulter, binning=binning,
                           rotate_ccw_deg=rotation, pivot_xy=pivot, keyhole=keyhole,
                           distortion=distortion)
    op = bilinear_operator(coords, shape)
    empty = np.diff(op.indptr).reshape(shape) == 0
    empty.flags.writeable = False
    return op, empty


@functools.lru_cache(maxsize=16)
def _rotated_mask_outside(shape, mask_key, rotation, pivot, keyhole):
    """Where the (flipped, rotated, not warped) C3 mask is below 0.5 (cached per geometry)."""
    mask = _MASKS[mask_key]
    coords = lg.north_up_map(shape, rotate_ccw_deg=rotation, pivot_xy=pivot, keyhole=keyhole)
    outside = apply_operator(bilinear_operator(coords, shape), mask, shape) < 0.5
    outside.flags.writeable = False
    return outside


_MASKS: dict = {}


def _cached(fn, *args):
    # lru_cache is thread safe for lookups; the lock avoids building one operator twice.
    with _CACHE_LOCK:
        return fn(*args)


_WINDOW_CACHE: dict = {}


def _calibration_image(calib, relpath, window, binning, clip_c2=False):
    """A calibration image cut to the frame's window and binned to its summing (cached)."""
    # keyed by the store's URL: on a dask worker each task unpickles its own store object
    key = (getattr(calib, "url", id(calib)), relpath, window, binning, clip_c2)
    with _CACHE_LOCK:
        if key in _WINDOW_CACHE:
            return _WINDOW_CACHE[key]
    image = lg.bin_to_frame(lg.crop_to_window(calib.fits_image(relpath), *window), binning)
    if clip_c2:
        image = lf.clip_c2_vignetting(image)
    image = np.asarray(image, dtype=np.float32)
    with _CACHE_LOCK:
        if len(_WINDOW_CACHE) > 32:
            _WINDOW_CACHE.clear()
        _WINDOW_CACHE[key] = image
    return image


def level1_frame(counts: np.ndarray, p: Mapping[str, Any], calib: CalibrationSource, *,
                 detector: str, window: tuple[int, int, int, int],
                 options: Level1Options = Level1Options()) -> tuple[np.ndarray, np.ndarray]:
    """Calibrate one level-0.5 frame with its plan row ``p``: ``(brightness, quality)``.

    The order of ``reduce_level_1.pro`` 1.68 (see ``lasco_geometry``), resampled once::

        img = photometric_calibration(counts)             c2/c3_calibrate.pro
        img[counts <= 0] = NaN                            missing telemetry
        b = S @ img                                       c?_warp + ROTATE(.,2) + ROT(-roll)
        mask = R @ mask                                   C3 mask, flipped/rotated, not warped

    ``quality``: MISSING where ``b`` is NaN inside the field (a missing pixel contributes with a
    non-zero bilinear weight), OUTSIDE where the frame has no data after the rotation or the C3
    mask is below 0.5 (IDL multiplies by the binned mask; a fractional edge pixel is kept if
    at least half its area is in the field). ``brightness`` is NaN wherever ``quality`` is set.
    """
    det = detector.upper()
    shape = counts.shape
    binning = (int(p["xsum"]), int(p["ysum"]))
    vig = _calibration_image(calib, p["vignetting_file"], window, binning,
                             clip_c2=(det == "C2"))
    ramp = (_calibration_image(calib, p["ramp_file"], window, binning) if p["ramp_file"]
            else np.float32(0.0))
    img = lf.photometric_calibration(counts, bias=p["bias"], exptime=p["exptime"],
                                     calfac=p["calfac"], vignetting=vig, ramp=ramp,
                                     subtract_bias=bool(p["subtract_bias"]), dtype=np.float32)
    img[lg.missing_pixel_mask(counts)] = np.nan
    rotation = float(p["rotation"])
    pivot = (float(p["pivot_x"]), float(p["pivot_y"]))
    keyhole = bool(p["keyhole"])
    op, outside = _cached(_operator, shape, det,
                          (float(p["occulter_x"]), float(p["occulter_y"])), binning, rotation,
                          pivot, keyhole, bool(options.distortion))
    out = apply_operator(op, img, shape)
    if p["mask_file"]:
        mask_key = (getattr(calib, "url", id(calib)), str(p["mask_file"]), window, binning)
        if mask_key not in _MASKS:
            _MASKS[mask_key] = _calibration_image(calib, p["mask_file"], window, binning)
        outside = outside | _cached(_rotated_mask_outside, shape, mask_key, rotation, pivot,
                                    keyhole)
    missing = np.isnan(out) & ~outside
    quality = (missing.astype(np.uint8) * MISSING) | (outside.astype(np.uint8) * OUTSIDE)
    out[outside] = np.nan
    return out, quality


def _level1_block(counts, status, plan_rows, calib=None, detector=None, options=None):
    """dask block: frames -> ``(brightness, quality, nmissing)`` for the frames of the block.

    One task per frame does all of a frame's work (calibration, resampling, flags, the count
    of missing blocks): dask's overhead per task is not small against a ~8 ms frame.
    """
    brightness = np.full(counts.shape, np.nan, np.float32)
    quality = np.full(counts.shape, OUTSIDE, np.uint8)
    nmissing = np.zeros(counts.shape[0], np.int16)
    for k in range(counts.shape[0]):
        nmissing[k] = lg.missing_blocks(counts[k]).size
        row = plan_rows[k]
        if row["frame_status"] != 0 or status[k] != 0:
            continue  # not calibrated: NaN, flagged outside; frame_status says why
        brightness[k], quality[k] = level1_frame(
            counts[k], row, calib, detector=detector, window=row["window"], options=options)
    return brightness, quality, nmissing


def _nmissing_part(blocks):
    return blocks[0][0][2]


def _part(block, index):
    return block[index]


def calibrate_level1(ds: xr.Dataset, calib: CalibrationSource, *,
                     options: Level1Options = Level1Options(),
                     plan: xr.Dataset | None = None) -> xr.Dataset:
    """The lazy level-1 cube of a level-0.5 cube (one frame per chunk in, one out).

    Parameters
    ----------
    ds
        Level-0.5 cube (:func:`lascoproc.io.lasco_cube.open_lasco_cube`).
    calib
        Calibration files; read once per process and cached.
    plan
        The result of :func:`plan_level1` (computed here when not given).

    Returns
    -------
    xarray.Dataset
        ``brightness`` (time, y, x) float32 in MSB, ``quality`` (time, y, x) uint8
        (:data:`QUALITY_FLAGS`), ``frame_status`` (time); the plan columns and the level-0.5
        header values as per-frame coordinates; provenance attributes (lascoproc version,
        options, every calibration file with its SHA-256).
    """
    if plan is None:
        plan = plan_level1(ds, calib, options)
    detector = str(ds.attrs.get("detector", ""))
    if not detector:
        detector = str(ds["detector"].values[0]) if ds.sizes["time"] else "C2"
    counts = ds["counts"].data
    status = ds["read_status"].data
    n = ds.sizes["time"]
    plan_table = np.empty(n, dtype=object)
    plan_columns = [name for name in _PLAN_COLUMNS]
    columns = {name: plan[name].values for name in plan_columns}
    windows = [ds[c].values for c in ("r1col", "r1row", "r2col", "r2row")]
    for i in range(n):
        row = {name: columns[name][i] for name in plan_columns}
        row["window"] = tuple(int(w[i]) for w in windows)
        plan_table[i] = row
    tchunks = counts.chunks[0]
    rows = da.from_array(plan_table, chunks=(tchunks,))
    parts = da.blockwise(
        _level1_block, "tyx", counts, "tyx", status, "t", rows, "t",
        dtype=object, meta=np.empty((0, 0, 0), dtype=object),
        calib=calib, detector=detector, options=options,
    )
    brightness = parts.map_blocks(_part, 0, dtype=np.float32,
                                  meta=np.empty((0, 0, 0), np.float32))
    quality = parts.map_blocks(_part, 1, dtype=np.uint8, meta=np.empty((0, 0, 0), np.uint8))
    # one (y, x) block per frame: blockwise hands it over nested in lists, unwrap it
    nmissing = da.blockwise(_nmissing_part, "t", parts, "tyx", dtype=np.int16,
                            meta=np.empty((0,), np.int16))
    frame_status = np.where(plan["frame_status"].values != 0, 2, 0).astype(np.uint8)
    coords = {}
    for name, coord in ds.coords.items():
        if coord.dims == ("time",):
            # level-1 values replace the level-0.5 ones of the same name (EXPTIME, CRPIX);
            # the level-0.5 ones stay available with a suffix
            clash = name in plan_columns and name != "time"
            coords[f"{name}_level05" if clash else name] = coord
    for name in plan_columns:
        if name != "frame_status":
            coords[name] = plan[name]
    out = xr.Dataset(
        {
            "brightness": (("time", "y", "x"), brightness, {
                "long_name": f"LASCO {detector} level-1 brightness",
                "units": "MSB",
                "comment": "mean solar brightness; NaN where quality != 0",
            }),
            "quality": (("time", "y", "x"), quality, {
                "long_name": "per-pixel quality flags",
                "flag_masks": np.array(list(QUALITY_FLAGS.values()), np.uint8),
                "flag_meanings": " ".join(QUALITY_FLAGS),
            }),
            "nmissing": ("time", nmissing, {
                "long_name": "missing 32x32 telemetry blocks in the level-0.5 frame"}),
            # read failures are only known when computed: combine lazily with the plan
            "frame_status": ("time", da.maximum(
                da.from_array(frame_status, chunks=(tchunks,)),
                status.astype(np.uint8)), {
                "long_name": "frame status",
                "flag_values": np.array(list(FRAME_STATUS), np.uint8),
                "flag_meanings": " ".join(FRAME_STATUS.values()),
            }),
        },
        coords=coords,
    )
    out.attrs.update({
        "title": f"SOHO/LASCO {detector} level-1 brightness",
        "instrument": "LASCO",
        "detector": detector,
        "level": "1",
        "source_archive": ds.attrs.get("source_archive", ""),
        "lascoproc_version": lascoproc.__version__,
        "method": "SolarSoft reduce_level_1.pro 1.68 chain as ported in lascoproc "
                  "(docs/level1_port.md); time correction (adjust_all_date_obs, TIME_DIFF.DAT) "
                  "not applied",
        "calibration_store": getattr(calib, "url", ""),
        "calibration_files": [f"{path} sha256:{digest}"
                              for path, digest in calib.provenance().items()],
        "rejected": list(ds.attrs.get("rejected", [])),
        **options.as_attrs(),
    })
    return out
