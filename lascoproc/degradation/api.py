"""aiapy-style access to a degradation series: ``degradation`` and ``correct_degradation``.

aiapy computes a channel's degradation factor at a time from SolarSoft's response table
(``aiapy.calibrate.degradation``) and divides a map by it (``correct_degradation``). These two
do the same from a series that ``lascoproc aia degradation`` wrote (the CNN's estimate per time
bin, with its uncertainty), or from a response table::

    from lascoproc.degradation import degradation, correct_degradation

    factor = degradation(171 * u.AA, "2016-03-01", series="aia_degradation.zarr")
    factor, sigma = degradation(171, times, series=ds, uncertainty=True)
    corrected = correct_degradation(data, 171, "2016-03-01", series=ds)
    v10 = degradation(171, "2016-03-01", table="V10")          # aiapy's own formula

Between two bins the factor (and its uncertainty) is interpolated linearly in time between
the bins' times (the median observation time of their frames); within the first and last bins'
bounds it is their value; outside them a time is refused (no extrapolation), as aiapy refuses a
time outside the table's epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
import xarray as xr

from lascoproc.degradation.reference import aiapy_degradation
from lascoproc.kernels.aia_degradation import interpolate_series

__all__ = ["degradation", "correct_degradation", "open_series"]


def _wavelength(channel) -> int:
    if isinstance(channel, u.Quantity):
        return int(round(float(channel.to_value(u.angstrom))))
    return int(round(float(str(channel).rstrip("aA"))))


def _times(time) -> tuple[np.ndarray, bool]:
    """``(datetime64[ns] UTC array, scalar?)`` of astropy Times, strings, numpy or pandas."""
    scalar = np.ndim(time) == 0 if not hasattr(time, "isscalar") else bool(time.isscalar)
    if hasattr(time, "utc") and hasattr(time, "isot"):  # astropy Time
        values = np.atleast_1d(time.utc.isot)
    else:
        values = np.atleast_1d(np.asarray(time))
    stamps = pd.to_datetime(values.ravel(), utc=True, format="ISO8601") if values.dtype.kind in \
        "OU" else pd.to_datetime(values.ravel(), utc=True)
    return stamps.tz_convert(None).to_numpy("datetime64[ns]").reshape(values.shape), scalar


def open_series(series, storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """A series as a Dataset: a Dataset is returned as is, a path or URL of the store that
    ``lascoproc aia degradation`` wrote is opened (:func:`lascoproc.io.zarr_store.open_store`,
    lazily, without dask)."""
    if isinstance(series, xr.Dataset):
        return series
    if isinstance(series, str | Path):
        from lascoproc.io.zarr_store import open_store

        return open_store(str(series), storage_options)
    raise TypeError(f"series must be an xarray Dataset or the path of a series store, got "
                    f"{type(series).__name__}")


def _from_series(ds: xr.Dataset, channel: int, times: np.ndarray):
    if "degradation" not in ds or "channel" not in ds.coords:
        raise ValueError("not a degradation series (no 'degradation' over (time, channel))")
    channels = [int(c) for c in ds["channel"].values]
    if channel not in channels:
        raise ValueError(f"the series has no channel {channel} A (it has {channels})")
    one = ds.sel(channel=channel)
    value = np.asarray(one["degradation"].values, dtype=np.float64)
    sigma = np.asarray(one["degradation_uncertainty"].values, dtype=np.float64) \
        if "degradation_uncertainty" in one else np.zeros_like(value)
    bin_times = np.asarray(ds["time"].values, dtype="datetime64[ns]")
    lo = np.asarray(ds["time_bin_start"].values, dtype="datetime64[ns]") \
        if "time_bin_start" in ds.coords else bin_times
    hi = np.asarray(ds["time_bin_end"].values, dtype="datetime64[ns]") \
        if "time_bin_end" in ds.coords else bin_times
    ok = np.isfinite(value)
    if not ok.any():
        raise ValueError(f"the series has no value for channel {channel} A")
    first, last = np.flatnonzero(ok)[[0, -1]]
    inside = (times >= lo[first]) & (times <= hi[last])
    if not inside.all():
        bad = times[~inside].ravel()[0]
        raise ValueError(f"{str(bad)[:19]} is outside the series ({str(lo[first])[:10]} .. "
                         f"{str(hi[last])[:10]}); no extrapolation")
    t = times.astype(np.int64).astype(np.float64)
    grid = bin_times[ok].astype(np.int64).astype(np.float64)
    return (interpolate_series(grid, value[ok], t), interpolate_series(grid, sigma[ok], t))


def degradation(channel, time, *, series=None, table=None, calibration_version: int | None = None,
                uncertainty: bool = False):
    """A channel's degradation factor at ``time``, as aiapy's ``degradation`` returns it.

    Parameters
    ----------
    channel
        Wavelength: ``171 * u.AA``, ``171`` or ``"171A"``.
    time
        One time or many: an astropy ``Time``, ISO strings, ``datetime64``, pandas times (UTC).
    series
        A degradation series (the Dataset of :func:`lascoproc.pipeline.aia.degradation_series`
        or the path of the Zarr store ``lascoproc aia degradation`` wrote).
    table
        Instead of ``series``: a response table (``"V10"``, ``"V8"``, a path, or a
        :class:`~lascoproc.io.aia_response.ResponseTable`): aiapy's formula.
    calibration_version
        With ``table``: the ``VER_NUM`` used (default the table's newest).
    uncertainty
        Also return the one-standard-deviation uncertainty (from the series;
        zero for a table).

    Returns
    -------
    astropy.units.Quantity or (Quantity, Quantity)
        Dimensionless factor(s), the shape of ``time`` (a scalar Quantity for one time);
        with ``uncertainty``, ``(factor, sigma)``.

    Raises
    ------
    ValueError
        A time outside the series or the table's epochs, a channel the source lacks, or both
        or neither of ``series`` and ``table``.
    """
    if (series is None) == (table is None):
        raise ValueError("give one of series= (a degradation series) or table= (a response "
                         "table)")
    wavelength = _wavelength(channel)
    times, scalar = _times(time)
    if series is not None:
        value, sigma = _from_series(open_series(series), wavelength, times.ravel())
    else:
        from lascoproc.io.aia_response import ResponseTable, read_response_table

        loaded = table if isinstance(table, ResponseTable) else read_response_table(table)
        value = aiapy_degradation(wavelength, times.ravel(), loaded,
                                  calibration_version=calibration_version)
        if not np.all(np.isfinite(value)):
            bad = times.ravel()[~np.isfinite(value)][0]
            raise ValueError(f"no calibration epoch of {loaded.name} holds {str(bad)[:19]}")
        sigma = np.zeros_like(value)
    shape = () if scalar else times.shape
    factor = u.Quantity(value.reshape(shape), u.dimensionless_unscaled)
    if uncertainty:
        return factor, u.Quantity(sigma.reshape(shape), u.dimensionless_unscaled)
    return factor


def correct_degradation(data, channel, time, *, series=None, table=None,
                        calibration_version: int | None = None):
    """``data`` divided by the degradation factor of ``channel`` at ``time`` (aiapy's
    ``correct_degradation``, which does this to a map).

    ``data`` is an array, a ``Quantity``, an xarray ``DataArray`` (whose ``attrs`` record the
    correction) or a sunpy ``Map`` (a new map is returned; its metadata record the factor in
    ``DEGCOR_L``). The factor comes from ``series`` or ``table`` (:func:`degradation`).
    """
    factor = degradation(channel, time, series=series, table=table,
                         calibration_version=calibration_version)
    value = factor.to_value(u.dimensionless_unscaled)
    note = _provenance(series, table)
    if hasattr(data, "meta") and hasattr(data, "_new_instance"):  # a sunpy map
        meta = data.meta.copy()
        meta["degcor_l"] = float(value)
        meta["history"] = (str(meta.get("history", "")) +
                           f" lascoproc correct_degradation: divided by {float(value):.6f} "
                           f"({note})").strip()
        return data._new_instance(data.data / value, meta, plot_settings=data.plot_settings)
    if isinstance(data, xr.DataArray):
        out = data / value
        out.attrs = {**data.attrs, "degradation_factor": float(value),
                     "degradation_source": note}
        return out
    return data / value


def _provenance(series, table) -> str:
    if table is not None:
        return f"response table {getattr(table, 'name', table)}"
    attrs: Mapping[str, Any] = getattr(series, "attrs", {}) if isinstance(series, xr.Dataset) \
        else {"store": str(series)}
    return ", ".join(f"{k} {attrs[k]}" for k in ("model_file", "model_sha256", "store")
                     if k in attrs) or "degradation series"
