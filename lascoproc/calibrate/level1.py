"""LASCO level 0.5 -> level 1, lazily, per frame: the SolarSoft ``reduce_level_1.pro`` chain.

Two separate steps (STYLE rule 9: computing a correction and applying it are apart):

1. :func:`lascoproc.calibrate.plan.plan_level1` works out every per-frame factor and geometry
   of the chain from the level-0.5 header values and the calibration files, without pixels.
2. :func:`calibrate_level1` applies the plan to the lazy counts, one frame per dask chunk, with
   :func:`lascoproc.kernels.level1.calibrate_frame`: photometry, then distortion + keyhole flip
   + roll in one bilinear resampling, then the mask. Output: ``brightness`` (float32, MSB, NaN
   where there is no valid datum) and a per-pixel ``quality`` bit mask (:data:`QUALITY_FLAGS`):
   missing telemetry is *flagged*, not zeroed or filled (the inpainting step fills and flags it).

The calibration images a frame needs (vignetting, C3 ramp and mask, cut to its window and binned
to its summing) are read when the graph is built and enter it once per cube, as one array the
frame tasks share: the tasks receive arrays, never the calibration store.

The level-1 cube's coordinates and attributes (:func:`level1_coords`, :func:`level1_attrs`) and
its variables' metadata (:func:`level1_template`) come from the frames' headers and the plan
alone, so a writer can make the store's template without building a graph.

Deliberate differences from IDL are listed in ``docs/level1_port.md``.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage

import lascoproc
import lascoproc.units  # noqa: F401 - enables the MSB unit of the outputs
from lascoproc.calibrate.plan import (
    CalibrationSource,
    Level1Options,
    plan_level1,
)
from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels import lasco_geometry as lg
from lascoproc.kernels.frame_status import (
    FRAME_NO_DATA,
    FRAME_NOT_CALIBRATED,
    FRAME_OK,
    FRAME_STATUS,
)
from lascoproc.kernels.level1 import FramePlan, calibrate_frame, frame_checks
from lascoproc.kernels.quality import OUTSIDE, QUALITY_FLAGS
from lascoproc.kernels.resample import mask_cells
from lascoproc.redaction import redact_url

__all__ = [
    "Level1Options",
    "QUALITY_FLAGS",
    "FRAME_STATUS",
    "plan_level1",
    "calibrate_level1",
    "level1_coords",
    "level1_attrs",
    "level1_template",
    "calibration_images",
    "frame_rows",
    "level1_block",
    "level1_frame",
    "frame_inputs",
    "cube_detector",
    "per_frame_outputs",
    "ROW_DTYPE",
]

#: The plan values a frame task needs, in the order of the per-frame row it receives.
_ROW = ("frame_status", "bias", "exptime", "calfac", "subtract_bias", "xsum", "ysum",
        "occulter_x", "occulter_y", "rotation", "pivot_x", "pivot_y", "keyhole",
        "vignetting_index", "ramp_index", "mask_index", "stored_ny", "stored_nx", "stored_y0",
        "stored_x0")
#: The per-frame row as a structured dtype: one record per frame, a plain (non-object) array.
ROW_DTYPE = np.dtype([(name, np.float64) for name in _ROW])


def _variables(detector: str) -> dict[str, tuple[tuple[str, ...], np.dtype, dict]]:
    """Name -> ``(dims, dtype, attrs)`` of the level-1 cube's data variables."""
    return {
        "brightness": (("time", "y", "x"), np.dtype(np.float32), {
            "long_name": f"LASCO {detector} level-1 brightness",
            "units": "MSB",
            "comment": "mean solar brightness; NaN where there is no valid datum: quality "
                       "bit 1 (missing telemetry) or bit 2 (outside the field), except "
                       "pixels that also have bit 4 (filled by inpainting), which hold the "
                       "fill",
        }),
        "quality": (("time", "y", "x"), np.dtype(np.uint8), {
            "long_name": "per-pixel quality flags",
            "flag_masks": np.array(list(QUALITY_FLAGS.values()), np.uint8),
            "flag_meanings": " ".join(QUALITY_FLAGS),
        }),
        "nmissing": (("time",), np.dtype(np.int16), {
            "long_name": "missing 32x32 telemetry blocks in the level-0.5 frame",
            "comment": "every all-zero block of the frame as read out (kernels/missing_blocks);"
                       " the level-1 FITS NMISSING counts as IDL does, leaving out C2's "
                       "nominally empty blocks (docs/level1_parity.md)"}),
        "frame_status": (("time",), np.dtype(np.uint8), {
            "long_name": "frame status",
            "flag_values": np.array(list(FRAME_STATUS), np.uint8),
            "flag_meanings": " ".join(FRAME_STATUS.values()),
            "comment": "0 only for a frame calibrated cleanly; frame_status_reason says why "
                       "a frame was not calibrated",
        }),
    }


def cube_detector(frames: xr.Dataset) -> str:
    """``"C2"`` or ``"C3"``: the detector of a cube or frames table."""
    detector = str(frames.attrs.get("detector", ""))
    if not detector:
        detector = str(frames["detector"].values[0]) if frames.sizes["time"] else "C2"
    return detector.strip().upper()


def level1_coords(frames: xr.Dataset, plan: xr.Dataset) -> xr.Dataset:
    """The per-frame coordinates of the level-1 cube of ``frames`` (no graph, no pixel).

    The level-0.5 header values of ``frames`` (a cube or the headers-only frames of
    :func:`lascoproc.io.lasco_cube.open_lasco_frames`) and every plan column but
    ``frame_status``; where a plan column has the name of a header value (``exptime``,
    ``crpix1``...), the level-1 value takes the name and the level-0.5 one gets the suffix
    ``_level05``.
    """
    coords = {}
    variables = plan.variables  # Variables, not DataArrays: nothing is built per column
    columns = [name for name in plan.data_vars if variables[name].dims == ("time",)]
    for name in frames.coords:
        coord = frames.variables[name]
        if coord.dims == ("time",):
            clash = name in columns or name == "time"
            coords[f"{name}_level05" if clash else name] = coord
    for name in columns:
        if name != "frame_status":
            coords[name] = variables[name]
    # the level-1 time is NRL's corrected DATE-OBS (adjust_all_date_obs; the level-0.5 time
    # where the tables do not cover the frame, as date_obs_source says)
    times = plan["date_obs"].values if "date_obs" in plan else frames["time"].values
    coords["time"] = xr.Variable("time", np.asarray(times, dtype="datetime64[ns]"),
                                 {"long_name": "start of exposure (UTC), corrected as NRL's "
                                               "level-1 DATE-OBS"})
    return xr.Dataset(coords=coords)


def level1_attrs(frames: xr.Dataset, calib: CalibrationSource,
                 options: Level1Options) -> dict[str, Any]:
    """Attributes of the level-1 cube: what it is and its provenance (lascoproc version,
    options, every calibration file read so far with its SHA-256, rejected input files)."""
    detector = cube_detector(frames)
    return {
        "title": f"SOHO/LASCO {detector} level-1 brightness",
        "instrument": "LASCO",
        "detector": detector,
        "level": "1",
        "source_archive": redact_url(str(frames.attrs.get("source_archive", ""))),
        "lascoproc_version": lascoproc.__version__,
        "method": "SolarSoft reduce_level_1.pro 1.68 chain as ported in lascoproc "
                  "(docs/level1_port.md)" + ("" if options.time_correction else
                                             "; time correction (TIME_DIFF.DAT) not applied"),
        "calibration_store": redact_url(str(getattr(calib, "url", ""))),
        "calibration_integrity": str(getattr(calib, "integrity", "")),
        "calibration_files": [f"{path} sha256:{digest}"
                              for path, digest in calib.provenance().items()],
        "rejected": list(frames.attrs.get("rejected", [])),
        **options.as_attrs(),
    }


def level1_template(frames: xr.Dataset, plan: xr.Dataset, calib: CalibrationSource,
                    options: Level1Options = Level1Options()) -> xr.Dataset:
    """The level-1 cube of ``frames`` without its data: coordinates, attributes, and each data
    variable as a one-chunk placeholder of its dims, dtype and attributes (for a store's
    template; nothing in it is meant to be computed)."""
    ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
    sizes = {"time": frames.sizes["time"], "y": ny, "x": nx}
    arrays = {}
    for name, (dims, dtype, _) in _variables(cube_detector(frames)).items():
        shape = tuple(sizes[d] for d in dims)
        arrays[name] = da.zeros(shape, dtype=dtype, chunks=shape or ())
    return _level1_dataset(frames, plan, calib, options, arrays)


def _level1_dataset(frames: xr.Dataset, plan: xr.Dataset, calib: CalibrationSource,
                    options: Level1Options, arrays: dict) -> xr.Dataset:
    """The level-1 cube of ``frames`` with ``arrays`` (one per variable of
    :func:`_variables`) as its data: one Dataset built once, its coordinates from the plan
    (:func:`level1_coords`)."""
    variables = _variables(cube_detector(frames))
    data = {name: (dims, arrays[name], dict(attrs))
            for name, (dims, _, attrs) in variables.items()}
    return xr.Dataset(data, coords=level1_coords(frames, plan).coords,
                      attrs=level1_attrs(frames, calib, options))


def calibration_images(frames: xr.Dataset, plan: xr.Dataset, calib: CalibrationSource,
                       distortion: bool = True
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The calibration images of a cube's frames, cut to each frame's window and binned to its
    summing, stacked: ``(images (m, ny, nx) float32, cells (m, ny, nx) uint8,
    {"vignetting_index": ..., "ramp_index": ..., "mask_index": ...})``, the index arrays giving
    each frame's image (-1: none); ``cells`` are the masks' interpolation cells
    (:func:`lascoproc.kernels.resample.mask_cells`), zeros for the other images.

    ``c2/c3_calibrate.pro``: the vignetting (C2 clipped to [0, 100]) and the C3 ramp;
    ``reduce_level_1.pro``: the C3 level-1 mask. A subfield embedded in a full frame
    (:func:`lascoproc.io.lasco_cube.open_lasco_frame_groups`) has a mask that is 0 outside its
    read-out window (times the C3 mask for C3): those pixels are ``outside_field``. Frames
    that are not calibrated get -1.

    C2 has no level-1 mask in IDL, but ``c2_calibrate.pro`` multiplies by the vignetting
    correction, which is 0 behind the occulter and beyond the field stop: IDL's level 1 holds
    0 there, not a measurement. Here those pixels are ``outside_field`` (NaN) like C3's masked
    ones: a C2 frame's mask is :func:`c2_field_mask` of its vignetting (``distortion``: whether
    the frames are distortion-corrected, which moves that field).
    """
    n = frames.sizes["time"]
    detector = cube_detector(frames)
    windows = np.stack([np.asarray(frames[c].values, np.int64)
                        for c in ("r1col", "r1row", "r2col", "r2row")], axis=1)
    status = np.asarray(plan["frame_status"].values)
    binning = np.stack([np.asarray(plan["xsum"].values, np.int64),
                        np.asarray(plan["ysum"].values, np.int64)], axis=1)
    keys: dict[tuple, int] = {}
    images: list[np.ndarray] = []
    index = {name: np.full(n, -1, np.int64) for name in
             ("vignetting_index", "ramp_index", "mask_index")}
    files = {"vignetting_index": plan["vignetting_file"].values,
             "ramp_index": plan["ramp_file"].values, "mask_index": plan["mask_file"].values}
    placement = _stored(frames)
    for i in range(n):
        if status[i] != FRAME_OK:
            continue
        window, bins = tuple(int(v) for v in windows[i]), tuple(int(v) for v in binning[i])
        embedded = _is_embedded(placement[i], frames)
        for name, relpaths in files.items():
            relpath = str(relpaths[i])
            if not relpath and not (name == "mask_index" and embedded):
                continue
            clip = name == "vignetting_index" and detector == "C2"
            part = tuple(int(v) for v in placement[i]) if name == "mask_index" and embedded \
                else None
            key = (relpath, window, bins, clip, part)
            if key not in keys:
                keys[key] = len(images)
                images.append(_calibration_image(calib, relpath, window, bins, clip, part,
                                                 frames))
            index[name][i] = keys[key]
        if detector == "C2" and index["vignetting_index"][i] >= 0:
            occulter = (float(plan["occulter_x"].values[i]), float(plan["occulter_y"].values[i]))
            key = ("c2 field", str(files["vignetting_index"][i]), window, bins, occulter,
                   bool(distortion), index["mask_index"][i])
            if key not in keys:
                keys[key] = len(images)
                field = c2_field_mask(images[index["vignetting_index"][i]],
                                      occulter_xy=occulter, binning=bins,
                                      distortion=distortion)
                if index["mask_index"][i] >= 0:  # an embedded subfield's window
                    field = field * images[index["mask_index"][i]]
                images.append(field.astype(np.float32))
            index["mask_index"][i] = keys[key]
    if not images:
        ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
        images.append(np.zeros((ny, nx), np.float32))
    stack = np.stack(images)
    cells = np.zeros(stack.shape, np.uint8)
    for j in np.unique(index["mask_index"][index["mask_index"] >= 0]):
        cells[j] = mask_cells(stack[j])
    return stack, cells, index


def c2_field_mask(vignetting: np.ndarray, *, occulter_xy: tuple[float, float],
                  binning: tuple[int, int], distortion: bool = True) -> np.ndarray:
    """The C2 field as a level-1 mask (1 in the field, 0 outside), in the geometry where
    :func:`lascoproc.kernels.resample.level1_resample` samples a mask: after the distortion
    correction, before the flip and the rotation.

    ``c2_calibrate.pro`` multiplies the image by the vignetting correction ``vig`` (clipped
    to [0, 100]), which is 0 behind the occulter and beyond the field stop, and ``c2_warp``
    then moves the image: an output pixel samples the input at
    :func:`lascoproc.kernels.lasco_geometry.distortion_coordinates`. A pixel is in the field
    where the bilinear sample of ``vig > 0`` there is 1 (its four input pixels all in the
    field, so no zero of the vignetting enters its value; ``1 - 1e-6`` for rounding).
    Without the distortion correction the field is ``vig > 0`` itself."""
    inside = (np.asarray(vignetting) > 0).astype(np.float32)
    if not distortion:
        return inside
    ys, xs = lg.distortion_map(inside.shape, detector="C2", occulter_xy=occulter_xy,
                               binning=binning)
    sampled = ndimage.map_coordinates(inside, [ys, xs], order=1, mode="nearest")
    return (sampled >= 1.0 - 1e-6).astype(np.float32)


def _stored(frames: xr.Dataset) -> np.ndarray:
    """Per frame ``(ny, nx, y0, x0)`` of its stored data in the frame (the whole frame but for
    embedded subfields, whose ``stored_*`` coordinates say where)."""
    if "stored_ny" in frames.coords:
        return np.stack([np.asarray(frames[f"stored_{c}"].values, np.int64)
                         for c in ("ny", "nx", "y0", "x0")], axis=1)
    ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
    return np.tile(np.array([ny, nx, 0, 0], np.int64), (frames.sizes["time"], 1))


def _is_embedded(placement: np.ndarray, frames: xr.Dataset) -> bool:
    ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
    return (int(placement[0]), int(placement[1])) != (ny, nx)


def _calibration_image(calib, relpath, window, bins, clip, part, frames) -> np.ndarray:
    """One calibration image cut to ``window`` and binned; for an embedded subfield's mask
    (``part`` = its placement), 0 outside the stored data."""
    ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
    if relpath:
        image = lg.bin_to_frame(lg.crop_to_window(calib.fits_image(relpath), *window), bins)
        if clip:
            image = lf.clip_c2_vignetting(image)
        image = np.asarray(image, dtype=np.float32)
    else:
        image = np.ones((ny, nx), np.float32)
    if part is not None:
        sy, sx, y0, x0 = part
        inside = np.zeros((ny, nx), bool)
        inside[y0:y0 + sy, x0:x0 + sx] = True
        image = np.where(inside, image, np.float32(0.0)).astype(np.float32)
    return image


def frame_inputs(frames: xr.Dataset, plan: xr.Dataset, calib: CalibrationSource,
                 distortion: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the frame tasks of ``frames`` need besides their counts: ``(images, cells,
    rows)`` (:func:`calibration_images`; :func:`frame_rows` with where each frame's data are
    stored)."""
    images, cells, index = calibration_images(frames, plan, calib, distortion)
    return images, cells, frame_rows(plan, index, _stored(frames))


def frame_rows(plan: xr.Dataset, index: Mapping[str, np.ndarray],
               placement: np.ndarray | None = None) -> np.ndarray:
    """Per-frame plan values, one record (:data:`ROW_DTYPE`) per frame, with each frame's
    calibration images (``index``, from :func:`calibration_images`) and where its stored data
    are (``placement``: ``(ny, nx, y0, x0)`` per frame; the whole frame when ``None``, which is
    right but for embedded subfields)."""
    n = plan.sizes["time"]
    if placement is None:
        placement = np.tile(np.array([-1, -1, 0, 0], np.int64), (n, 1))
    stored = dict(zip(("stored_ny", "stored_nx", "stored_y0", "stored_x0"),
                      np.asarray(placement).T, strict=True))
    rows = np.zeros(n, ROW_DTYPE)
    for name in _ROW:
        rows[name] = index[name] if name in index else stored[name] if name in stored \
            else plan[name].values
    return rows


def level1_block(counts, rows, *, images, cells, detector, distortion):
    """Level-1 ``(brightness, quality, nmissing, frame_status)`` of a block of frames
    (``(t, y, x)`` counts, ``(t,)`` rows of :func:`frame_rows`; the ``images`` and ``cells``
    of :func:`calibration_images`, shared by every frame): the task :func:`calibrate_level1`
    maps over the frames, and the plain-numpy path on arrays."""
    nt = counts.shape[0]
    brightness = np.empty(counts.shape, np.float32)
    quality = np.empty(counts.shape, np.uint8)
    nmissing = np.zeros(nt, np.int16)
    status = np.zeros(nt, np.uint8)
    for k in range(nt):
        nmissing[k], status[k] = level1_frame(counts[k], rows[k], images=images, cells=cells,
                                              detector=detector, distortion=distortion,
                                              out=(brightness[k], quality[k]))
    return brightness, quality, nmissing, status


def level1_frame(counts, row, *, images, cells, detector, distortion, out):
    """One frame of :func:`level1_block`: its level-1 brightness and quality written into
    ``out`` (C-contiguous float32 and uint8 arrays of the frame's shape), and its
    ``(nmissing, frame_status)`` returned. Every pixel of ``out`` is written: calibrated, or
    NaN/OUTSIDE for a frame that is not calibrated (flagged by the plan, or holding no data)."""
    sy, sx, y0, x0 = (int(row[c]) for c in ("stored_ny", "stored_nx", "stored_y0",
                                             "stored_x0"))
    stored = counts if sy < 0 else counts[y0:y0 + sy, x0:x0 + sx]
    nmissing, no_data = frame_checks(stored)
    if row["frame_status"] != FRAME_OK or no_data:
        out[0][...] = np.nan
        out[1][...] = OUTSIDE
        return nmissing, (FRAME_NOT_CALIBRATED if row["frame_status"] != FRAME_OK
                          else FRAME_NO_DATA)
    vig, ramp, mask = (images[j] if j >= 0 else None for j in (
        int(row["vignetting_index"]), int(row["ramp_index"]), int(row["mask_index"])))
    mask_cells_ = cells[int(row["mask_index"])] if mask is not None else None
    plan = FramePlan(
        bias=float(row["bias"]), exptime=float(row["exptime"]),
        calfac=float(row["calfac"]), subtract_bias=bool(row["subtract_bias"]),
        binning=(int(row["xsum"]), int(row["ysum"])),
        occulter_xy=(float(row["occulter_x"]), float(row["occulter_y"])),
        rotation=float(row["rotation"]),
        pivot_xy=(float(row["pivot_x"]), float(row["pivot_y"])),
        keyhole=bool(row["keyhole"]))
    calibrate_frame(counts, plan, detector=detector, vignetting=vig, ramp=ramp,
                    mask=mask, mask_cells=mask_cells_, distortion=distortion, out=out)
    return nmissing, FRAME_OK


def per_frame_outputs(func, frames, rows, *, outputs, **kwargs):
    """Several outputs of one per-frame task (STYLE rule 18: several ``map_blocks`` over one
    task): ``func(frames_block, rows_block, **kwargs)`` returns one array per ``outputs`` entry
    ``(dtype, ndim)``, 3 for ``(t, y, x)`` and 1 for ``(t,)``; each comes back as its own dask
    array with its dtype and chunks. The same as ``dask.array.apply_gufunc`` with the
    signature ``(y,x),()->(y,x),...``, without its transposes and concatenations: four tasks
    per frame fewer, which is most of dask's overhead on a ~10 ms frame (docs/benchmarks.md).
    """
    metas = tuple(np.empty((0,) * ndim, dtype) for dtype, ndim in outputs)
    joint = da.blockwise(func, "tyx", frames, "tyx", rows, "t", meta=metas,
                         concatenate=False, **kwargs)
    out = []
    for i, ((dtype, ndim), meta) in enumerate(zip(outputs, metas, strict=True)):
        if ndim == 3:
            out.append(joint.map_blocks(operator.getitem, i, dtype=dtype, meta=meta))
        else:  # a per-frame value: the (one) (y, x) block of each frame, unnested
            out.append(da.blockwise(_item, "t", joint, "tyx", i, None, dtype=dtype, meta=meta,
                                    concatenate=False))
    return out


def _item(blocks, i: int):
    """Output ``i`` of the one task of a frame, which blockwise hands over nested in lists
    (one per axis the output drops)."""
    while isinstance(blocks, list):
        (blocks,) = blocks
    return blocks[i]


def calibrate_level1(ds: xr.Dataset, calib: CalibrationSource, *,
                     options: Level1Options = Level1Options(),
                     plan: xr.Dataset | None = None) -> xr.Dataset:
    """The lazy level-1 cube of a level-0.5 cube (one frame per chunk in, one out).

    Parameters
    ----------
    ds
        Level-0.5 cube (:func:`lascoproc.io.lasco_cube.open_lasco_cube`): ``counts`` over
        ``time``, the header values as coordinates.
    calib
        Calibration files: the images the frames need are read here, once, and enter the graph
        as one shared array (module docstring).
    options
        What the run is (distortion, roll correction, ...).
    plan
        The result of :func:`~lascoproc.calibrate.plan.plan_level1` for these frames (made
        here when not given).

    Returns
    -------
    xarray.Dataset
        ``brightness`` (time, y, x) float32 in MSB, ``quality`` (time, y, x) uint8
        (:data:`QUALITY_FLAGS`), ``nmissing`` and ``frame_status`` (time) (:data:`FRAME_STATUS`,
        known when computed); per-frame coordinates (:func:`level1_coords`); attributes
        (:func:`level1_attrs`). Each output is its own dask array over one task per frame
        (:func:`per_frame_outputs`); nothing is computed here.
    """
    if plan is None:
        plan = plan_level1(ds, calib, options)
    detector = cube_detector(ds)
    images, cells, rows = frame_inputs(ds, plan, calib, bool(options.distortion))
    counts = ds["counts"].data
    tchunks = counts.chunks[0]
    # the images enter the graph once (one key every frame task depends on)
    shared = dask.delayed(images, pure=True), dask.delayed(cells, pure=True)
    outputs = per_frame_outputs(
        level1_block, counts, da.from_array(rows, chunks=(tchunks,)),
        outputs=((np.float32, 3), (np.uint8, 3), (np.int16, 1), (np.uint8, 1)),
        images=shared[0], cells=shared[1], detector=detector,
        distortion=bool(options.distortion))
    names = ("brightness", "quality", "nmissing", "frame_status")
    return _level1_dataset(ds, plan, calib, options, dict(zip(names, outputs, strict=True)))
