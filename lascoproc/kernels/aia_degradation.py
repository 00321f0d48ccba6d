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
    "disk_mask",
    "quiet_sun_level",
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
