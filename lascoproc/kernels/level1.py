"""One LASCO frame from level 0.5 to level 1, on plain arrays (``reduce_level_1.pro`` 1.68).

The kernel behind :func:`lascoproc.calibrate.level1.calibrate_level1`: it receives the counts,
the frame's plan values (:func:`lascoproc.calibrate.plan.plan_level1`) and the calibration images
already cut to the frame's window and binned to its summing, and returns the level-1 brightness
and quality. No file, store or cache is touched here. The order of ``reduce_level_1.pro``::

    img = c?_calibrate(counts)                 photometry (lasco_factors.photometric_calibration)
    img[missing telemetry] = NaN               missing_blocks.missing_pixel_mask
    b = c?_warp + ROTATE(., 2) + ROT(-roll)    one bilinear resampling (resample.resample_level1)
    C3: b *= c3_cl_mask_lvl1, flipped and      the same pass, which also sets the flags below
        rotated, not warped

``quality``: MISSING where ``b`` is NaN inside the field (a lost pixel contributes with a
non-zero bilinear weight), OUTSIDE where the frame has no data after the rotation or the C3 mask
is below 0.5; ``brightness`` is NaN wherever ``quality`` is set.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np

from lascoproc.kernels.missing_blocks import zero_blocks
from lascoproc.kernels.resample import resample_level1

__all__ = ["FramePlan", "calibrate_frame", "photometry", "frame_checks"]


@dataclasses.dataclass(frozen=True)
class FramePlan:
    """The values of one frame's plan that the pixels need (units as ``PLAN_UNITS``).

    ``bias`` (DN, already scaled for LEB summing), corrected ``exptime`` (s), ``calfac``
    (MSB s / DN), ``subtract_bias`` (False for polarisation products), the total summing
    ``binning = (xsum, ysum)``, the occulter centre in frame pixels, the north-up rotation
    (deg, counter-clockwise), its pivot (frame pixels) and the keyhole flip.
    """

    bias: float
    exptime: float
    calfac: float
    subtract_bias: bool
    binning: tuple[int, int]
    occulter_xy: tuple[float, float]
    rotation: float
    pivot_xy: tuple[float, float]
    keyhole: bool


@numba.njit(nogil=True, cache=True)
def _photometry_kernel(counts, bias, exptime, calfac, vignetting, ramp, use_ramp,
                       subtract_bias, out):
    """One loop per case (bias and ramp, bias only, neither), each without branches: the value
    is computed for every pixel and NaN selected where the count is not positive, so that LLVM
    vectorises it (the same float32 operations in the same order: the same bits)."""
    ny, nx = counts.shape
    nan = np.float32(np.nan)
    if subtract_bias and use_ramp:
        for i in range(ny):
            for j in range(nx):
                c = counts[i, j]
                v = (np.float32(c) - bias) / exptime * vignetting[i, j] * calfac - ramp[i, j]
                out[i, j] = v if c > 0 else nan
    elif subtract_bias:
        for i in range(ny):
            for j in range(nx):
                c = counts[i, j]
                v = (np.float32(c) - bias) / exptime * vignetting[i, j] * calfac
                out[i, j] = v if c > 0 else nan
    else:
        for i in range(ny):
            for j in range(nx):
                c = counts[i, j]
                v = np.float32(c) / exptime * calfac * vignetting[i, j]
                out[i, j] = v if c > 0 else nan


def photometry(counts: np.ndarray, *, bias: float, exptime: float, calfac: float,
               vignetting: np.ndarray, ramp: np.ndarray | None = None,
               subtract_bias: bool = True) -> np.ndarray:
    """DN to MSB with NaN where the frame holds no observation, in one pass (float32).

    :func:`lascoproc.kernels.lasco_factors.photometric_calibration` (``c2/c3_calibrate.pro``,
    same operations in the same order, in float32: equal to it bit for bit, tested), then
    NaN where the count is not positive (:func:`lascoproc.kernels.missing_blocks.
    missing_pixel_mask`, ``reduce_level_1.pro``'s ``WHERE(a LE 0)``)::

        img = (raw - bias) / exptime * vig * calfac - ramp     (polarisation products:
        img = raw / exptime * calfac * vig                        no bias, no ramp)
    """
    counts = np.ascontiguousarray(counts)
    vignetting = np.ascontiguousarray(vignetting, dtype=np.float32)
    use_ramp = ramp is not None
    ramp = np.ascontiguousarray(ramp, dtype=np.float32) if use_ramp else vignetting
    out = np.empty(counts.shape, np.float32)
    _photometry_kernel(counts, np.float32(bias), np.float32(exptime), np.float32(calfac),
                       vignetting, ramp, use_ramp, bool(subtract_bias), out)
    return out


def calibrate_frame(counts: np.ndarray, plan: FramePlan, *, detector: str,
                    vignetting: np.ndarray, ramp: np.ndarray | None = None,
                    mask: np.ndarray | None = None, mask_cells: np.ndarray | None = None,
                    distortion: bool = True,
                    out: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Level-1 ``(brightness, quality)`` of one level-0.5 frame (module docstring).

    Parameters
    ----------
    counts
        The level-0.5 frame ``(ny, nx)`` as stored (DN, incl. bias; 0 in lost blocks).
    plan
        The frame's plan values.
    detector
        ``"C2"`` or ``"C3"`` (distortion coefficients).
    vignetting, ramp, mask
        Inverted vignetting (C2 already clipped to [0, 100]), C3 stray-light ramp (MSB) and C3
        level-1 mask, each cut to the frame's window and binned to its summing
        (``lasco_geometry.crop_to_window``, ``bin_to_frame``); ``ramp``/``mask`` ``None`` where
        IDL applies none.
    mask_cells
        :func:`lascoproc.kernels.resample.mask_cells` of ``mask`` (made here when not given).
    distortion
        Correct the distortion (IDL ``/NOWARP`` is False).
    out
        ``(brightness, quality)`` arrays to write into (C-contiguous float32 and uint8 of the
        frame's shape, e.g. the frame's place in a block); new arrays when ``None``.

    Returns
    -------
    brightness : numpy.ndarray
        float32 MSB, NaN where ``quality`` is set.
    quality : numpy.ndarray
        uint8 bits :data:`~lascoproc.kernels.quality.MISSING` and ``OUTSIDE``.
    """
    img = photometry(counts, bias=plan.bias, exptime=plan.exptime, calfac=plan.calfac,
                     vignetting=vignetting, ramp=ramp, subtract_bias=plan.subtract_bias)
    brightness, quality = (None, None) if out is None else out
    return resample_level1(
        img, detector=detector, occulter_xy=plan.occulter_xy, binning=plan.binning,
        rotate_ccw_deg=plan.rotation, pivot_xy=plan.pivot_xy, keyhole=plan.keyhole,
        distortion=distortion, mask=mask, cells=mask_cells, out=brightness, quality=quality)


def frame_checks(counts: np.ndarray) -> tuple[int, bool]:
    """``(nmissing, no_data)`` of a level-0.5 frame: its lost telemetry blocks
    (:func:`~lascoproc.kernels.missing_blocks.zero_blocks`), and whether it holds no
    observation at all: every block lost (every pixel 0), or every pixel not lost holding one
    value. An observed frame holds the bias plus noise; one value everywhere (32767, 16383...)
    is a saturated or corrupted read-out, which would otherwise be calibrated into a smooth,
    plausible-looking level-1 image."""
    blocks = zero_blocks(counts)
    nmissing = int(blocks.sum())
    return nmissing, bool(blocks.all()) or _one_value(counts)


def _one_value(counts: np.ndarray) -> bool:
    """Whether every non-zero pixel of ``counts`` holds the same value (a few rows first: a
    real frame differs within its first sampled row, so the whole frame is read only for a
    frame that may be constant)."""
    for row in counts[::max(1, counts.shape[0] // 4)]:
        values = row[row != 0]
        if values.size and (values != values[0]).any():
            return False
    values = counts[counts != 0]
    return values.size == 0 or bool((values == values[0]).all())
