"""Sparse bilinear resampling and the low-precision solar ephemeris."""

import numpy as np
import pytest
from scipy import ndimage

from lascoproc.kernels import ephemeris
from lascoproc.kernels import lasco_geometry as lg
from lascoproc.kernels.resample import apply_operator, bilinear_operator


def test_operator_weights_by_hand():
    image = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]], np.float32)
    coords = np.array([[[0.5, 0.25, 1.0, -1.0]], [[0.5, 1.75, 2.0, 0.0]]])
    op = bilinear_operator(coords, image.shape)
    out = apply_operator(op, image, (1, 4))
    # (0.5, 0.5): mean of 0, 1, 10, 11 = 5.5; (0.25, 1.75): 0.75*(0.25*1 + 0.75*2)
    # + 0.25*(0.25*11 + 0.75*12) = 1.3125 + 2.9375 = 4.25; (1, 2) = 12; off the frame = 0
    np.testing.assert_allclose(out, [[5.5, 4.25, 12.0, 0.0]], rtol=1e-6)
    assert op.getrow(2).nnz == 1  # exact grid point: zero weights are not stored


def test_operator_equals_map_coordinates_on_level1_map():
    rng = np.random.default_rng(0)
    image = rng.random((256, 256)).astype(np.float32)
    coords = lg.level1_map((256, 256), detector="C3", occulter_xy=(129.1, 132.4),
                           binning=(4, 4), rotate_ccw_deg=3.0, pivot_xy=(128.0, 130.0))
    expected = ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0,
                                       prefilter=False)
    got = apply_operator(bilinear_operator(coords, image.shape), image, image.shape)
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_nan_spreads_only_to_pixels_that_use_it():
    image = np.ones((8, 8), np.float32)
    image[3, 4] = np.nan
    identity = np.stack(np.mgrid[0:8, 0:8]).astype(np.float64)
    shifted = identity + np.array([0.0, 0.5])[:, None, None]  # half a pixel in x
    out = apply_operator(bilinear_operator(shifted, image.shape), image, image.shape)
    assert np.isnan(out).sum() == 2
    assert np.isnan(out[3, 3]) and np.isnan(out[3, 4])
    same = apply_operator(bilinear_operator(identity, image.shape), image, image.shape)
    assert np.isnan(same).sum() == 1


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
