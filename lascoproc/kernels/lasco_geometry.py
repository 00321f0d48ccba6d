"""Geometry kernels of the LASCO C2/C3 level-1 chain: windows, binning, masks, distortion, north-up.

Pure numpy (and ``scipy.ndimage`` for the one resampling) ported from the NRL SolarSoft LASCO
library as called by ``reduce_level_1.pro`` 1.68; each function names its IDL source.

Coordinates. IDL indexes images ``a[x, y]``; numpy arrays here are ``a[y, x]`` (row = y), the
layout astropy gives for FITS, so IDL ``(x, y)`` is numpy ``[y, x]`` and both count from 0
(FITS pixel = 0-based + 1). "Full-resolution" coordinates are 0-based pixels of the full
1024 x 1024 CCD image (column 0 = CCD column ``R1COL = 20``); "frame" coordinates are 0-based
pixels of the frame as read out, i.e. after the window offset and the summing.

Resampling maps have shape ``(2, ny, nx)``: ``map[0]`` the input row (y), ``map[1]`` the input
column (x) to sample for each output pixel, as :func:`scipy.ndimage.map_coordinates` takes them.
Output pixels that IDL sets to 0 (outside the frame after the roll correction) hold
:data:`OUTSIDE`, so ``map_coordinates(..., order=1, mode="constant", cval=0)`` gives 0 there
(:func:`apply_map`).

What IDL does and in which order (``reduce_level_1.pro`` 1.68)::

    b = c?_calibrate(a)              photometry (lasco_factors.photometric_calibration)
    b = c?_warp(b)                   distortion, about the occulter centre, bilinear
    b = b * mask                     C3: warp(missing) * c3_cl_mask_lvl1 (mask not warped)
                                     C2: warp(missing) only if new blocks are missing
    if |CROTA1(level 0.5)| > 170:    b = ROTATE(b, 2)   (keyhole: 180 deg, array flip)
    if |roll| >= 1 deg:              b = ROT(b, -roll, 1, xc, yc, /INTERP, /PIVOT, MISSING=0)

:func:`level1_map` composes warp, flip and rotation into one map so a frame is resampled once
(IDL interpolates twice when it rotates); the level-1 mask goes through :func:`north_up_map`.
These maps are the vectorised statement of the geometry: the level-1 chain evaluates the same
formulas pixel by pixel inside its resampling (:func:`lascoproc.kernels.resample.
level1_resample`, tested against ``apply_map(image, level1_map(...))``), so no map is stored.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "DISTORTION_COEFFS",
    "PIXEL_SIZE_MM",
    "OUTSIDE",
    "KEYHOLE_CROTA_DEG",
    "MIN_ROLL_DEG",
    "window_slices",
    "crop_to_window",
    "bin_to_frame",
    "distortion_scale",
    "distorted_radius",
    "occulter_center_in_frame",
    "distortion_coordinates",
    "distortion_map",
    "is_keyhole",
    "north_up_coordinates",
    "north_up_map",
    "level1_map",
    "apply_map",
]

#: Radial distortion coefficients ``(c0, c1, c2)`` of ``distortion_coeffs.pro`` 1.4 (09/13/10):
#: ``delta(mm) = c0 + c1 mm^2 + c2 mm^4`` with ``mm`` the radius in mm on the CCD.
DISTORTION_COEFFS = {
    "C2": (0.0051344125, -0.00012233862, 1.0978595e-7),
    "C3": (-0.0151657, 0.000165455, 0.0),
}

#: CCD pixel size in mm (21 micron), ``c2_distortion.pro``/``c3_distortion.pro``.
PIXEL_SIZE_MM = 0.021

#: Coordinate marking an output pixel with no input (IDL ``MISSING=0``); far outside any frame.
OUTSIDE = np.float32(-1.0e4)

#: ``reduce_level_1.pro``: a frame is a keyhole (inverted) frame when ``|CROTA1| > 170``.
KEYHOLE_CROTA_DEG = 170.0

#: ``reduce_level_1.pro``: no roll correction when ``|roll| < 1`` degree.
MIN_ROLL_DEG = 1.0


# --------------------------------------------------------------------------------------------
# Windows and binning of calibration images (c2_calibrate.pro 1.14, c3_calibrate.pro 1.54)
# --------------------------------------------------------------------------------------------

def window_slices(r1col: int, r1row: int, r2col: int, r2row: int) -> tuple[slice, slice]:
    """``(rows, cols)`` slices of a frame's read-out window in a full 1024 x 1024 image.

    IDL: ``x1 = R1COL - 20, x2 = R2COL - 20, y1 = R1ROW - 1, y2 = R2ROW - 1`` and
    ``vig(x1:x2, y1:y2)`` (inclusive), i.e. numpy ``vig[y1:y2+1, x1:x2+1]``.
    """
    x1, x2 = int(r1col) - 20, int(r2col) - 20
    y1, y2 = int(r1row) - 1, int(r2row) - 1
    if not (0 <= x1 <= x2 < 1024 and 0 <= y1 <= y2 < 1024):
        raise ValueError(f"read-out window R1COL..R2COL={r1col}..{r2col}, "
                         f"R1ROW..R2ROW={r1row}..{r2row} is not inside the 1024 x 1024 CCD")
    return slice(y1, y2 + 1), slice(x1, x2 + 1)


def crop_to_window(full: np.ndarray, r1col: int, r1row: int, r2col: int, r2row: int
                   ) -> np.ndarray:
    """A full-frame calibration image cut to the frame's read-out window (see window_slices)."""
    full = np.asarray(full)
    if full.shape != (1024, 1024):
        raise ValueError(f"calibration image has shape {full.shape}, expected (1024, 1024)")
    rows, cols = window_slices(r1col, r1row, r2col, r2row)
    return full[rows, cols]


def bin_to_frame(image: np.ndarray, binning: tuple[int, int]) -> np.ndarray:
    """Shrink a (windowed) calibration image to the frame's summing, as IDL ``REBIN`` does.

    ``binning = (xsum, ysum)`` with ``xsum = (SUMCOL > 1) * (LEBXSUM > 1)`` (IDL ``>`` is the
    maximum). Each output pixel is the mean of its ``ysum x xsum`` block; for integer images
    (e.g. a 0/1 mask) IDL ``REBIN`` averages in integer arithmetic and truncates, so a block
    that is not all ones becomes 0.

    Notes
    -----
    ``c2/c3_calibrate.pro`` halve the image once per summing stage with
    ``rebin(vig, vig_size/2)`` where ``vig_size`` is never updated: right for the usual 2 x 2
    summing, but a 4 x 4 summed frame would get a 2 x 2-binned vignetting of the wrong size.
    This kernel bins to the frame's actual summing instead.
    """
    image = np.asarray(image)
    xsum, ysum = (int(b) for b in binning)
    ny, nx = image.shape
    if xsum < 1 or ysum < 1 or nx % xsum or ny % ysum:
        raise ValueError(f"cannot bin a {image.shape} image by (x, y) = {binning}")
    if xsum == ysum == 1:
        return image
    blocks = image.reshape(ny // ysum, ysum, nx // xsum, xsum)
    n = xsum * ysum
    if np.issubdtype(image.dtype, np.integer) or image.dtype == np.bool_:
        total = blocks.astype(np.int64).sum(axis=(1, 3))
        mean = np.trunc(total / n).astype(np.int64)  # IDL integer division truncates
        return mean.astype(image.dtype if image.dtype != np.bool_ else np.uint8)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(
        np.result_type(image.dtype, np.float32))


# --------------------------------------------------------------------------------------------
# Distortion (c2_warp.pro, c3_warp.pro 1.9, c?_distortion.pro, distortion_coeffs.pro 1.4)
# --------------------------------------------------------------------------------------------

def _coeffs(detector: str) -> tuple[float, float, float]:
    tel = str(detector).strip().upper()
    if tel not in DISTORTION_COEFFS:
        raise ValueError(f"no distortion coefficients for {detector!r}")
    return DISTORTION_COEFFS[tel]


def distortion_scale(r_full: np.ndarray | float, detector: str) -> np.ndarray:
    """``1 + c0 + c1 mm^2 + c2 mm^4`` with ``mm = 0.021 * r_full`` (mm on the CCD).

    ``c?_distortion.pro``: ``mm = r * 0.021; f1 = mm * (c0 + c1 mm^2 + c2 mm^4);
    f1 = r + f1 / 0.021`` (pixels), returned as ``secs * f1`` in arcsec. So the distorted
    radius is ``f1 = r * distortion_scale(r)``. (CorKit 1.0.16 divides the C3 term by 0.21,
    making the C3 correction 10 times too small.)
    """
    c0, c1, c2 = _coeffs(detector)
    mm2 = (np.asarray(r_full, dtype=np.float64) * PIXEL_SIZE_MM) ** 2
    return 1.0 + c0 + c1 * mm2 + c2 * mm2 * mm2


def distorted_radius(r_full: np.ndarray | float, detector: str) -> np.ndarray:
    """Radius (full-resolution pixels) in the uncorrected image that lands at ``r_full``.

    ``c?_warp.pro`` computes ``r0 = c?_distortion(r, scalef) / (sumx * scalef)``: the
    distortion is evaluated in arcsec with the plate scale ``scalef`` (``GET_SEC_PIXEL``,
    11.9 or 56.0 arcsec times the binning) and converted back to frame pixels with the same
    plate scale, which cancels; the arcsec step changes nothing but the unit.
    """
    r_full = np.asarray(r_full, dtype=np.float64)
    return r_full * distortion_scale(r_full, detector)


def occulter_center_in_frame(occulter_xy: tuple[float, float], r1col: int, r1row: int,
                             binning: tuple[int, int]) -> tuple[float, float]:
    """Occulter centre in frame coordinates from the full-resolution one.

    ``occltr_cntr.pro`` 1.9 gives the centre in 0-based full-frame pixels (C3: nearest date of
    ``c3_occltr_cntr.dat``; C2: ``occulter_center.dat``, default ``[512.634, 505.293]``);
    ``c3_warp.pro`` divides by the summing and the window offset goes the same way:
    ``((x - (R1COL - 20)) / xsum, (y - (R1ROW - 1)) / ysum)``.
    """
    xsum, ysum = binning
    return ((occulter_xy[0] - (r1col - 20)) / xsum, (occulter_xy[1] - (r1row - 1)) / ysum)


def distortion_coordinates(x: np.ndarray, y: np.ndarray, *, detector: str,
                           occulter_xy: tuple[float, float], binning: tuple[int, int] = (1, 1)
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Where ``c?_warp`` samples the uncalibrated-geometry image for output pixel ``(x, y)``.

    ``c3_warp.pro`` 1.9 (c2_warp the same) in frame coordinates, ``(xc, yc)`` the occulter
    centre in frame coordinates::

        r     = sqrt((sumx (x - xc))^2 + (sumy (y - yc))^2)     full-resolution pixels
        r0    = distorted_radius(r) / sumx                       frame pixels
        theta = atan2(y - yc, x - xc)
        x0    = xc + r0 cos(theta);  y0 = yc + r0 sin(theta)

    and ``WARP_TRI(x, y, x0, y0, image)`` moves input point ``(x0, y0)`` to output ``(x, y)``:
    the output at ``(x, y)`` is the input sampled at ``(x0, y0)``. IDL evaluates this on a
    33 x 33 grid of control points 32 full-resolution pixels apart and interpolates linearly
    between them (``TRIGRID``); here it is evaluated at every pixel (the difference is at most
    0.054 pixel for C3 and 0.020 for C2 on a full frame). IDL ``INTERPOLATE`` clamps to the
    frame edge, so callers clamp the result (:func:`distortion_map`, :func:`level1_map`).
    """
    xsum, ysum = binning
    dx = np.asarray(x, dtype=np.float64) - occulter_xy[0]
    dy = np.asarray(y, dtype=np.float64) - occulter_xy[1]
    r = np.hypot(xsum * dx, ysum * dy)
    r0 = distorted_radius(r, detector) / xsum
    theta = np.arctan2(dy, dx)
    return occulter_xy[0] + r0 * np.cos(theta), occulter_xy[1] + r0 * np.sin(theta)


def distortion_map(shape: tuple[int, int], *, detector: str,
                   occulter_xy: tuple[float, float], binning: tuple[int, int] = (1, 1)
                   ) -> np.ndarray:
    """Resampling map of the distortion correction alone (``c?_warp.pro``), ``(2, ny, nx)``
    float32: the warp as IDL applies it, before the flip and the rotation."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    xs, ys = distortion_coordinates(x, y, detector=detector, occulter_xy=occulter_xy,
                                    binning=binning)
    return np.stack([np.clip(ys, 0, ny - 1), np.clip(xs, 0, nx - 1)]).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Roll: keyhole flip, north-up rotation, level-1 pointing (reduce_level_1.pro 1.68)
# --------------------------------------------------------------------------------------------

def is_keyhole(crota1_level05: float) -> bool:
    """A keyhole (spacecraft rolled 180 deg) frame: ``|CROTA1| > 170`` in the level-0.5 header."""
    return abs(float(crota1_level05)) > KEYHOLE_CROTA_DEG


def north_up_coordinates(x: np.ndarray, y: np.ndarray, *, shape: tuple[int, int],
                         rotate_ccw_deg: float, pivot_xy: tuple[float, float],
                         keyhole: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the keyhole flip and the roll correction sample the warped image.

    Inverse of ``ROT(ROTATE(b, 2), -roll, 1, xc, yc, /PIVOT)``: for output ``(x, y)`` the
    rotated-image point is ``pivot + R_cw(roll) (p - pivot)``, i.e.::

        u = x - xc, v = y - yc
        xr = xc + u cos(roll) + v sin(roll);   yr = yc - u sin(roll) + v cos(roll)

    (a counter-clockwise turn of the image by ``roll``), then the keyhole flip
    ``(nx - 1 - xr, ny - 1 - yr)``. Also returns ``outside``: True where ``(xr, yr)`` is off
    the frame, where IDL's ``MISSING=0`` gives 0.
    """
    ny, nx = shape
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if rotate_ccw_deg:
        a = np.deg2rad(rotate_ccw_deg)
        c, s = np.cos(a), np.sin(a)
        u, v = x - pivot_xy[0], y - pivot_xy[1]
        xr = pivot_xy[0] + u * c + v * s
        yr = pivot_xy[1] - u * s + v * c
        eps = 1e-6  # rounding of cos/sin must not push an edge pixel off the frame
        outside = (xr < -eps) | (xr > nx - 1 + eps) | (yr < -eps) | (yr > ny - 1 + eps)
        xr, yr = np.clip(xr, 0, nx - 1), np.clip(yr, 0, ny - 1)
    else:
        xr, yr = x, y
        outside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    if keyhole:
        xr, yr = (nx - 1) - xr, (ny - 1) - yr
    return xr, yr, outside


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    return x, y


def north_up_map(shape: tuple[int, int], *, rotate_ccw_deg: float = 0.0,
                 pivot_xy: tuple[float, float] = (0.0, 0.0), keyhole: bool = False
                 ) -> np.ndarray:
    """Resampling map of the keyhole flip and the roll correction only, ``(2, ny, nx)`` float32.

    For the level-1 mask, which IDL multiplies into the warped frame before the rotation.
    Arguments as :func:`lascoproc.kernels.lasco_pointing.level1_pointing` gives them.
    """
    x, y = _grid(shape)
    xr, yr, outside = north_up_coordinates(x, y, shape=shape, rotate_ccw_deg=rotate_ccw_deg,
                                           pivot_xy=pivot_xy, keyhole=keyhole)
    out = np.stack([yr, xr]).astype(np.float32)
    out[:, outside] = OUTSIDE
    return out


def level1_map(shape: tuple[int, int], *, detector: str, occulter_xy: tuple[float, float],
               binning: tuple[int, int] = (1, 1), rotate_ccw_deg: float = 0.0,
               pivot_xy: tuple[float, float] = (0.0, 0.0), keyhole: bool = False,
               distortion: bool = True) -> np.ndarray:
    """One resampling map for distortion, keyhole flip and north-up rotation, float32.

    ``level1 = apply_map(calibrated, level1_map(...)) * apply_map(mask, north_up_map(...))``
    reproduces IDL's ``ROT(ROTATE(c?_warp(b) * mask, 2), -roll, ...)`` with one interpolation
    instead of two. ``occulter_xy`` in frame coordinates (:func:`occulter_center_in_frame`);
    ``rotate_ccw_deg``, ``pivot_xy``, ``keyhole`` from
    :func:`lascoproc.kernels.lasco_pointing.level1_pointing`; ``distortion=False`` is IDL's
    ``/NOWARP``.

    """
    ny, nx = shape
    x, y = _grid(shape)
    xr, yr, outside = north_up_coordinates(x, y, shape=shape, rotate_ccw_deg=rotate_ccw_deg,
                                           pivot_xy=pivot_xy, keyhole=keyhole)
    if distortion:
        xr, yr = distortion_coordinates(xr, yr, detector=detector, occulter_xy=occulter_xy,
                                        binning=binning)
        xr, yr = np.clip(xr, 0, nx - 1), np.clip(yr, 0, ny - 1)  # IDL INTERPOLATE clamps
    out = np.stack([yr, xr]).astype(np.float32)
    out[:, outside] = OUTSIDE
    return out


def apply_map(image: np.ndarray, coords: np.ndarray, *, order: int = 1) -> np.ndarray:
    """Resample ``image`` with a map: bilinear (IDL ``/INTERP``), 0 outside the frame."""
    return ndimage.map_coordinates(np.asarray(image), coords, order=order, mode="constant",
                                   cval=0.0, prefilter=False)
