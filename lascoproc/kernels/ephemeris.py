"""Low-precision solar ephemeris for level-1 headers: B0 angle and SOHO's distance.

The observer of LASCO is SOHO, near the Sun-Earth L1 point: its heliographic longitude is
within ~0.3 deg of Earth's and its latitude is Earth's ``B0``; SolarSoft's
``get_solar_radius.pro`` puts it at 0.99 of Earth's distance from the Sun
(:func:`lascoproc.kernels.lasco_factors.solar_radius_arcsec`). Precision here is ~0.01 deg,
far below LASCO's pixel (11.9 arcsec at C2).
"""

from __future__ import annotations

import numpy as np

__all__ = ["julian_day", "solar_b0_deg", "earth_sun_distance_au", "solar_b0_deg_array",
           "earth_sun_distance_au_array", "AU_M"]

#: Astronomical unit in metres (IAU 2012).
AU_M = 149_597_870_700.0


def julian_day(time: np.datetime64) -> float:
    """Julian day of a UTC ``datetime64`` (UTC used as TT: the 65 s difference is negligible)."""
    seconds = (np.datetime64(time, "ms") - np.datetime64("2000-01-01T12:00:00", "ms")) \
        / np.timedelta64(1, "s")
    return 2451545.0 + float(seconds) / 86400.0


def solar_b0_deg(time: np.datetime64) -> float:
    """Heliographic latitude of the disk centre seen from Earth, ``B0``, in degrees.

    Meeus, *Astronomical Algorithms* (2nd ed.), ch. 25 (Sun's apparent longitude, low
    accuracy) and ch. 29 (physical ephemeris of the Sun)::

        T  = (JD - 2451545) / 36525
        L0 = 280.46646 + 36000.76983 T                  mean longitude
        M  = 357.52911 + 35999.05029 T                  mean anomaly
        C  = (1.914602 - 0.004817 T) sin M + 0.019993 sin 2M + 0.000289 sin 3M
        lambda = L0 + C - 0.00569 - 0.00478 sin(125.04 - 1934.136 T)   apparent longitude
        I  = 7.25,  K = 73.6667 + 1.3958333 (JD - 2396758) / 36525
        B0 = asin(sin(lambda - K) sin I)
    """
    jd = julian_day(time)
    t = (jd - 2451545.0) / 36525.0
    l0 = 280.46646 + 36000.76983 * t
    m = np.deg2rad(357.52911 + 35999.05029 * t)
    c = ((1.914602 - 0.004817 * t) * np.sin(m) + 0.019993 * np.sin(2 * m)
         + 0.000289 * np.sin(3 * m))
    omega = np.deg2rad(125.04 - 1934.136 * t)
    lam = np.deg2rad(l0 + c - 0.00569 - 0.00478 * np.sin(omega))
    k = np.deg2rad(73.6667 + 1.3958333 * (jd - 2396758.0) / 36525.0)
    return float(np.rad2deg(np.arcsin(np.sin(lam - k) * np.sin(np.deg2rad(7.25)))))


def earth_sun_distance_au(mjd: int) -> float:
    """Earth-Sun distance in AU as ``solar_ephem.pro`` computes it (day resolution)::

        n = mjd - 51544;  g = 357.528 + 0.9856003 n
        r = 1.00014 - 0.01672 cos g - 0.00014 cos 2g
    """
    n = float(int(mjd) - 51544)
    g = np.deg2rad(357.528 + 0.9856003 * n)
    return float(1.00014 - 0.01672 * np.cos(g) - 0.00014 * np.cos(2.0 * g))


def solar_b0_deg_array(time: np.ndarray) -> np.ndarray:
    """:func:`solar_b0_deg` for an array of ``datetime64`` times (the same formulas)."""
    t = np.asarray(time, dtype="datetime64[ms]")
    seconds = (t - np.datetime64("2000-01-01T12:00:00", "ms")) / np.timedelta64(1, "s")
    jd = 2451545.0 + seconds / 86400.0
    tc = (jd - 2451545.0) / 36525.0
    l0 = 280.46646 + 36000.76983 * tc
    m = np.deg2rad(357.52911 + 35999.05029 * tc)
    c = ((1.914602 - 0.004817 * tc) * np.sin(m) + 0.019993 * np.sin(2 * m)
         + 0.000289 * np.sin(3 * m))
    omega = np.deg2rad(125.04 - 1934.136 * tc)
    lam = np.deg2rad(l0 + c - 0.00569 - 0.00478 * np.sin(omega))
    k = np.deg2rad(73.6667 + 1.3958333 * (jd - 2396758.0) / 36525.0)
    return np.rad2deg(np.arcsin(np.sin(lam - k) * np.sin(np.deg2rad(7.25))))


def earth_sun_distance_au_array(mjd: np.ndarray) -> np.ndarray:
    """:func:`earth_sun_distance_au` for an array of integer MJDs."""
    n = np.asarray(mjd, dtype=np.int64).astype(np.float64) - 51544.0
    g = np.deg2rad(357.528 + 0.9856003 * n)
    return 1.00014 - 0.01672 * np.cos(g) - 0.00014 * np.cos(2.0 * g)
