"""LASCO level 0.5 -> level 1, lazily, per frame: the SolarSoft ``reduce_level_1.pro`` chain.

Two separate steps (STYLE rule 9: computing a correction and applying it are apart):

1. :func:`lascoproc.calibrate.plan.plan_level1` works out every per-frame factor and geometry
   of the chain from the level-0.5 header values and the calibration files, without pixels.
2. :func:`calibrate_level1` applies the plan to the lazy counts, one frame per dask chunk, with
   the kernels of :mod:`lascoproc.kernels`: photometry, then distortion + keyhole flip + roll
   in one bilinear resampling (a cached sparse operator per geometry), then the mask. Output:
   ``brightness`` (float32, MSB, NaN where there is no valid datum) and a per-pixel ``quality``
   bit mask (:data:`QUALITY_FLAGS`): missing telemetry is *flagged*, not zeroed or filled (the
   inpainting step fills and flags it).

Deliberate differences from IDL are listed in ``docs/level1_port.md``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

import lascoproc
import lascoproc.units  # noqa: F401 - enables the MSB unit of the outputs
from lascoproc.calibrate.plan import (
    FRAME_STATUS,
    PLAN_COLUMNS,
    CalibrationSource,
    Level1Options,
    plan_level1,
)
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
    plan_columns = [name for name in PLAN_COLUMNS]
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
