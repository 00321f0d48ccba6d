"""AIA degradation kernels on plain numpy arrays: aiapy's correction formula and the CNN's
image preprocessing.

No xarray, dask, torch or file access here (STYLE rule 1): the response table is parsed by
:mod:`lascoproc.io.aia_response`, the dask/xarray wrappers live in :mod:`lascoproc.degradation`.

Degradation factor (aiapy ``aiapy.calibrate.degradation``, ported from SolarSoft
``aia_bp_corrections.pro``)::

    f(t) = EFF_AREA[e] / EFF_AREA[0] * (1 + p1[e] dt + p2[e] dt**2 + p3[e] dt**3)

where, among the table rows of the channel sorted by ``DATE`` (stable), ``e`` is the *last* row
whose epoch holds ``t`` (``T_START[e] <= t < T_STOP[e]``), row ``0`` is the first row and
``dt = t - T_START[e]`` in days.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "select_epoch",
    "epoch_factor",
    "bin_frames",
    "decimate_frames",
    "disk_mask",
    "quiet_sun_level",
    "interpolate_series",
    "EFFICIENCY",
    "huber_location",
    "aggregate_bin",
]


# --------------------------------------------------------------------------- aiapy formula
def select_epoch(obs: np.ndarray, t_start: np.ndarray, t_stop: np.ndarray) -> np.ndarray:
    """Index of the last epoch ``e`` with ``t_start[e] <= obs < t_stop[e]``, ``-1`` if none.

    Parameters
    ----------
    obs
        Observation times, any shape (``datetime64`` or numbers comparable with the epochs).
    t_start, t_stop
        Epoch bounds, shape ``(m,)``, in the order of the table rows after a stable sort on
        ``DATE`` (aiapy takes the last matching row: the most recently computed one).

    Returns
    -------
    numpy.ndarray
        ``int64`` indices, the shape of ``obs``.
    """
    obs = np.asarray(obs)
    t_start = np.asarray(t_start)
    t_stop = np.asarray(t_stop)
    inside = (obs[..., None] >= t_start) & (obs[..., None] < t_stop)  # (..., m)
    m = t_start.shape[0]
    last = m - 1 - np.argmax(inside[..., ::-1], axis=-1)
    return np.where(inside.any(axis=-1), last, -1).astype(np.int64)


def epoch_factor(dt_days, area_ratio, p1, p2, p3) -> np.ndarray:
    """``area_ratio * (1 + p1 dt + p2 dt**2 + p3 dt**3)`` (aiapy ``degradation``), float64.

    ``dt_days`` are days since the epoch start; all arguments broadcast.
    """
    dt = np.asarray(dt_days, dtype=np.float64)
    poly = np.asarray(p1, dtype=np.float64) * dt + np.asarray(p2, dtype=np.float64) * dt**2 \
        + np.asarray(p3, dtype=np.float64) * dt**3 + 1.0
    return poly * np.asarray(area_ratio, dtype=np.float64)


# --------------------------------------------------------------------------- preprocessing
def bin_frames(frames: np.ndarray, factor: int) -> np.ndarray:
    """Block mean of ``factor x factor`` pixels over the last two axes, ``float32``.

    ``(..., ny, nx) -> (..., ny // factor, nx // factor)``; both sizes must be multiples of
    ``factor`` (SDOML frames are 512; 2 gives the paper's 256). Sums in float64.
    """
    factor = int(factor)
    frames = np.asarray(frames)
    if factor == 1:
        return frames.astype(np.float32, copy=False)
    *lead, ny, nx = frames.shape
    if ny % factor or nx % factor:
        raise ValueError(f"frame size {ny}x{nx} is not a multiple of the binning {factor}")
    blocks = frames.reshape(*lead, ny // factor, factor, nx // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float64).astype(np.float32)


def disk_mask(size: int, radius: float, *, limit: float = 1.0) -> np.ndarray:
    """Pixels within ``limit`` solar radii of the frame centre, ``bool (size, size)``.

    ``radius`` is the solar radius in pixels; the disk is centred on the frame (SDOML frames
    are recentred and rescaled to a fixed radius).
    """
    centre = (size - 1) / 2.0
    yy, xx = np.indices((size, size), dtype=np.float64)
    return np.hypot(yy - centre, xx - centre) <= limit * radius


def quiet_sun_level(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median of the pixels under ``mask`` of each frame: ``(..., ny, nx) -> (...)``, float64.

    The quiet-Sun intensity statistic of the non-ML baseline: active regions cover a small part
    of the disk, so the on-disk median follows the quiet Sun.
    """
    frames = np.asarray(frames)
    return np.median(frames[..., mask].astype(np.float64), axis=-1)


# --------------------------------------------------------------------------- series
def interpolate_series(grid: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values`` on the increasing ``grid`` at ``at`` (float64).

    Beyond the grid's ends the end values are kept (the caller decides how far that is
    allowed); one point gives a constant.
    """
    grid = np.asarray(grid, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    return np.interp(np.asarray(at, dtype=np.float64), grid, values)


#: Asymptotic standard error of a location estimate over that of the mean, for Gaussian
#: samples: the median's ``sqrt(pi / 2)``, Huber's (c = 1.345) 1/0.95 (Huber & Ronchetti 2009,
#: Sect. 4.6: 95 % efficiency), the mean's 1.
EFFICIENCY = {"median": float(np.sqrt(np.pi / 2.0)), "huber": 1.0 / np.sqrt(0.95), "mean": 1.0}

#: Tuning constant of the Huber estimate (95 % efficiency at the normal; Huber 1964).
HUBER_C = 1.345


def huber_location(values: np.ndarray, scale: np.ndarray, *, c: float = HUBER_C,
                   iterations: int = 30) -> float:
    """Huber M-estimate of location of ``values`` with per-value ``scale`` (IRLS).

    Minimises ``sum_i rho((x_i - mu) / s_i)``, ``rho`` quadratic within ``c`` and linear
    beyond (Huber 1964, Ann. Math. Stat. 35, 73): iteratively reweighted means with weights
    ``w_i = min(1, c s_i / |x_i - mu|) / s_i**2``, started at the median.
    """
    x = np.asarray(values, dtype=np.float64)
    s = np.maximum(np.asarray(scale, dtype=np.float64), 1e-12)
    mu = float(np.median(x))
    for _ in range(iterations):
        r = np.abs(x - mu) / s
        w = np.minimum(1.0, c / np.maximum(r, 1e-12)) / s**2
        new = float(np.sum(w * x) / np.sum(w))
        if abs(new - mu) < 1e-10:
            return new
        mu = new
    return mu


def aggregate_bin(values: np.ndarray, sigma: np.ndarray, method: str) -> tuple[float, float]:
    """One bin's estimate and its statistical uncertainty from per-frame values.

    Parameters
    ----------
    values, sigma
        The frames' estimates and their per-frame uncertainties, shape ``(n,)``, finite.
    method
        ``"median"``, ``"huber"`` (:func:`huber_location` with the pooled scatter ``s``
        below as the scale of every frame) or ``"mean"``.

    Returns
    -------
    (estimate, uncertainty)
        The uncertainty is ``EFFICIENCY[method] * s / sqrt(n)`` with ``s`` the scatter of the
        frames pooled with their own uncertainty, ``s**2 = (n mad**2 + 3 median(sigma)**2) /
        (n + 3)`` (``mad`` = 1.4826 x the median absolute deviation): the frames' own scatter
        when there are many, the per-frame uncertainty when there are few (three frames'
        worth of prior weight).
    """
    x = np.asarray(values, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    n = x.size
    if n == 0:
        raise ValueError("a bin needs at least one frame")
    if method not in EFFICIENCY:
        raise ValueError(f"unknown aggregate {method!r}; one of {sorted(EFFICIENCY)}")
    mad = 1.4826 * float(np.median(np.abs(x - np.median(x)))) if n > 1 else 0.0
    prior = float(np.median(s))
    scatter = float(np.sqrt((n * mad**2 + 3.0 * prior**2) / (n + 3.0)))
    if method == "median":
        estimate = float(np.median(x))
    elif method == "huber":  # one scale for all frames: weights that do not favour low values
        estimate = huber_location(x, np.full(n, max(scatter, 1e-9)))
    else:
        estimate = float(np.mean(x))
    return estimate, EFFICIENCY[method] * scatter / np.sqrt(n)


def decimate_frames(frames: np.ndarray, factor: int) -> np.ndarray:
    """Every ``factor``-th pixel of the last two axes, from the first, ``float32``.

    The paper's resampling (``img[::subsample, ::subsample]``, Dos Santos et al. 2021;
    spaceml-org/expanding-sdo-capabilities ``sdo.datasets.sdo_dataset``): 512 -> 256 for 2.
    """
    factor = int(factor)
    frames = np.asarray(frames)
    *_, ny, nx = frames.shape
    if ny % factor or nx % factor:
        raise ValueError(f"frame size {ny}x{nx} is not a multiple of the decimation {factor}")
    return np.ascontiguousarray(frames[..., ::factor, ::factor], dtype=np.float32)
