"""One LASCO frame from level 0.5 to level 1, on plain arrays (``reduce_level_1.pro`` 1.68).

The kernel behind :func:`lascoproc.calibrate.level1.calibrate_level1`: it receives the counts,
the frame's plan values (:func:`lascoproc.calibrate.plan.plan_level1`) and the calibration images
already cut to the frame's window and binned to its summing, and returns the level-1 brightness
and quality. No file, store or cache is touched here. The order of ``reduce_level_1.pro``::

    img = c?_calibrate(counts)                 photometry (lasco_factors.photometric_calibration)
    img[missing telemetry] = NaN               missing_blocks.missing_pixel_mask
    b = c?_warp + ROTATE(., 2) + ROT(-roll)    one bilinear resampling (resample.level1_resample)
    C3: b *= c3_cl_mask_lvl1, flipped and rotated, not warped

``quality``: MISSING where ``b`` is NaN inside the field (a lost pixel contributes with a
non-zero bilinear weight), OUTSIDE where the frame has no data after the rotation or the C3 mask
is below 0.5; ``brightness`` is NaN wherever ``quality`` is set.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels.missing_blocks import missing_pixel_mask, zero_blocks
from lascoproc.kernels.quality import MISSING, OUTSIDE
from lascoproc.kernels.resample import level1_resample

__all__ = ["FramePlan", "calibrate_frame", "frame_checks"]


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


def calibrate_frame(counts: np.ndarray, plan: FramePlan, *, detector: str,
                    vignetting: np.ndarray, ramp: np.ndarray | None = None,
                    mask: np.ndarray | None = None, distortion: bool = True
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
    distortion
        Correct the distortion (IDL ``/NOWARP`` is False).

    Returns
    -------
    brightness : numpy.ndarray
        float32 MSB, NaN where ``quality`` is set.
    quality : numpy.ndarray
        uint8 bits :data:`~lascoproc.kernels.quality.MISSING` and ``OUTSIDE``.
    """
    img = lf.photometric_calibration(counts, bias=plan.bias, exptime=plan.exptime,
                                     calfac=plan.calfac, vignetting=vignetting,
                                     ramp=0.0 if ramp is None else ramp,
                                     subtract_bias=plan.subtract_bias, dtype=np.float32)
    img[missing_pixel_mask(counts)] = np.nan
    out, outside, mask_low = level1_resample(
        img, detector=detector, occulter_xy=plan.occulter_xy, binning=plan.binning,
        rotate_ccw_deg=plan.rotation, pivot_xy=plan.pivot_xy, keyhole=plan.keyhole,
        distortion=distortion, mask=mask)
    if mask_low is not None:
        outside |= mask_low
    quality = np.where(outside, np.uint8(OUTSIDE),
                       np.where(np.isnan(out), np.uint8(MISSING), np.uint8(0)))
    out[outside] = np.nan
    return out, quality


def frame_checks(counts: np.ndarray) -> tuple[int, bool]:
    """``(nmissing, no_data)`` of a level-0.5 frame: its lost telemetry blocks
    (:func:`~lascoproc.kernels.missing_blocks.zero_blocks`), and whether it holds no
    observation at all (every block lost, or every pixel 0)."""
    blocks = zero_blocks(counts)
    return int(blocks.sum()), bool(blocks.all())
