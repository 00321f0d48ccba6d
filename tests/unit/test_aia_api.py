"""aiapy-style degradation() and correct_degradation() from a series or a response table."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.time import Time

from lascoproc.degradation import correct_degradation, degradation


@pytest.fixture
def series():
    """Two channels, three bins: 2012-01-01, 2012-03-01, 2012-05-01 (bins of 60 days)."""
    times = np.array(["2012-01-01", "2012-03-01", "2012-05-01"], dtype="datetime64[ns]")
    return xr.Dataset(
        {"degradation": (("time", "channel"), [[0.9, 0.8], [0.8, 0.7], [0.5, 0.6]]),
         "degradation_uncertainty": (("time", "channel"), [[0.01, 0.02], [0.03, 0.02],
                                                           [0.05, 0.02]])},
        coords={"time": times, "channel": [171, 304],
                "time_bin_start": ("time", times - np.timedelta64(30, "D")),
                "time_bin_end": ("time", times + np.timedelta64(30, "D"))},
        attrs={"model_file": "m.pt", "model_sha256": "abc"})


def test_interpolated_between_bins_with_uncertainty(series):
    # 2012-01-31 is 30 of the 60 days from 2012-01-01 to 2012-03-01: halfway
    factor = degradation(171 * u.AA, "2012-01-31", series=series)
    assert isinstance(factor, u.Quantity) and factor.unit == u.dimensionless_unscaled
    assert factor.isscalar and float(factor) == pytest.approx(0.85)
    value, sigma = degradation("304A", ["2012-03-01", "2012-04-15T12:00"], series=series,
                               uncertainty=True)
    # 2012-04-15T12 is 45.5 of the 61 days to 2012-05-01: 0.7 + (0.6 - 0.7) * 45.5 / 61
    np.testing.assert_allclose(value.value, [0.7, 0.7 - 0.1 * 45.5 / 61])
    np.testing.assert_allclose(sigma.value, [0.02, 0.02])
    astropy_time = degradation(171, Time("2012-01-31T00:00:00", scale="utc"), series=series)
    assert float(astropy_time) == pytest.approx(0.85)


def test_within_the_end_bins_and_no_extrapolation(series):
    assert float(degradation(171, "2011-12-10", series=series)) == pytest.approx(0.9)
    assert float(degradation(171, "2012-05-30", series=series)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="outside the series"):
        degradation(171, "2013-01-01", series=series)
    with pytest.raises(ValueError, match="no channel 94"):
        degradation(94, "2012-02-01", series=series)
    with pytest.raises(ValueError, match="one of series"):
        degradation(94, "2012-02-01")


def test_from_a_series_store(series, tmp_path):
    path = tmp_path / "s.zarr"
    series.to_zarr(path, zarr_format=2, consolidated=True)
    assert float(degradation(171, "2012-01-31", series=str(path))) == pytest.approx(0.85)


def test_from_a_store_written_by_the_pipeline(series, tmp_path):
    """The store ``lascoproc aia degradation`` writes (``write_series``): its time bins are
    written (they were left unwritten, read back as 1970-01-01, before 2026-12-02), so
    ``degradation`` reads it as it reads the series."""
    from lascoproc.pipeline.aia import write_series

    series = series.assign(n_frames=(("time", "channel"), np.full((3, 2), 4)))
    store, _, _ = write_series(series, str(tmp_path / "s.zarr"))
    back = xr.open_zarr(store)
    np.testing.assert_array_equal(back["time_bin_start"].values,
                                  np.array(["2011-12-02", "2012-01-31", "2012-04-01"],
                                           dtype="datetime64[ns]"))
    assert float(degradation(171, "2012-01-31", series=store)) == pytest.approx(0.85)
    assert float(degradation(304, "2012-03-01", series=store)) == pytest.approx(0.7)


def test_a_store_template_with_lazy_coordinates_is_refused(series, tmp_path):
    """A template's coordinates are written with it, never by the regions: dask-backed ones
    would be left unwritten, so they are refused with a clear error."""
    from lascoproc.io.zarr_store import write_template

    with pytest.raises(ValueError, match="time_bin_end, time_bin_start must be in memory"):
        write_template(series.chunk({"time": 3}), str(tmp_path / "t.zarr"), region_frames=3)


def test_from_the_v10_table_as_aiapy():
    # the V10 table's 94 A factor on 2015-01-01: 0.26922 / 0.29808 (test_aia_reference)
    factor = degradation(94 * u.AA, "2015-01-01T00:00", table="V10")
    assert float(factor) == pytest.approx(0.26922 / 0.29808, abs=1e-12)
    with pytest.raises(ValueError, match="no calibration epoch"):
        degradation(94, "2035-01-01", table="V10")


def test_correct_degradation_divides(series):
    data = np.full((2, 2), 8.5)
    np.testing.assert_allclose(correct_degradation(data, 171, "2012-01-31", series=series),
                               10.0)
    q = correct_degradation(data * u.ct / u.s, 171, "2012-01-31", series=series)
    assert q.unit == u.ct / u.s and np.allclose(q.value, 10.0)
    arr = xr.DataArray(data, dims=("y", "x"), attrs={"units": "DN/s"})
    out = correct_degradation(arr, 171, "2012-01-31", series=series)
    assert out.attrs["degradation_factor"] == pytest.approx(0.85)
    assert "abc" in out.attrs["degradation_source"] and out.attrs["units"] == "DN/s"


def test_correct_degradation_of_a_sunpy_map(series):
    sunpy_map = pytest.importorskip("sunpy.map")
    header = {"naxis": 2, "naxis1": 2, "naxis2": 2, "cdelt1": 2.4, "cdelt2": 2.4, "cunit1":
              "arcsec", "cunit2": "arcsec", "ctype1": "HPLN-TAN", "ctype2": "HPLT-TAN",
              "crpix1": 1, "crpix2": 1, "crval1": 0, "crval2": 0,
              "date-obs": "2012-01-31T00:00:00", "telescop": "SDO/AIA", "instrume": "AIA_3",
              "wavelnth": 171, "waveunit": "angstrom", "rsun_ref": 696000000,
              "dsun_obs": 1.47e11, "hgln_obs": 0, "hglt_obs": 0}
    smap = sunpy_map.Map(np.full((2, 2), 8.5), header)
    out = correct_degradation(smap, 171, smap.date, series=series)
    np.testing.assert_allclose(out.data, 10.0)
    assert out.meta["degcor_l"] == pytest.approx(0.85)
