"""The low-precision solar ephemeris (the resampling kernel is tested in test_resample.py)."""

import numpy as np
import pytest

from lascoproc.kernels import ephemeris


def test_b0_angle_against_reference_values():
    # B0 on these dates from sunpy.coordinates.sun.B0 (Meeus-based, independent code):
    # 2002-05-21T00:18 -> -1.99335 deg; 2009-02-28T00:05 -> -7.2073 deg (near its March minimum)
    assert ephemeris.solar_b0_deg(np.datetime64("2002-05-21T00:18")) == pytest.approx(
        -1.99335, abs=2e-3)
    assert ephemeris.solar_b0_deg(np.datetime64("2009-02-28T00:05")) == pytest.approx(
        -7.2073, abs=3e-3)
    # the yearly extremes are +-7.25 deg (the inclination of the solar equator)
    days = np.datetime64("2020-01-01") + np.arange(366) * np.timedelta64(1, "D")
    values = [ephemeris.solar_b0_deg(d) for d in days]
    assert max(values) == pytest.approx(7.25, abs=0.02)
    assert min(values) == pytest.approx(-7.25, abs=0.02)


def test_b0_matches_sunpy():
    sun = pytest.importorskip("sunpy.coordinates.sun")
    from astropy.time import Time

    for text in ("1996-03-01T12:00", "2003-09-10T00:00", "2016-12-24T06:30"):
        ours = ephemeris.solar_b0_deg(np.datetime64(text))
        assert ours == pytest.approx(sun.B0(Time(text)).deg, abs=0.01)


def test_earth_sun_distance_solar_ephem():
    # solar_ephem.pro at MJD 51544 (2000-01-01): g = 357.528 deg,
    # cos g = 0.9990694, cos 2g = 0.9962794,
    # r = 1.00014 - 0.01672 * 0.9990694 - 0.00014 * 0.9962794 = 0.9832961 AU
    assert ephemeris.earth_sun_distance_au(51544) == pytest.approx(0.9832961, abs=1e-7)
