"""Quality of a fill inside its holes: PSNR, SSIM and L1 (numpy/scipy).

All three compare a filled image with the truth on the pixels of ``region`` (the holes), on
whatever scale they are given; :mod:`lascoproc.inpaint.evaluate` passes asinh-normalised images
(:mod:`lascoproc.inpaint.normalise`) so the numbers do not depend on the units of the data.

- ``L1 = mean |f - t|`` over the region.
- ``PSNR = 10 log10(R^2 / MSE)`` with ``MSE`` over the region and ``R`` the data range of the
  truth (max - min over its finite pixels).
- ``SSIM``: Wang et al. 2004 (IEEE TIP 13, 600), Gaussian window ``sigma = 1.5`` truncated at
  11 x 11 pixels, ``C1 = (0.01 R)^2``, ``C2 = (0.03 R)^2``::

      SSIM = (2 mu_f mu_t + C1)(2 s_ft + C2) / ((mu_f^2 + mu_t^2 + C1)(s_f^2 + s_t^2 + C2))

  computed as a map over the whole image (pixels that are NaN in the truth are set to the same
  value in both images, so they do not differ) and averaged over the region.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["l1", "psnr", "ssim", "data_range"]

_SIGMA = 1.5
_TRUNCATE = 3.5  # radius int(3.5 * 1.5 + 0.5) = 5: an 11 x 11 window


def data_range(truth: np.ndarray) -> float:
    """``max - min`` of the finite pixels of ``truth``."""
    finite = np.asarray(truth)[np.isfinite(truth)]
    return float(finite.max() - finite.min()) if finite.size else 0.0


def _region(filled, truth, region):
    filled = np.asarray(filled, np.float64)
    truth = np.asarray(truth, np.float64)
    region = np.asarray(region, bool)
    if not (filled.shape == truth.shape == region.shape):
        raise ValueError(f"shapes differ: {filled.shape}, {truth.shape}, {region.shape}")
    if not region.any():
        raise ValueError("the region to score is empty")
    return filled, truth, region


def l1(filled: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute difference over ``region``."""
    filled, truth, region = _region(filled, truth, region)
    return float(np.mean(np.abs(filled[region] - truth[region])))


def psnr(filled: np.ndarray, truth: np.ndarray, region: np.ndarray,
         value_range: float | None = None) -> float:
    """Peak signal-to-noise ratio (dB) over ``region``; ``inf`` for a perfect fill."""
    filled, truth, region = _region(filled, truth, region)
    rng = data_range(truth) if value_range is None else float(value_range)
    mse = float(np.mean((filled[region] - truth[region]) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(rng * rng / mse))


def ssim(filled: np.ndarray, truth: np.ndarray, region: np.ndarray,
         value_range: float | None = None) -> float:
    """Mean structural similarity over ``region`` (module docstring)."""
    filled, truth, region = _region(filled, truth, region)
    rng = data_range(truth) if value_range is None else float(value_range)
    unknown = ~np.isfinite(truth)
    t = np.where(unknown, 0.0, truth)
    f = np.where(unknown | ~np.isfinite(filled), t, filled)
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2

    def blur(a):
        return ndimage.gaussian_filter(a, _SIGMA, truncate=_TRUNCATE, mode="reflect")

    mu_f, mu_t = blur(f), blur(t)
    var_f = blur(f * f) - mu_f * mu_f
    var_t = blur(t * t) - mu_t * mu_t
    cov = blur(f * t) - mu_f * mu_t
    smap = ((2 * mu_f * mu_t + c1) * (2 * cov + c2)
            / ((mu_f * mu_f + mu_t * mu_t + c1) * (var_f + var_t + c2)))
    return float(np.mean(smap[region]))
