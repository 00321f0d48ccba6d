"""SOHO orbit files: the real layout, the fast reader, and the observer of wcs_find_position."""

import datetime as dt

import numpy as np
import pytest
from astropy.io import fits

from lascoproc.io import soho_orbit as so
from lascoproc.kernels import soho_orbit as ko
from lascoproc.testing.calib import _soho_orbit_rows, orbit_file_bytes, write_orbit_file


@pytest.fixture(scope="module")
def rows():
    return _soho_orbit_rows(dt.date(2002, 5, 21), seed=0)


def test_layout_is_the_real_one(rows, tmp_path):
    """The header of a real SO_OR_PRE file (quoted in public code): 36 columns, 260 bytes a
    row, 144 rows; YEAR 1I, ELLAPSED MILLISECONDS OF DAY 1J, HEC X (KM) 1D (column 25), ..."""
    assert len(so.ORBIT_COLUMNS) == 36
    path = tmp_path / "SO_OR_PRE_20020521_V03.FITS"
    path.write_bytes(orbit_file_bytes(rows))
    with fits.open(path) as hdul:
        hdul.verify("exception")
        header = hdul[1].header
        assert header["XTENSION"] == "BINTABLE"
        assert (header["NAXIS1"], header["NAXIS2"], header["TFIELDS"]) == (260, 144, 36)
        assert (header["TTYPE3"], header["TFORM3"]) == ("ELLAPSED MILLISECONDS OF DAY", "1J")
        assert (header["TTYPE25"], header["TFORM25"]) == ("HEC X (KM)", "1D")
        assert (header["TTYPE36"], header["TFORM36"]) == ("HELIOGRAPHIC LAT. SOHO", "1D")
        data = hdul[1].data
        np.testing.assert_array_equal(data["ELLAPSED MILLISECONDS OF DAY"],
                                      np.arange(144) * 600_000)


def test_fast_reader_equals_astropy_for_both_writers(rows, tmp_path):
    ours = tmp_path / "ours.FITS"
    ours.write_bytes(orbit_file_bytes(rows))
    theirs = tmp_path / "astropy.FITS"
    write_orbit_file(theirs, rows)
    for path in (ours, theirs):
        table = so.read_orbit_table(path.read_bytes())
        with fits.open(path) as hdul:
            for name, _ in so.ORBIT_COLUMNS:
                np.testing.assert_array_equal(table[name], hdul[1].data[name])


def test_reader_refuses_what_is_not_an_orbit_file(rows):
    raw = orbit_file_bytes(rows)
    with pytest.raises(ValueError, match="truncated"):
        so.read_orbit_table(raw[:20000])
    with pytest.raises(ValueError, match="not a FITS file"):
        so.read_orbit_table(b"<html>404</html>" * 200)


def test_names():
    assert so.orbit_file_name("SO_OR_DEF", dt.date(2002, 5, 21), 2) == \
        "SO_OR_DEF_20020521_V02.FITS"
    assert so.parse_orbit_name("x/SO_OR_PRE_20231201_V03.FITS") == (
        "predictive", dt.date(2023, 12, 1), 3)
    assert so.parse_orbit_name("SO_AT_PRE_20231201_V03.FITS") is None


def test_nearest_row_as_get_orbit():
    row_ms = np.array([0, 600_000, 1_200_000, 1_800_000])
    year = np.array([2002, 0, 2002, 2002])          # a YEAR = 0 row is skipped
    target = np.array([590_000, 900_000, 1_499_999, 1_500_000, 5_000_000])
    # 590 s: row 1 is skipped -> row 0 (590 s away) beats row 2 (610 s); 900 s: equal distance
    # to rows 0 and 2 is not possible (row 1 skipped) -> row 2 (300 s); 1500 s: tie between
    # rows 2 and 3 -> the first
    assert list(ko.nearest_rows(row_ms, year, target)) == [0, 2, 2, 2, 3]


def test_observer_from_orbit_by_hand():
    """wcs_find_position.pro: DSUN = |1000 HEC|, HGLN = radeg (lon_soho - lon_earth),
    HGLT = radeg lat_soho."""
    hec = np.array([[-1.0e8, -1.0e8, 2.0e5]])
    dsun, hgln, hglt = ko.observer_from_orbit(hec, [0.01], [0.0055], [-0.05])
    assert dsun[0] == pytest.approx(1000.0 * np.sqrt(2e16 + 4e10), rel=1e-15)
    assert hgln[0] == pytest.approx(0.0045 * 180.0 / np.pi, rel=1e-12)
    assert hglt[0] == pytest.approx(-0.05 * 180.0 / np.pi, rel=1e-12)
    # Carrington longitudes straddling 0: wrapped into (-180, 180]
    _, hgln, _ = ko.observer_from_orbit(hec, [0.001], [2 * np.pi - 0.002], [0.0])
    assert hgln[0] == pytest.approx(0.003 * 180.0 / np.pi, rel=1e-9)


def test_synthetic_orbit_is_a_halo_near_l1(rows):
    hec = np.stack([rows[f"HEC {a} (KM)"] for a in "XYZ"], axis=1)
    dsun, hgln, hglt = ko.observer_from_orbit(
        hec, rows["HELIOGRAPHIC LONG. SOHO"], rows["HELIOGRAPHIC LONG. EARTH"],
        rows["HELIOGRAPHIC LAT. SOHO"])
    assert np.all(np.abs(hgln) < 0.3) and np.all(np.abs(hgln) > 0.0)
    assert np.all((dsun > 0.97 * 1.496e11) & (dsun < 1.01 * 1.496e11))
    assert np.all(np.abs(hglt) < 7.3)


def test_approximation_is_the_old_one():
    t = np.array(["2002-05-21T00:18:06.516"], dtype="datetime64[ms]")
    dsun, hgln, hglt = ko.approximate_observer(t)
    # 0.99 x solar_ephem distance of MJD 52415 (1.0121596780990239 AU), B0 -1.9931 deg
    assert dsun[0] == pytest.approx(0.99 * 1.0121596780990239 * 149_597_870_700.0, rel=1e-12)
    assert hgln[0] == 0.0
    assert hglt[0] == pytest.approx(-1.99312, abs=1e-4)
