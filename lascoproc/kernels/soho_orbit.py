"""SOHO's position (the LASCO observer) from SolarSoft's orbit files, and its approximation.

Pure numpy on the columns of the SOHO orbit files (``SO_OR_DEF_YYYYMMDD_V##.FITS`` definitive,
``SO_OR_PRE_...`` predictive; read by :mod:`lascoproc.io.soho_orbit`). The rules are those of
SolarSoft:

- ``get_orbit.pro`` (W. Thompson, version 8, 10-Sep-2008): the file of the date's day, the
  definitive one if there is one, else the predictive; the highest version; the row whose
  ``ELLAPSED MILLISECONDS OF DAY`` is closest to the time (first of equals); rows with
  ``YEAR = 0`` are skipped; no interpolation ("correct within +/-5 minutes").
- ``wcs_find_position.pro`` (version 8, 13-Apr-2011), for a SOHO header with orbit data::

      DSUN_OBS = sqrt(total((1000 * [HEC_X, HEC_Y, HEC_Z])^2))        metres
      HGLT_OBS = !radeg * HEL_LAT_SOHO                                 degrees
      HGLN_OBS = !radeg * (HEL_LON_SOHO - HEL_LON_EARTH)               degrees
      CRLN_OBS = !radeg * HEL_LON_SOHO

  ``HEL_*`` are in radians (``get_orbit``'s SPICE branch fills them from
  ``GET_STEREO_LONLAT(..., SYSTEM='Carrington')`` and adds ``2 pi`` to negative longitudes).
  ``HGLN_OBS`` is wrapped into (-180, 180] here (IDL leaves e.g. 359.7 when the two Carrington
  longitudes straddle 0).

Without orbit files, ``wcs_find_position`` assumes Earth's position with ``DSUN_OBS`` times 0.99
for SOHO, ``HGLN_OBS = 0`` and ``HGLT_OBS`` = Earth's B0 (:func:`approximate_observer`).
"""

from __future__ import annotations

import numpy as np

from lascoproc.kernels import ephemeris

__all__ = ["ORBIT_SAMPLE_MS", "nearest_rows", "observer_from_orbit", "approximate_observer"]

#: Orbit files hold one row every 10 minutes (144 rows a day).
ORBIT_SAMPLE_MS = 600_000


def nearest_rows(row_ms: np.ndarray, year: np.ndarray, target_ms: np.ndarray) -> np.ndarray:
    """Index of the row closest in time to each target (``get_orbit.pro``), -1 when none.

    Parameters
    ----------
    row_ms, year
        ``ELLAPSED MILLISECONDS OF DAY`` and ``YEAR`` of the file's rows (rows with
        ``YEAR = 0`` are skipped).
    target_ms
        Milliseconds of the day of the frames of that day.
    """
    row_ms = np.asarray(row_ms, dtype=np.int64)
    valid = np.flatnonzero(np.asarray(year) != 0)
    target = np.asarray(target_ms, dtype=np.int64)
    if valid.size == 0:
        return np.full(target.shape, -1, dtype=np.int64)
    diff = np.abs(row_ms[valid][None, :] - target[:, None])
    return valid[np.argmin(diff, axis=1)]


def observer_from_orbit(hec_km: np.ndarray, hel_lon_soho: np.ndarray,
                        hel_lon_earth: np.ndarray, hel_lat_soho: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(DSUN_OBS [m], HGLN_OBS [deg], HGLT_OBS [deg])`` of ``wcs_find_position.pro``.

    ``hec_km`` is ``(..., 3)`` heliocentric ecliptic ``HEC X/Y/Z (KM)``; the angles in radians.
    """
    hec = np.asarray(hec_km, dtype=np.float64) * 1000.0
    dsun = np.sqrt(np.sum(hec * hec, axis=-1))
    hgln = np.rad2deg(np.asarray(hel_lon_soho, float) - np.asarray(hel_lon_earth, float))
    hgln = -((-hgln + 180.0) % 360.0 - 180.0)  # into (-180, 180]
    hglt = np.rad2deg(np.asarray(hel_lat_soho, dtype=np.float64))
    return dsun, hgln, hglt


def approximate_observer(time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The observer without orbit files: ``DSUN_OBS = 0.99 r_earth`` (``get_solar_radius.pro``'s
    SOHO factor, ``solar_ephem`` distance of the day), ``HGLN_OBS = 0``, ``HGLT_OBS = B0``.

    SOHO's halo orbit around L1 takes it up to ~0.25 deg in longitude from the Sun-Earth line
    and changes its latitude by a similar amount: this is an approximation of that size.
    """
    t = np.asarray(time, dtype="datetime64[ms]")
    mjd = (t.astype("datetime64[D]") - np.datetime64("1858-11-17", "D")).astype(np.int64)
    dsun = 0.99 * ephemeris.earth_sun_distance_au_array(mjd) * ephemeris.AU_M
    return dsun, np.zeros(t.shape), ephemeris.solar_b0_deg_array(t)
