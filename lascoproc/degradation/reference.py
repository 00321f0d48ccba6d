"""aiapy's degradation factor from a response table, over many times and channels.

Our implementation of ``aiapy.calibrate.degradation`` (aiapy 0.10; SolarSoft
``aia_bp_corrections.pro``), vectorised over times: for channel ``c`` and UTC time ``t``::

    f_c(t) = EFF_AREA[e] / EFF_AREA[0] * (1 + p1[e] dt + p2[e] dt**2 + p3[e] dt**3)

with the channel's rows (``WAVE_STR`` ``"<wavelength>_THIN"`` for EUV, ``"1600"``/``"1700"``/
``"4500"`` for UV/visible) of one calibration version (``VER_NUM``; the table's newest unless
``calibration_version`` says otherwise, as aiapy's ``calibration_version``) sorted by ``DATE``
(stable), ``e`` the last row whose
``[T_START, T_STOP)`` holds ``t``, row 0 the first, and ``dt = t - T_START[e]`` in days as
astropy counts them (TAI: leap seconds included). A time outside every epoch gives NaN (aiapy
raises). The numbers are computed by :mod:`lascoproc.kernels.aia_degradation`; the table is read
by :func:`lascoproc.io.aia_response.read_response_table` (the pipeline reads it).

``f`` is the instrument's throughput relative to launch (1 = no loss): the quantity the CNN
estimates, up to the CNN's reference period being the early mission rather than launch.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import astropy.units as u
import numpy as np
import pandas as pd
import xarray as xr
from astropy.time import Time
from erfa import ErfaWarning

from lascoproc.kernels.aia_degradation import epoch_factor, select_epoch

__all__ = ["wave_str", "aiapy_degradation", "reference_degradation"]

_NON_EUV = (1600, 1700, 4500)


def wave_str(channel) -> str:
    """The table's ``WAVE_STR`` of a channel: ``94 -> "94_THIN"``, ``1600 -> "1600"``."""
    wavelength = channel.to_value(u.angstrom) if isinstance(channel, u.Quantity) else channel
    wavelength = int(round(float(str(wavelength).rstrip("aA"))))
    return f"{wavelength}" if wavelength in _NON_EUV else f"{wavelength}_THIN"


def _utc(times) -> np.ndarray:
    values = pd.to_datetime(np.atleast_1d(np.asarray(times)), utc=True, format="ISO8601")
    return values.tz_convert(None).to_numpy("datetime64[ns]")


def aiapy_degradation(channel, times, table, *, calibration_version: int | None = None,
                      ) -> np.ndarray:
    """The degradation factor of ``channel`` at ``times`` from a response ``table``.

    Parameters
    ----------
    channel
        Wavelength: an astropy Quantity (``94 * u.AA``) or a number in angstrom.
    times
        UTC times (``datetime64``, strings, pandas); any 1-d sequence.
    table
        A :class:`lascoproc.io.aia_response.ResponseTable` (anything with a ``rows``
        DataFrame of its columns).
    calibration_version
        The ``VER_NUM`` whose rows are used (default: the newest in the table).

    Returns
    -------
    numpy.ndarray
        ``float64``, one factor per time; NaN outside the table's epochs.
    """
    rows = table.rows
    versions = rows["VER_NUM"].to_numpy()
    version = int(versions.max()) if calibration_version is None else int(calibration_version)
    rows = rows[versions == version]
    if rows.empty:
        raise ValueError(f"the response table has no rows of calibration version {version} "
                         f"(it holds {sorted({int(v) for v in versions})})")
    rows = rows[rows["WAVE_STR"] == wave_str(channel)]
    if rows.empty:
        raise ValueError(f"the response table has no rows for channel {channel} "
                         f"({wave_str(channel)})")
    rows = rows.sort_values("DATE", kind="stable")
    obs = _utc(times)
    t_start = rows["T_START"].to_numpy("datetime64[ns]")
    epoch = select_epoch(obs, t_start, rows["T_STOP"].to_numpy("datetime64[ns]"))
    valid = epoch >= 0
    e = epoch[valid]
    area = rows["EFF_AREA"].to_numpy()
    out = np.full(obs.shape, np.nan)
    out[valid] = epoch_factor(_days_tai(obs[valid], t_start[e]), area[e] / area[0],
                              rows["EFFA_P1"].to_numpy()[e], rows["EFFA_P2"].to_numpy()[e],
                              rows["EFFA_P3"].to_numpy()[e])
    return out


def _days_tai(obs: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``obs - start`` in days of 86400 SI seconds (astropy's UTC time difference)."""
    if obs.size == 0:
        return np.zeros(0)
    with warnings.catch_warnings():
        # erfa calls UTC dates past its leap-second table "dubious"; the difference is still
        # right to the second (aiapy silences the same warning for the table's 2030 T_STOP)
        warnings.simplefilter("ignore", ErfaWarning)
        t_obs = Time(obs, scale="utc")
        t_start = Time(start, scale="utc")
        return (t_obs - t_start).to_value(u.day)


def reference_degradation(channels: Sequence[int], times, table, *,
                          calibration_version: int | None = None) -> xr.DataArray:
    """``aiapy_degradation`` over ``(time, channel)`` as a DataArray with provenance attrs."""
    obs = _utc(times)
    values = np.stack([aiapy_degradation(c, obs, table, calibration_version=calibration_version)
                       for c in channels], axis=1) \
        if len(channels) else np.zeros((obs.size, 0))
    return xr.DataArray(
        values, dims=("time", "channel"),
        coords={"time": obs, "channel": ("channel", np.asarray(channels, dtype=np.int64),
                                         {"units": "angstrom"})},
        name="degradation_v10",
        attrs={"units": "1",
               "long_name": f"aiapy degradation() factor from {getattr(table, 'name', 'table')}",
               "comment": "effective-area epoch ratio times a cubic in days since the epoch "
                          "start (aiapy.calibrate.degradation, SolarSoft aia_bp_corrections.pro)"},
    )
